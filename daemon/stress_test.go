package daemon_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// TestRapidCycles: 1000 rapid address add/remove cycles; the final table is
// right and the daemon's goroutines and file descriptors do not grow.
func TestRapidCycles(t *testing.T) {
	a, _ := nstest.Pair(t, []nstest.Path{{ClientIf: "mk0", ClientCIDR: "10.77.0.1/24", ServerIf: "mk0", ServerCIDR: "10.77.0.2/24"}})
	h := start(t, a, daemon.Config{})
	h.waitTable([]string{"10.77.0.1 subflow"}, 2*time.Second)
	time.Sleep(150 * time.Millisecond) // let the first poll and events settle
	g0, fd0 := runtime.NumGoroutine(), countFDs(t)

	l, err := a.Handle().LinkByName("mk0")
	if err != nil {
		t.Fatal(err)
	}
	addrs := make([]*netlink.Addr, 4)
	for i := range addrs {
		addrs[i], _ = netlink.ParseAddr("10.77.1." + itoa(i+1) + "/24")
		addrs[i].Flags |= unix.IFA_F_NODAD
	}
	start := time.Now()
	for i := 0; i < 1000; i++ {
		x := addrs[i%len(addrs)]
		if err := a.Handle().AddrAdd(l, x); err != nil {
			t.Fatalf("cycle %d: add: %v", i, err)
		}
		if err := a.Handle().AddrDel(l, x); err != nil {
			t.Fatalf("cycle %d: delete: %v", i, err)
		}
	}
	// End with two of them present.
	for _, x := range addrs[:2] {
		if err := a.Handle().AddrAdd(l, x); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("1000 add/remove cycles took %v", time.Since(start))
	settle := h.waitTable([]string{"10.77.0.1 subflow", "10.77.1.1 subflow", "10.77.1.2 subflow"}, 2*time.Second)
	t.Logf("table right %v after the last change", settle)
	time.Sleep(300 * time.Millisecond)
	h.waitTable([]string{"10.77.0.1 subflow", "10.77.1.1 subflow", "10.77.1.2 subflow"}, 0)

	g1, fd1 := runtime.NumGoroutine(), countFDs(t)
	t.Logf("goroutines %d -> %d, fds %d -> %d", g0, g1, fd0, fd1)
	if g1 > g0+2 {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
	if fd1 > fd0+2 {
		t.Errorf("file descriptors grew from %d to %d", fd0, fd1)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h.waitTable(nil, 0)
}
