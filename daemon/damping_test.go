package daemon_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/netmon"
	"github.com/mptcpkit/mptcpkit/netmon/netmontest"
	"github.com/mptcpkit/mptcpkit/pm/pmtest"
	"github.com/mptcpkit/mptcpkit/sockdiag"
)

// fakeRun runs the daemon on a fake monitor and table and returns a
// function that waits for the next state satisfying cond.
func fakeRun(t *testing.T, mon *netmontest.Fake, f *pmtest.PM, pol string) func(what string, cond func(*daemon.StateFile) bool) *daemon.StateFile {
	t.Helper()
	states := make(chan *daemon.StateFile, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := daemon.Config{
		Monitor: mon, PM: f, StatePath: filepath.Join(t.TempDir(), "s.json"),
		Conflicts:   func() ([]daemon.Conflict, error) { return nil, nil },
		OnReconcile: func(s *daemon.StateFile) { states <- s },
	}
	if pol != "" {
		cfg.Policy = mustPolicy(t, pol)
	}
	go func() { done <- daemon.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return func(what string, cond func(*daemon.StateFile) bool) *daemon.StateFile {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case s := <-states:
				if cond(s) {
					return s
				}
			case <-deadline:
				t.Fatalf("%s: no such state within 5 s", what)
			}
		}
	}
}

func hasEndpoint(s *daemon.StateFile) bool { return len(s.Endpoints) == 1 }

func setCarrier(mon *netmontest.Fake, up bool) {
	mon.Update(func(st *netmon.State) { st.Links[0].Carrier = up })
}

// TestSingleChangeReactsAtOnce: one carrier loss and return (a first flap)
// is acted on as soon as it is seen, with no batching delay and no
// hold-down: the reconcile follows the change within a few milliseconds
// (the daemon used to wait a fixed 50 ms).
func TestSingleChangeReactsAtOnce(t *testing.T) {
	mon := netmontest.New(netmon.State{
		Links: []netmon.Link{{Index: 2, Name: "eth0", Kind: "ethernet", AdminUp: true, Carrier: true}},
		Addrs: []netmon.Addr{{Prefix: netip.MustParsePrefix("192.0.2.1/24"), LinkIndex: 2}},
	})
	next := fakeRun(t, mon, pmtest.New(nil), "")
	next("start", hasEndpoint)
	var took []time.Duration
	for _, up := range []bool{false, true} {
		t0 := time.Now()
		setCarrier(mon, up)
		s := next("after the change", func(s *daemon.StateFile) bool { return hasEndpoint(s) == up })
		took = append(took, time.Since(t0))
		if up && (len(s.Damping) != 1 || s.Damping[0].HoldDown != 0) {
			t.Errorf("a first flap was held down: %+v", s.Damping)
		}
	}
	t0 := time.Now()
	mon.Update(func(st *netmon.State) {
		st.Addrs = append(st.Addrs, netmon.Addr{Prefix: netip.MustParsePrefix("192.0.2.7/24"), LinkIndex: 2})
	})
	next("new address", func(s *daemon.StateFile) bool { return len(s.Endpoints) == 2 })
	took = append(took, time.Since(t0))
	slices.Sort(took)
	if med := took[1]; med >= 45*time.Millisecond {
		t.Errorf("median reaction %v to a single change (all: %v); want no batching delay", med, took)
	}
	t.Logf("reaction to a change (fake monitor and table): %v", took)
}

// TestFlapDamping: a link that keeps flapping gets a hold-down that
// doubles with each flap up to max_hold_down, its endpoint returns by
// itself when the hold-down ends, and a quiet link's back-off decays one
// step per decay period back to none.
func TestFlapDamping(t *testing.T) {
	mon := netmontest.New(netmon.State{
		Links: []netmon.Link{{Index: 2, Name: "eth0", Kind: "ethernet", AdminUp: true, Carrier: true}},
		Addrs: []netmon.Addr{{Prefix: netip.MustParsePrefix("192.0.2.1/24"), LinkIndex: 2}},
	})
	next := fakeRun(t, mon, pmtest.New(nil), `version = 1
[damping]
hold_down = "150ms"
max_hold_down = "600ms"
decay = "400ms"
[[rule]]
flags = ["subflow"]
`)
	next("start", hasEndpoint)
	flap := func() daemon.LinkDamping {
		t.Helper()
		setCarrier(mon, false)
		next("carrier lost", func(s *daemon.StateFile) bool { return !hasEndpoint(s) })
		setCarrier(mon, true)
		s := next("carrier back", func(s *daemon.StateFile) bool { return len(s.Damping) == 1 && s.Damping[0].LastFlap.After(time.Time{}) })
		for _, d := range s.Decisions {
			if s.Damping[0].HoldDown > 0 && d.In {
				t.Errorf("held-down link's address is in: %+v", d)
			}
		}
		return s.Damping[0]
	}
	var holds []time.Duration
	for range 5 {
		holds = append(holds, flap().HoldDown)
	}
	ms := time.Millisecond
	if want := []time.Duration{0, 150 * ms, 300 * ms, 600 * ms, 600 * ms}; !slices.Equal(holds, want) {
		t.Errorf("hold-downs of five quick flaps = %v, want %v", holds, want)
	}
	// The endpoint returns when the hold-down ends, with no change seen.
	t0 := time.Now()
	next("hold-down over", hasEndpoint)
	if took := time.Since(t0); took < 500*ms || took > 2*time.Second {
		t.Errorf("endpoint back %v after the last return; want about the 600ms hold-down", took)
	}
	// Quiet for three decay periods: five flaps less three forgotten,
	// plus this one, is the third: 300 ms.
	time.Sleep(time.Until(t0.Add(1300 * ms)))
	if d := flap(); d.HoldDown != 300*ms || d.Flaps != 3 {
		t.Errorf("after 1.3 s quiet: flaps %d hold-down %v, want 3 and 300ms (decayed)", d.Flaps, d.HoldDown)
	}
	next("hold-down over", hasEndpoint)
	// Quiet long enough to forget everything: a flap is free again.
	time.Sleep(1300 * ms)
	if d := flap(); d.HoldDown != 0 || d.Flaps != 1 {
		t.Errorf("after a long quiet: flaps %d hold-down %v, want 1 and none", d.Flaps, d.HoldDown)
	}
}

