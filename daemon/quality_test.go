package daemon_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/bench"
	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/lab"
	"github.com/mptcpkit/mptcpkit/sockdiag"
)

// rrLoop is a request/response client like `bench --rr`: one request of
// size bytes in flight, echoed back by the server; it records when each
// transaction ended and how long it took.
type rrLoop struct {
	mu   sync.Mutex
	ends []time.Time
	lat  []time.Duration
	err  error
}

func (r *rrLoop) run(ctx context.Context, c net.Conn, size int) {
	buf := make([]byte, size)
	for ctx.Err() == nil {
		t0 := time.Now()
		if _, err := c.Write(buf); err != nil {
			r.fail(ctx, err)
			return
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			r.fail(ctx, err)
			return
		}
		r.mu.Lock()
		r.ends = append(r.ends, time.Now())
		r.lat = append(r.lat, time.Since(t0))
		r.mu.Unlock()
	}
}

func (r *rrLoop) fail(ctx context.Context, err error) {
	if ctx.Err() == nil {
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
	}
}

// p99 of the transactions that ended in [from, to), and how many.
func (r *rrLoop) p99(from, to time.Time) (time.Duration, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var l []time.Duration
	for i, e := range r.ends {
		if !e.Before(from) && e.Before(to) {
			l = append(l, r.lat[i])
		}
	}
	if len(l) == 0 {
		return 0, 0
	}
	slices.Sort(l)
	return l[min(len(l)-1, len(l)*99/100)], len(l)
}

const qualityPolicy = `version = 1
owner = "all"
[quality]
backup_when = "loss > 2% for 2s or rtt > 100ms for 2s"
restore_after = "4s"
interval = "250ms"
[[rule]]
interface = "mk*"
flags = ["subflow"]
`

// TestPathSelection: on a 2-path lab (1 ms each way on both paths, TUN
// delay line) with one long MPTCP request/response connection, path 1 (the
// initial subflow's) gets 10% loss and 200 ms more RTT (100 ms each way),
// or 10% loss alone, mid-transfer. With the daemon's [quality] policy,
// path 1 is made backup within 3 s and the request latency's p99 is back
// at the clean value; when path 1 heals it is promoted again (and stays).
// The kernel alone is measured the same way: with loss alone it keeps
// using path 1 and p99 stays high (the "loss/kernel" subtest shows the
// test can fail); with the added delay its scheduler moves the requests
// off path 1 by itself.
func TestPathSelection(t *testing.T) {
	for i, sc := range []struct {
		name  string
		delay time.Duration // one way, added to path 1's 1 ms
	}{{"loss+delay", 100 * time.Millisecond}, {"loss", 0}} {
		for j, mode := range []string{"kernel", "daemon"} {
			t.Run(sc.name+"/"+mode, func(t *testing.T) {
				pathSelection(t, fmt.Sprintf("t%d%d%d", i, j, os.Getpid()%100000), mode == "daemon", sc.delay)
			})
		}
	}
}

