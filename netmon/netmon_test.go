package netmon_test

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/netmon"
)

// waitFor waits for a change notification and for cond on the new state.
func waitFor(t *testing.T, m netmon.Monitor, what string, cond func(*netmon.State) bool) *netmon.State {
	t.Helper()
	deadline := time.After(3 * time.Second)
	for {
		st, err := m.State()
		if err != nil {
			t.Fatal(err)
		}
		if cond(st) {
			return st
		}
		select {
		case <-m.Changes():
		case <-deadline:
			t.Fatalf("timed out waiting for %s; state:\n%s", what, st)
		}
	}
}

func hasAddr(st *netmon.State, a string) bool {
	for _, x := range st.Addrs {
		if x.Prefix.Addr() == netip.MustParseAddr(a) {
			return true
		}
	}
	return false
}

func TestNetlinkMonitor(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	a := nstest.New(t, "a")
	b := nstest.New(t, "b")
	m, err := netmon.New(netmon.Config{NetNS: a.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	nstest.Link(t, a, "mk0", "10.71.0.1/24", b, "mk0", "10.71.0.2/24")
	st := waitFor(t, m, "10.71.0.1 with carrier", func(st *netmon.State) bool {
		l, ok := linkByName(st, "mk0")
		return ok && l.Usable() && hasAddr(st, "10.71.0.1")
	})
	if l, _ := linkByName(st, "mk0"); l.Kind != "veth" {
		t.Errorf("kind of a veth = %q", l.Kind)
	}
	if l, _ := linkByName(st, "lo"); l.Kind != "loopback" || !l.Usable() {
		t.Errorf("lo = %+v", l)
	}
	if st.DefaultRoute4 {
		t.Error("default route reported in a namespace without one")
	}

	// Carrier loss: the peer goes down.
	peer, err := b.Handle().LinkByName("mk0")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Handle().LinkSetDown(peer); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "carrier loss", func(st *netmon.State) bool {
		l, _ := linkByName(st, "mk0")
		return l.AdminUp && !l.Carrier
	})
	if err := b.Handle().LinkSetUp(peer); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "carrier back", func(st *netmon.State) bool {
		l, _ := linkByName(st, "mk0")
		return l.Usable()
	})

	// Default route appears.
	a.Run(t, "ip", "route", "add", "default", "via", "10.71.0.2")
	waitFor(t, m, "default route", func(st *netmon.State) bool { return st.DefaultRoute4 })

	// Address removal.
	l, _ := a.Handle().LinkByName("mk0")
	addr, _ := netlink.ParseAddr("10.71.0.1/24")
	if err := a.Handle().AddrDel(l, addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "address gone", func(st *netmon.State) bool { return !hasAddr(st, "10.71.0.1") })

	m.Close()
	for range m.Changes() { // a buffered notification may come first; then it must be closed
	}
	// Goroutines of the subscriptions are gone.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("goroutines: %d before, %d after Close", goroutines, n)
	}
}

func linkByName(st *netmon.State, name string) (netmon.Link, bool) {
	for _, l := range st.Links {
		if l.Name == name {
			return l, true
		}
	}
	return netmon.Link{}, false
}

// TestOverflow: with a tiny receive buffer a burst of changes overflows the
// subscription (ENOBUFS); the monitor resubscribes, says "resync", and keeps
// reporting changes.
func TestOverflow(t *testing.T) {
	a, _ := nstest.Pair(t, []nstest.Path{{ClientIf: "mk0", ClientCIDR: "10.71.0.1/24", ServerIf: "mk0", ServerCIDR: "10.71.0.2/24"}})
	resync := make(chan struct{}, 1)
	m, err := netmon.New(netmon.Config{NetNS: a.FD(), ReceiveBuffer: 1, OnEvent: func(kind string) {
		if kind == "resync" {
			select {
			case resync <- struct{}{}:
			default:
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, _ := a.Handle().LinkByName("mk0")
	for i := 0; i < 300; i++ {
		x, _ := netlink.ParseAddr("10.71.1.1/24")
		a.Handle().AddrAdd(l, x)
		a.Handle().AddrDel(l, x)
	}
	select {
	case <-resync:
	case <-time.After(3 * time.Second):
		t.Fatal("no resync after a burst into a tiny buffer")
	}
	// Quiet, then one change: it must be notified by the new subscription.
	time.Sleep(100 * time.Millisecond)
	for drained := false; !drained; {
		select {
		case <-m.Changes():
		default:
			drained = true
		}
	}
	x, _ := netlink.ParseAddr("10.71.2.1/24")
	if err := a.Handle().AddrAdd(l, x); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Changes():
	case <-time.After(time.Second):
		t.Fatal("no notification after the resubscription")
	}
	waitFor(t, m, "address after resync", func(st *netmon.State) bool { return hasAddr(st, "10.71.2.1") })
}
