package daemon

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/policy"
	"github.com/mptcpkit/mptcpkit/sockdiag"
)

// synth builds one connection with a subflow per path; counters are
// cumulative as tcp_info's are.
type synthPath struct {
	addr          string
	segs, retrans uint32
	rtt           time.Duration
	acked         uint64
	cookie        uint64
}

func synth(paths []*synthPath) []sockdiag.Connection {
	c := sockdiag.Connection{MPTCPSocket: sockdiag.MPTCPSocket{Info: &mptcp.ConnInfo{Token: 7}}}
	for _, p := range paths {
		c.Subflows = append(c.Subflows, sockdiag.TCPSocket{
			Socket: sockdiag.Socket{Local: netip.MustParseAddrPort(p.addr + ":1000"), Remote: netip.MustParseAddrPort("192.0.2.9:80"), State: 1, Cookie: p.cookie},
			TCP:    &mptcp.TCPInfo{SegsOut: p.segs, TotalRetrans: p.retrans, RTT: p.rtt, BytesAcked: p.acked},
			MPTCP:  &sockdiag.SubflowInfo{Token: 7},
		})
	}
	return []sockdiag.Connection{c}
}

// TestQualityDecisions: a path over the loss threshold for the whole window
// is demoted, not before; a demoted path is tried again after
// restore_after, and demoted again soon after the trial doubles its
// back-off; when every path is bad the best by `prefer` stays active.
func TestQualityDecisions(t *testing.T) {
	pol := mustParse(t, `version = 1
[quality]
backup_when = "loss > 2% for 2s"
restore_after = "3s"
max_restore_after = "10s"
prefer = "rtt"
interval = "500ms"
`)
	q := newQuality()
	a := &synthPath{addr: "10.0.1.1", rtt: 5 * time.Millisecond, cookie: 1}
	b := &synthPath{addr: "10.0.2.1", rtt: 9 * time.Millisecond, cookie: 2}
	t0 := time.Unix(1000, 0)
	now := t0
	step := func(lossA, lossB uint32) (bool, []string) {
		now = now.Add(500 * time.Millisecond)
		a.segs += 100
		a.retrans += lossA
		b.segs += 100
		b.retrans += lossB
		a.acked += 1e5
		b.acked += 1e5
		return q.measure(synth([]*synthPath{a, b}), now, pol, nil, nil)
	}
	step(0, 0)
	for range 6 {
		step(0, 0)
	}
	// 5% loss on a: demoted once the loss over the last 2 s (4 intervals)
	// is above 2%: after 2 lossy intervals (10 of 400 segments, 2.5%).
	var when int
	for i := 1; i <= 6; i++ {
		ch, ev := step(5, 0)
		if ch {
			when = i
			if !strings.Contains(ev[0], "10.0.1.1: made backup (loss 2.5% > 2.0% over 2s)") {
				t.Errorf("event %q", ev)
			}
			break
		}
	}
	if when != 2 {
		t.Errorf("demoted after %d lossy intervals, want 2", when)
	}
	if _, ok := q.demoted()[netip.MustParseAddr("10.0.1.1")]; !ok {
		t.Fatal("a not demoted")
	}
	// The path metrics parse as the text format, backup flagged.
	var buf bytes.Buffer
	tw := newTextWriter(&buf)
	(&daemon{quality: q}).writePaths(tw)
	tw.flush()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("path metrics: %v\n%s", err, buf.String())
	}
	if m := mfs["mptcpkit_path_backup"].GetMetric(); len(m) != 2 || m[0].GetGauge().GetValue() != 1 || m[1].GetGauge().GetValue() != 0 {
		t.Errorf("mptcpkit_path_backup: %v", m)
	}
	if m := mfs["mptcpkit_path_loss_ratio"].GetMetric(); len(m) != 2 || m[0].GetGauge().GetValue() != 0.05 {
		t.Errorf("mptcpkit_path_loss_ratio: %v", m)
	}
	snap := q.snapshot()
	if len(snap.Paths) != 2 || !snap.Paths[0].Backup || snap.Paths[0].Loss != 5 || snap.Paths[1].TxBps != 1.6e6 {
		t.Errorf("snapshot %+v", snap.Paths)
	}
	// Trial after 3 s (6 intervals); still lossy: demoted again with 6 s.
	var trial, again int
	for i := 1; i <= 14 && again == 0; i++ {
		_, ev := step(5, 0)
		for _, e := range ev {
			switch {
			case strings.Contains(e, "trying it"):
				trial = i
			case strings.Contains(e, "made backup") && strings.Contains(e, "tried again in 6s"):
				again = i
			}
		}
	}
	if trial != 6 || again != 10 {
		t.Errorf("trial after %d intervals (want 6), demoted again after %d (want 10, with the back-off doubled to 6s)", trial, again)
	}
	// Both paths bad from the start: b (the worse by rtt) is demoted, a
	// (the better) stays active: never no active path.
	// Over trials of b, a is never demoted.
	q = newQuality()
	var aOut, bOut int
	for range 30 {
		_, ev := step(5, 5)
		for _, e := range ev {
			if strings.Contains(e, "made backup") {
				if strings.HasPrefix(e, "10.0.1.1") {
					aOut++
				} else {
					bOut++
				}
			}
		}
	}
	if aOut != 0 || bOut < 2 {
		t.Errorf("both lossy, prefer rtt: 10.0.1.1 (rtt 5ms) demoted %d times, 10.0.2.1 (9ms) %d times; want 0 and at least 2", aOut, bOut)
	}
}