func pathSelection(t *testing.T, name string, withDaemon bool, extraDelay time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &nstest.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, client, server := labUp(t, ctx, lab.Config{Name: name, Paths: 2, Rate: []uint64{100e6},
		Delay: []time.Duration{time.Millisecond}, Logger: log}, logs)
	p1 := st.Paths[0].ClientAddr
	bs, err := lab.StartBench(ctx, st, log)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()

	var qmu sync.Mutex
	var lastQ daemon.Quality
	if withDaemon {
		pol := mustPolicy(t, qualityPolicy)
		done := make(chan error, 1)
		dctx, dcancel := context.WithCancel(ctx)
		go func() {
			done <- daemon.Run(dctx, daemon.Config{NetNS: client.FD(), Policy: pol, Logger: log,
				StatePath: t.TempDir() + "/s.json", Conflicts: func() ([]daemon.Conflict, error) { return nil, nil },
				OnQuality: func(q daemon.Quality) { qmu.Lock(); lastQ = q; qmu.Unlock() }})
		}()
		defer func() {
			dcancel()
			if err := <-done; err != nil {
				t.Errorf("daemon: %v", err)
			}
		}()
	}

	// Echo server on the server's path-1 address; one MPTCP client.
	var ln net.Listener
	err = server.Do(func() (err error) {
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(true)
		ln, err = lc.Listen(ctx, "tcp", net.JoinHostPort(st.Paths[0].ServerAddr.String(), "0"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nstest.Echo(ln)
	var conn net.Conn
	err = client.Do(func() (err error) {
		d := net.Dialer{}
		d.SetMultipathTCP(true)
		conn, err = d.DialContext(ctx, "tcp", ln.Addr().String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rr := &rrLoop{}
	rctx, rcancel := context.WithCancel(ctx)
	rrDone := make(chan struct{})
	go func() { defer close(rrDone); rr.run(rctx, conn, 1000) }()
	defer func() { rcancel(); conn.Close(); <-rrDone }()

	sd, err := sockdiag.Dial(&sockdiag.Config{NetNS: client.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	// backup reports whether path 1's subflow is backup (MP_PRIO sent),
	// and how many subflows the connection has.
	// subflows reports whether path 1 has a backup subflow and on how
	// many paths (distinct local addresses) subflows are established.
	// Debian's 6.1 (kernel matrix) opens a second subflow from the initial
	// subflow's address when that address becomes a subflow endpoint, and
	// the in-kernel path manager sends MP_PRIO on one subflow per address:
	// p1Partial says some path 1 subflow stayed active, which the daemon
	// must then have warned about.
	var p1Partial bool
	subflows := func() (p1Backup bool, n int) {
		conns, err := sd.Connections()
		if err != nil {
			t.Fatal(err)
		}
		paths := map[netip.Addr]bool{}
		p1Partial = false
		for _, c := range conns {
			for _, sf := range c.Subflows {
				if sf.State != 1 {
					continue
				}
				paths[sf.Local.Addr()] = true
				if sf.Local.Addr() == p1 && sf.MPTCP != nil {
					if sf.MPTCP.Flags&sockdiag.FlagBackupLocal != 0 {
						p1Backup = true
					} else {
						p1Partial = true
					}
				}
			}
		}
		p1Partial = p1Partial && p1Backup
		return p1Backup, len(paths)
	}
	waitFor := func(what string, timeout time.Duration, cond func() bool) time.Duration {
		t.Helper()
		t0 := time.Now()
		for !cond() {
			if time.Since(t0) > timeout {
				qmu.Lock()
				q := lastQ
				qmu.Unlock() // the daemon's OnQuality must not block while the test stops it
				t.Fatalf("%s: not within %v (quality: %+v)", what, timeout, q)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(t0)
	}
	waitFor("two subflows", 5*time.Second, func() bool { _, n := subflows(); return n == 2 })

	time.Sleep(3 * time.Second)
	now := time.Now()
	clean, nClean := rr.p99(now.Add(-2*time.Second), now)

	tImpair := time.Now()
	if err := lab.Impair(st, 1, 10, time.Millisecond+extraDelay); err != nil {
		t.Fatal(err)
	}
	var demoted time.Duration
	partial := false
	if withDaemon {
		demoted = waitFor("path 1 made backup", 6*time.Second, func() bool { b, _ := subflows(); return b })
		if partial = p1Partial; partial {
			const warn = "the kernel made only some subflows of this path backup"
			waitFor("the daemon's warning that path 1 is only partly backup", 2*time.Second, func() bool { return strings.Contains(logs.String(), warn) })
			t.Logf("path 1 has a second subflow that stayed active (Debian's 6.1 opens it); the daemon warned: %s", warn)
		}
	} else {
		demoted = 2 * time.Second
		time.Sleep(demoted)
	}
	tDemote := tImpair.Add(demoted)
	// Meanwhile, `bench --rr` on a new connection (its initial subflow
	// also starts on path 1).
	benchRes := make(chan *bench.Result, 1)
	go func() {
		time.Sleep(time.Until(tDemote.Add(time.Second)))
		r, err := bench.Run(ctx, bench.Config{Addr: net.JoinHostPort(st.Paths[0].ServerAddr.String(), strconv.Itoa(lab.BenchPort)),
			Duration: 2 * time.Second, RRSize: 1000, Interval: -1, Dialer: bench.NetNSDialer(client)}, nil)
		if err != nil {
			t.Errorf("bench --rr: %v", err)
		}
		benchRes <- r
	}()
	// While path 1 is impaired and backup, every subflow on it must turn
	// backup, also those of connections opened after the switch (the
	// bench's initial subflow): longest a path-1 subflow stayed active
	// after it was first seen established.
	var worst time.Duration
	var worstWhat string
	var laterBackup int // path-1 subflows of later connections seen backup
	// The server must learn it too (MP_PRIO received: it stops sending on
	// path 1): longest its path-1 subflows stayed active after the switch.
	var worstPeer time.Duration
	{
		ssd, err := sockdiag.Dial(&sockdiag.Config{NetNS: server.FD()})
		if err != nil {
			t.Fatal(err)
		}
		defer ssd.Close()
		firstSeen := map[string]time.Time{}
		done := map[string]bool{}
		peerDone := map[string]bool{}
		for time.Now().Before(tDemote.Add(3500 * time.Millisecond)) {
			conns, err := sd.Connections()
			if err != nil {
				t.Fatal(err)
			}
			sconns, err := ssd.Connections()
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			for _, c := range sconns {
				for _, sf := range c.Subflows {
					if sf.State != 1 || sf.MPTCP == nil || sf.Remote.Addr() != p1 {
						continue
					}
					k := fmt.Sprintf("%d %s %s", c.Token(), sf.Local, sf.Remote)
					if _, ok := firstSeen[k]; !ok {
						firstSeen[k] = now
					}
					if sf.MPTCP.Flags&sockdiag.FlagBackupRemote != 0 {
						peerDone[k] = true
					} else if d := now.Sub(later(firstSeen[k], tDemote)); !peerDone[k] && d > worstPeer {
						worstPeer = d
					}
				}
			}
			for _, c := range conns {
				for _, sf := range c.Subflows {
					if sf.State != 1 || sf.MPTCP == nil || sf.Local.Addr() != p1 {
						continue
					}
					k := fmt.Sprintf("%d %s %s", c.Token(), sf.Local, sf.Remote)
					if _, ok := firstSeen[k]; !ok {
						firstSeen[k] = now
					}
					if sf.MPTCP.Flags&sockdiag.FlagBackupLocal != 0 {
						if !done[k] && sf.Local.Port() != conn.LocalAddr().(*net.TCPAddr).AddrPort().Port() {
							laterBackup++
						}
						done[k] = true
					} else if d := now.Sub(firstSeen[k]); !done[k] && d > worst {
						worst, worstWhat = d, k
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// From 1 s after the switch: a request in flight on path 1 when it
	// became backup waits for path 1's own retransmission (the kernel does
	// not move it to path 2), up to a few hundred ms with 10% loss.
	after, nAfter := rr.p99(tDemote.Add(time.Second), tDemote.Add(3500*time.Millisecond))

	// Heal path 1; the daemon tries it again 4 s after demoting it.
	tHeal := time.Now()
	if err := lab.Impair(st, 1, 0, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var promoted time.Duration
	if withDaemon {
		promoted = waitFor("path 1 promoted again", 6*time.Second, func() bool { b, _ := subflows(); return !b })
		// It stays active: the trial finds it healthy.
		time.Sleep(3 * time.Second)
		if b, _ := subflows(); b {
			qmu.Lock()
			t.Errorf("healed path 1 demoted again after its trial (quality %+v)", lastQ)
			qmu.Unlock()
		}
	} else {
		time.Sleep(3 * time.Second)
	}
	healed, nHealed := rr.p99(time.Now().Add(-2*time.Second), time.Now())
	benchP99 := time.Duration(-1) // its setup and report may cross the impaired path: collected last
	if r := <-benchRes; r != nil && r.Latency != nil {
		benchP99 = r.Latency.P99
	}
	rr.mu.Lock()
	if rr.err != nil {
		t.Errorf("request/response loop: %v", rr.err)
	}
	rr.mu.Unlock()

	mode := "kernel alone"
	if withDaemon {
		mode = "daemon"
	}
	t.Logf("10%% loss, +%v RTT: %s: p99 clean %v (%d requests); path 1 impaired: backup after %v, p99 from 1 s to 3.5 s after that %v (%d), bench --rr on a new connection then: p99 %v; path-1 subflows of later connections made backup %d, longest active after the switch %v (at the server %v); healed: promoted %v after healing, p99 %v (%d)",
		2*extraDelay, mode, clean, nClean, demoted.Round(time.Millisecond), after, nAfter, benchP99, laterBackup, worst.Round(time.Millisecond), worstPeer.Round(time.Millisecond), promoted.Round(time.Millisecond), healed, nHealed)
	if n := strings.Count(logs.String(), "re-sent the backup flag"); n > 0 {
		t.Logf("the daemon re-sent path 1's backup flag %d times (MP_PRIO lost or a subflow left active)", n)
	}
	bound := 2*clean + 5*time.Millisecond
	if withDaemon {
		if demoted > 3*time.Second {
			t.Errorf("path 1 made backup %v after the impairment; want within 3 s", demoted)
		}
		switch {
		case partial:
			t.Logf("p99 and per-subflow goals not checked: a second subflow of path 1 stayed active (see the daemon's warning), so requests still meet the loss")
		case timingGoals(t):
			if after > bound {
				t.Errorf("p99 after the switch %v; want back at the clean value (%v, bound %v)", after, clean, bound)
			}
			if worst > 1500*time.Millisecond {
				t.Errorf("a subflow on path 1 (token, local, remote: %s) stayed active %v while path 1 was backup; want every subflow on it backup within 1.5 s", worstWhat, worst)
			}
			if worstPeer > 2500*time.Millisecond {
				t.Errorf("the server kept a subflow from path 1 active %v after the switch; want it told (MP_PRIO) within 2.5 s", worstPeer)
			}
			if healed > bound {
				t.Errorf("p99 after healing %v; want the clean value (%v)", healed, clean)
			}
		}
		if promoted > 6*time.Second {
			t.Errorf("promoted %v after healing", promoted)
		}
		_ = tHeal
	} else if extraDelay == 0 && after <= bound {
		t.Errorf("kernel alone: p99 %v with 10%% loss on path 1; the test expects the kernel to keep using path 1 (p99 above %v)", after, bound)
	}
	_ = netip.Addr{}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
