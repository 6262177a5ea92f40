package lab

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/mptcp"
)

// oldUnit finds keys in another unit than the one vocabulary: ns, ms, Mbit/s.
var oldUnit = regexp.MustCompile(`"[a-z_]*(_ns|_ms|mbit_per_s)"`)

// TestReportJSONVocabulary: lab's reports and state say durations in µs
// (_us) and rates in bits per second (_bps), never ns or Mbit/s.
func TestReportJSONVocabulary(t *testing.T) {
	path := Path{Index: 1, Rate: 100e6, Delay: 20 * time.Millisecond}
	m := &Measurement{Mode: "mptcp", Mbps: 187.5}
	for _, tc := range []struct {
		v    any
		want []string
	}{
		{path, []string{`"delay_us":20000`, `"rate_bps":100000000`}},
		{Aggregation{Paths: 2, Delay: []time.Duration{time.Millisecond, 30 * time.Millisecond}, TCP: m, MPTCP: m}, []string{`"delay_us":[1000,30000]`, `"goodput_bps":187500000`}},
		{TransferReport{Mbps: 42.25, LongestStall: 1500 * time.Millisecond, Events: []LinkEvent{{At: 2 * time.Second, Path: 1}},
			Subflows: []mptcp.Subflow{{ID: 1, Local: netip.MustParseAddrPort("10.1.1.1:40000"), Remote: netip.MustParseAddrPort("10.1.1.2:5399"),
				RTT: 21 * time.Millisecond, RTTVar: 2 * time.Millisecond, DeliveryRate: 1e6, Cwnd: 10, MSS: 1448, BytesAcked: 5}},
			Paths: []PathTransfer{{Path: 1, ReturnedAfter: 250 * time.Millisecond}, {Path: 2, ReturnedAfter: -1}, {Path: 3}}},
			[]string{`"goodput_bps":42250000`, `"longest_stall_us":1500000`, `"at_us":2000000`, `"returned_after_us":250000`, `"returned_after_us":-1`, `"rtt_us":21000`, `"rttvar_us":2000`, `"delivery_rate_bps":8000000`}},
		{DemoReport{Capacity: 200, TCP: m, MPTCP: m, Lab: &Testbed{Paths: []Path{path}}}, []string{`"capacity_bps":200000000`, `"goodput_bps":187500000`, `"delay_us":20000`}},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if k := regexp.MustCompile(`"[A-Z][A-Za-z]*":`).FindAllString(s, -1); k != nil {
			t.Errorf("%T: Go field names as keys (no unit, no vocabulary) %v: %s", tc.v, k, s)
		}
		if k := oldUnit.FindAllString(s, -1); k != nil {
			t.Errorf("%T: keys in another unit %v: %s", tc.v, k, s)
		}
		// Read back (Go consumers of the reports): the same figures.
		back := reflect.New(reflect.TypeOf(tc.v))
		if err := json.Unmarshal(b, back.Interface()); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.Elem().Interface(), tc.v) {
			t.Errorf("%T: read back as %+v, want %+v", tc.v, back.Elem().Interface(), tc.v)
		}
		for _, w := range tc.want {
			if !strings.Contains(s, w) {
				t.Errorf("%T: no %s in %s", tc.v, w, s)
			}
		}
	}
	if b, _ := json.Marshal(PathTransfer{Path: 3}); strings.Contains(string(b), "returned_after") {
		t.Errorf("a path not set up again has returned_after: %s", b)
	}
}

// TestStateReadsOldDelayNS: a state file written by an older version
// (delay_ns) still loads with the right delay, and round-trips as delay_us.
func TestStateReadsOldDelayNS(t *testing.T) {
	old := `{"name":"x","number":3,"creator_uid":0,"client_netns":"mk-x-client","server_netns":"mk-x-server","queue_packets":100,"cc_in_effect":"cubic",
	"paths":[{"index":1,"client_if":"mkxc1","server_if":"mkxs1","client_addr":"10.3.1.1","server_addr":"10.3.1.2","rate_bps":100000000,"loss_percent":0,"delay_ns":20000000}]}`
	var s Testbed
	if err := json.Unmarshal([]byte(old), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Paths) != 1 || s.Paths[0].Delay != 20*time.Millisecond || s.Paths[0].Rate != 100e6 || s.Paths[0].ClientIf != "mkxc1" {
		t.Fatalf("old state read as %+v", s.Paths)
	}
	b, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	var back Testbed
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"delay_us":20000`) || back.Paths[0].Delay != 20*time.Millisecond || back.Paths[0].ServerIf != "mkxs1" {
		t.Errorf("round trip: %s -> %+v", b, back.Paths)
	}
}