func mustParse(t *testing.T, s string) policy.Quality {
	t.Helper()
	p, err := policy.Parse("q.toml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return p.Quality
}

// TestQualityTrialIgnoresStaleRTT: a path demoted for its RTT and healed
// while backup is tried again; its subflow, idle at first, still reports
// the smoothed RTT of the impaired period (tcp_info's RTT only moves when
// data is acknowledged). That stale figure must not demote the path again:
// the trial judges only what was measured since it began. A path that
// really is slow when it carries data is demoted again.
func TestQualityTrialIgnoresStaleRTT(t *testing.T) {
	pol := mustParse(t, `version = 1
[quality]
backup_when = "rtt > 100ms for 2s"
restore_after = "2s"
interval = "500ms"
`)
	for _, slow := range []bool{false, true} {
		q := newQuality()
		a := &synthPath{addr: "10.0.1.1", rtt: 2 * time.Millisecond, cookie: 1}
		b := &synthPath{addr: "10.0.2.1", rtt: 2 * time.Millisecond, cookie: 2}
		now := time.Unix(1000, 0)
		// busyA: a's data is acknowledged in the interval (its RTT moves).
		step := func(busyA bool) []string {
			now = now.Add(500 * time.Millisecond)
			a.segs += 100
			b.segs += 100
			b.acked += 1e5
			if busyA {
				a.acked += 1e5
			}
			_, ev := q.measure(synth([]*synthPath{a, b}), now, pol, nil, nil)
			return ev
		}
		for range 4 {
			step(true)
		}
		a.rtt = 300 * time.Millisecond // impaired
		demoted := false
		for i := 0; i < 8 && !demoted; i++ {
			for _, e := range step(true) {
				demoted = demoted || strings.Contains(e, "10.0.1.1: made backup")
			}
		}
		if !demoted {
			t.Fatalf("a with rtt 300ms not demoted")
		}
		// Healed, but a is backup, so idle: its RTT stays at 300ms.
		var tried bool
		for i := 0; i < 8 && !tried; i++ {
			for _, e := range step(false) {
				tried = tried || strings.Contains(e, "10.0.1.1: trying it")
			}
		}
		if !tried {
			t.Fatal("a not tried again")
		}
		// On trial: idle for a while still showing the stale 300ms, then
		// carrying data (at 2ms when healed, 300ms when not).
		again := false
		for i := range 10 {
			busy := i >= 3
			if busy && !slow {
				a.rtt = 2 * time.Millisecond
			}
			for _, e := range step(busy) {
				again = again || strings.Contains(e, "10.0.1.1: made backup")
			}
		}
		if again != slow {
			t.Errorf("path still slow %v: demoted again during its trial %v (a stale RTT from before the trial must not count)", slow, again)
		}
	}
}
