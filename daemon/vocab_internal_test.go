package daemon

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestJSONVocabulary: the state file (`daemon status -j`) and the status
// page's data say durations in µs (_us keys) and tokens as 8 hex digits,
// like every other mptcpkit -j output, and read back to the same values.
func TestJSONVocabulary(t *testing.T) {
	p := PathQuality{Addr: netip.MustParseAddr("10.0.0.1"), Subflows: 1, RTT: 1500 * time.Microsecond, Rate: 1e6}
	d := LinkDamping{Link: "eth0", Flaps: 2, HoldDown: 2 * time.Second}
	q := Quality{Interval: 500 * time.Millisecond, Paths: []PathQuality{p},
		Subflows: []SubflowQuality{{Token: 0xabcd, Local: "10.0.0.1:1", Remote: "10.0.0.2:2", RTT: 3 * time.Millisecond}}}
	st := StateFile{Version: 1, Paths: []PathQuality{p}, Damping: []LinkDamping{d}}
	for _, tc := range []struct {
		v    any
		want []string
	}{
		{q, []string{`"interval_us":500000`, `"rtt_us":1500`, `"token":"0000abcd"`, `"rtt_us":3000`}},
		{st, []string{`"rtt_us":1500`, `"hold_down_us":2000000`}},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if bad := regexp.MustCompile(`"[a-z_]*(_ns|hold_down)"`).FindAllString(s, -1); bad != nil {
			t.Errorf("%T: durations without µs: %v in %s", tc.v, bad, s)
		}
		for _, w := range tc.want {
			if !strings.Contains(s, w) {
				t.Errorf("%T: no %s in %s", tc.v, w, s)
			}
		}
		back := reflect.New(reflect.TypeOf(tc.v))
		if err := json.Unmarshal(b, back.Interface()); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.Elem().Interface(), tc.v) {
			t.Errorf("%T read back as %+v, want %+v", tc.v, back.Elem().Interface(), tc.v)
		}
	}
}

// TestReadStateOldUnits: a state file written by an older daemon (rtt_ns,
// hold_down in ns) still reads with the right durations.
func TestReadStateOldUnits(t *testing.T) {
	f := filepath.Join(t.TempDir(), "old.json")
	old := `{"version":1,"pid":1,"netns":"net:[1]","mode":"kernel","policy":"(default)","updated":"2026-12-04T10:00:00Z","endpoints":[],"decisions":[],
	"damping":[{"link":"eth0","flaps":2,"hold_down":2000000000}],"paths":[{"address":"10.0.0.1","subflows":1,"rtt_ns":1500000,"loss_percent":0,"rate_bps":0,"tx_bps":0,"rx_bps":0,"backup":false}]}`
	if err := os.WriteFile(f, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ReadState(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Paths) != 1 || s.Paths[0].RTT != 1500*time.Microsecond || len(s.Damping) != 1 || s.Damping[0].HoldDown != 2*time.Second {
		t.Errorf("old state read as paths %+v damping %+v", s.Paths, s.Damping)
	}
}
