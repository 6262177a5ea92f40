package daemon

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/pm"
	"github.com/mptcpkit/mptcpkit/pm/pmtest"
	"github.com/mptcpkit/mptcpkit/sockdiag"
)

// changes returns the flags of p's ChangeEndpoint calls, oldest first.
func changes(p *pmtest.PM) []pm.Flags {
	var out []pm.Flags
	for _, c := range p.Calls() {
		if c.Op == pmtest.OpChangeEndpoint {
			out = append(out, c.Flags)
		}
	}
	return out
}

// TestKernelBackupResend: in in-kernel mode, the MP_PRIO of a demotion is
// sent once and may be lost; a second after the demotion, data still
// arriving on the (locally backup) subflow of the demoted path makes the
// daemon have the kernel send it again (backup flag off and on), from
// 0.5 s after the demotion at most once a second; data now and then (the
// peer's retransmissions of what it sent before) does not; a path whose backup subflow receives nothing is left alone.
func TestKernelBackupResend(t *testing.T) {
	pol := mustParse(t, `version = 1
[quality]
backup_when = "loss > 2% for 1s"
restore_after = "60s"
interval = "250ms"
`)
	for _, peerStillSends := range []bool{false, true} {
		q := newQuality()
		a := netip.MustParseAddr("10.0.1.1")
		fake := pmtest.New(nil)
		fake.Set(pm.Endpoint{ID: 1, Addr: a, Flags: pm.FlagSubflow})
		d := &daemon{log: slog.New(slog.DiscardHandler), metrics: NewMetrics(), quality: q, pm: fake,
			owned: map[netip.Addr]*OwnedEndpoint{a: {ID: 1, Addr: a, flags: pm.FlagSubflow}}}
		pa := &synthPath{addr: "10.0.1.1", rtt: 5 * time.Millisecond, cookie: 1}
		pb := &synthPath{addr: "10.0.2.1", rtt: 5 * time.Millisecond, cookie: 2}
		now := time.Unix(1000, 0)
		var received uint64
		backup := false
		resends := 0
		for i := range 40 {
			now = now.Add(250 * time.Millisecond)
			pa.segs += 100
			pb.segs += 100
			pb.acked += 1e5
			if !backup {
				pa.retrans += 10
				pa.acked += 1e5
			}
			if !backup || peerStillSends || i%4 == 0 {
				received += 1e4 // i%4: the peer's retransmissions, now and then
			}
			conns := synth([]*synthPath{pa, pb})
			conns[0].Subflows[0].TCP.BytesReceived = received
			if backup {
				conns[0].Subflows[0].MPTCP = &sockdiag.SubflowInfo{Token: 7, Flags: sockdiag.FlagBackupLocal}
			}
			changed, _ := q.measure(conns, now, pol, nil, nil)
			before := len(changes(fake))
			d.enforceKernelBackup(conns, now)
			if calls := changes(fake); len(calls) > before {
				resends++
				if len(calls)-before != 2 || calls[before] != pm.FlagSubflow&changeable || calls[before+1] != pm.FlagBackup {
					t.Fatalf("step %d: re-send as %v; want backup off then on", i, calls[before:])
				}
			}
			if changed { // what reconcile does
				d.owned[a].flags = pm.FlagSubflow | pm.FlagBackup
				backup = true
			}
		}
		if !backup {
			t.Fatal("path not demoted")
		}
		// ~8 s as backup: re-sends every second from 0.5 s after the demotion.
		if peerStillSends && (resends < 5 || resends > 9) || !peerStillSends && resends != 0 {
			t.Errorf("peer still sending on the backup subflow %v: re-sent MP_PRIO %d times", peerStillSends, resends)
		}
	}
}