// TestStatePerNamespace: two daemons in two namespaces, both with the
// default state file, keep separate files, each naming its own namespace
// and endpoints (they used to share /run/mptcpkit/daemon.json).
func TestStatePerNamespace(t *testing.T) {
	a, b := nstest.Pair(t, []nstest.Path{{ClientIf: "mk0", ClientCIDR: "10.86.0.1/24", ServerIf: "mk0", ServerCIDR: "10.86.0.2/24"}})
	ha := start(t, a, daemon.Config{StatePath: defaultState})
	hb := start(t, b, daemon.Config{StatePath: defaultState})
	ha.waitTable([]string{"10.86.0.1 subflow"}, 2*time.Second)
	hb.waitTable([]string{"10.86.0.2 subflow"}, 2*time.Second)
	if ha.state == hb.state {
		t.Fatalf("both daemons use %s", ha.state)
	}
	sa := ha.waitState(func(s *daemon.StateFile) bool { return len(s.Endpoints) == 1 })
	sb := hb.waitState(func(s *daemon.StateFile) bool { return len(s.Endpoints) == 1 })
	if sa.NetNS == sb.NetNS || sa.Endpoints[0].Addr.String() != "10.86.0.1" || sb.Endpoints[0].Addr.String() != "10.86.0.2" {
		t.Errorf("state files mixed up:\n%s: %s %+v\n%s: %s %+v", ha.state, sa.NetNS, sa.Endpoints, hb.state, sb.NetNS, sb.Endpoints)
	}
	// A restart of one finds its own endpoints (adopted, not duplicated).
	if err := ha.stop(); err != nil {
		t.Fatal(err)
	}
	ha.waitTable(nil, 2*time.Second)
	if err := hb.stop(); err != nil {
		t.Fatal(err)
	}
	hb.waitTable(nil, 2*time.Second)
}

// TestReactionTimes measures, on real namespaces, how long a new address
// takes to get its endpoint and to carry a subflow of a live MPTCP
// connection (medians go to docs/BENCHMARKS.md; run with -v).
func TestReactionTimes(t *testing.T) {
	c, s := nstest.Pair(t, nstest.Paths(2, "10.87", "mk", "mk"))
	h := start(t, c, daemon.Config{})
	h.waitTable([]string{"10.87.1.1 subflow", "10.87.2.1 subflow"}, 2*time.Second)

	ln := s.Listen(t, "10.87.1.2:0")
	nstest.Sink(ln)
	conn := c.Dial(t, "", ln.Addr().String())
	// The client's side is fully established (and the path manager makes
	// subflows) once the server has acknowledged data.
	if _, err := conn.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	sd, err := sockdiag.Dial(&sockdiag.Config{NetNS: c.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	subflowFrom := func(addr netip.Addr) bool {
		conns, err := sd.Connections()
		if err != nil {
			t.Fatal(err)
		}
		for _, cn := range conns {
			for _, sf := range cn.Subflows {
				if sf.Local.Addr() == addr && sf.State == 1 {
					return true
				}
			}
		}
		return false
	}
	for !subflowFrom(netip.MustParseAddr("10.87.2.1")) {
		time.Sleep(time.Millisecond)
	}
	const n = 15
	var eps, sfs []time.Duration
	addr := netip.MustParseAddr("10.87.2.9")
	for i := range n {
		_ = i
		t0 := time.Now()
		addAddr(t, c, "mk2", "10.87.2.9/24")
		h.waitTable([]string{"10.87.1.1 subflow", "10.87.2.1 subflow", "10.87.2.9 subflow"}, 2*time.Second)
		eps = append(eps, time.Since(t0))
		for !subflowFrom(addr) {
			if time.Since(t0) > 3*time.Second {
				conns, _ := sd.Connections()
				for _, cn := range conns {
					for _, sf := range cn.Subflows {
						t.Logf("subflow %v -> %v %v", sf.Local, sf.Remote, sf.State)
					}
				}
				t.Fatalf("no subflow from %s within 3 s (round %d)", addr, i)
			}
			time.Sleep(time.Millisecond)
		}
		sfs = append(sfs, time.Since(t0))
		delAddr(t, c, "mk2", "10.87.2.9/24")
		h.waitTable([]string{"10.87.1.1 subflow", "10.87.2.1 subflow"}, 2*time.Second)
		time.Sleep(50 * time.Millisecond)
	}
	med := func(d []time.Duration) time.Duration {
		x := slices.Clone(d)
		sort.Slice(x, func(i, j int) bool { return x[i] < x[j] })
		return x[len(x)/2]
	}
	t.Logf("new address -> endpoint: median %v of %d (%v)", med(eps), n, eps)
	t.Logf("new address -> subflow of a live connection: median %v of %d (%v)", med(sfs), n, sfs)
	if timingGoals(t) && (med(eps) > time.Second || med(sfs) > time.Second) {
		t.Errorf("reaction medians %v / %v: want well under 1 s", med(eps), med(sfs))
	}
}
