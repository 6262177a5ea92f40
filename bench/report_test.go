package bench

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", p, diff)
	}
}

func sampleResult(mode Mode, bps float64) *Result {
	r := &Result{
		Server: "10.1.1.2:5301", Mode: mode, Seconds: 4.1, Bytes: 92177736, SenderBytes: 92177736,
		BitsPerSecond: bps, Retransmits: 3, Subflows: 2,
		CongestionControl: "bbr", ClientCongestionControl: "bbr", ServerCongestionControl: "bbr",
		Streams: []Stream{{
			ID: 0, Local: "10.1.1.1:48972", Remote: "10.1.1.2:5301", State: "mptcp", ServerState: "mptcp",
			Bytes: 92177736, SenderBytes: 92177736, Retransmits: 3,
			Subflows: Subflows{
				{ID: 1, Local: netip.MustParseAddrPort("10.1.1.1:48972"), Remote: netip.MustParseAddrPort("10.1.1.2:5301"), BytesAcked: 46366000, TotalRetrans: 1, RTT: 4830 * time.Microsecond},
				{ID: 2, Local: netip.MustParseAddrPort("10.1.2.1:56723"), Remote: netip.MustParseAddrPort("10.1.1.2:5301"), BytesAcked: 45811770, TotalRetrans: 2, RTT: 11730 * time.Microsecond, Backup: true},
			},
		}},
	}
	if mode == ModeTCP {
		r.Subflows = 1
		r.Streams[0].State, r.Streams[0].ServerState = "tcp", "tcp"
		r.Streams[0].Subflows = r.Streams[0].Subflows[:1]
	}
	return r
}

func TestWriteText(t *testing.T) {
	var b strings.Builder
	for _, iv := range []Interval{
		{Start: 0, End: 1, Bytes: 24536678, BitsPerSecond: 196293424, Retransmits: 0, Subflows: 2},
		{Start: 1, End: 2.5, Bytes: 1 << 30, BitsPerSecond: 5.7e9, Retransmits: -1, Subflows: 1, Transactions: 1500},
	} {
		b.WriteString(FormatInterval(IntervalID(1), iv) + "\n")
		b.WriteString(FormatInterval(IntervalID(4), iv) + "\n")
	}
	sampleResult(ModeMPTCP, 179858020).WriteText(&b)
	rr := sampleResult(ModeMPTCP, 179858020)
	rr.Latency = &Latency{Size: 64, Transactions: 107658, Rate: 35884, P50: 97300, P90: 151600, P99: 712700, Max: 11950000}
	rr.Streams[0].State, rr.Streams[0].Reason, rr.Fallback = "fallback", "fallback: the peer did not negotiate MPTCP", true
	rr.WriteText(&b)
	cmp := &Comparison{TCP: sampleResult(ModeTCP, 94e6), MPTCP: sampleResult(ModeMPTCP, 182e6)}
	cmp.Ratio = Ratio(cmp.TCP, cmp.MPTCP)
	cmp.WriteText(&b)
	golden(t, "report.golden", b.String())
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{FormatBytes(0), "0 B"},
		{FormatBytes(1023), "1023 B"},
		{FormatBytes(1024), "1.00 KiB"},
		{FormatBytes(11744051), "11.2 MiB"},
		{FormatBytes(3 << 40), "3.00 TiB"},
		{FormatBits(0), "0.00 bits/sec"},
		{FormatBits(94.1e6), "94.1 Mbits/sec"},
		{FormatBits(188e6), "188 Mbits/sec"},
		{FormatBits(5.2e9), "5.20 Gbits/sec"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if r := Ratio(sampleResult(ModeTCP, 0), sampleResult(ModeMPTCP, 1)); r != 0 {
		t.Errorf("Ratio with a zero TCP rate = %v, want 0", r)
	}
}
