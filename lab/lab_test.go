package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/vishvananda/netlink"

	"github.com/mptcpkit/mptcpkit/bench"
	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/netns"
	"github.com/mptcpkit/mptcpkit/pm"
)

func TestMain(m *testing.M) {
	// Up starts the delay line by running this binary again.
	if os.Getenv(DelayLineEnv) != "" {
		os.Exit(DelayLineMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// testName gives each test its own lab name: "t" + a few letters of the
// test's name + the pid's last digits, so that labs of concurrent test
// binaries do not collide and leftovers say who made them.
func testName(t *testing.T, tag string) string {
	n := fmt.Sprintf("t%s%d", tag, os.Getpid()%10000)
	if len(n) > MaxNameLen {
		n = n[:MaxNameLen]
	}
	return n
}

// up builds a lab for t and removes it in t.Cleanup, also if t fails.
func up(t *testing.T, cfg Config) *Testbed {
	t.Helper()
	t.Cleanup(func() {
		if err := Down(cfg.Name, nil); err != nil {
			t.Errorf("Down(%s): %v", cfg.Name, err)
		}
		assertGone(t, cfg.Name)
	})
	st, err := Up(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Up(%+v): %v", cfg, err)
	}
	return st
}

// assertGone checks that nothing of lab name is left: namespaces, state
// file, delay-line processes, and no lab interface in the root namespace.
func assertGone(t *testing.T, name string) {
	t.Helper()
	if left := leftovers(name); len(left) > 0 {
		t.Errorf("lab %s left behind: %v", name, left)
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "mk"+name) {
			t.Errorf("lab %s left link %s in the root namespace", name, l.Attrs().Name)
		}
	}
}

func TestUpDown(t *testing.T) {
	nstest.Require(t)
	name := testName(t, "ud")
	st := up(t, Config{Name: name, Paths: 2, Rate: []uint64{100e6, 20e6}, Queue: 50})

	if diff := cmp.Diff([]string{clientNS(name), serverNS(name)}, sortedNS(name)); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
	// HTB at both ends of both paths, with the path's rate and queue.
	for _, side := range []struct{ ns, dev func(Path) string }{
		{func(Path) string { return st.Client }, func(p Path) string { return p.ClientIf }},
		{func(Path) string { return st.Server }, func(p Path) string { return p.ServerIf }},
	} {
		for _, p := range st.Paths {
			err := withHandle(side.ns(p), func(h *netlink.Handle) error {
				l, err := h.LinkByName(side.dev(p))
				if err != nil {
					return err
				}
				classes, err := h.ClassList(l, htbRoot)
				if err != nil {
					return err
				}
				if len(classes) != 1 {
					return fmt.Errorf("%d classes, want 1", len(classes))
				}
				c, ok := classes[0].(*netlink.HtbClass)
				if !ok || c.Rate*8 != p.Rate || c.Ceil*8 != p.Rate {
					return fmt.Errorf("class %+v, want htb rate=ceil=%d bit/s", classes[0], p.Rate)
				}
				qs, err := h.QdiscList(l)
				if err != nil {
					return err
				}
				var kinds []string
				for _, q := range qs {
					kinds = append(kinds, q.Type())
				}
				if diff := cmp.Diff([]string{"htb", "pfifo"}, kinds); diff != "" {
					return fmt.Errorf("qdiscs (-want +got):\n%s", diff)
				}
				return nil
			})
			if err != nil {
				t.Errorf("%s path %d: %v", side.ns(p), p.Index, err)
			}
		}
	}
	// MPTCP: limits on both sides, one subflow endpoint for path 2.
	for _, n := range []string{st.Client, st.Server} {
		ns, err := netns.Open(n)
		if err != nil {
			t.Fatal(err)
		}
		c, err := pm.Dial(&pm.Config{NetNS: ns.FD()})
		if err != nil {
			t.Fatal(err)
		}
		lim, err := c.Limits()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(pm.Limits{AddAddrAccepted: 8, Subflows: 8}, lim); diff != "" {
			t.Errorf("%s limits (-want +got):\n%s", n, diff)
		}
		eps, err := c.Endpoints()
		if err != nil {
			t.Fatal(err)
		}
		if n == st.Client {
			if len(eps) != 1 || eps[0].Addr != st.Paths[1].ClientAddr || eps[0].Flags&pm.FlagSubflow == 0 || eps[0].IfIndex == 0 {
				t.Errorf("client endpoints %+v, want one subflow endpoint %s with a device", eps, st.Paths[1].ClientAddr)
			}
		}
		c.Close()
		ns.Close()
	}
	// Show's view: the state file.
	got, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	// A second Up with the same name is refused and leaves the lab alone.
	if _, err := Up(context.Background(), Config{Name: name}); !errors.Is(err, ErrExists) {
		t.Errorf("second Up: %v, want ErrExists", err)
	}
	if _, err := Load(name); err != nil {
		t.Errorf("the refused Up damaged the lab: %v", err)
	}
	// Fault injection.
	if err := SetLink(st, 2, false); err != nil {
		t.Fatal(err)
	}
	c, err := Counters(st)
	if err != nil || c[1].Up || !c[0].Up {
		t.Errorf("after SetLink(2, down): %+v, %v", c, err)
	}
}

func sortedNS(name string) []string {
	n := labNamespaces(name)
	if len(n) == 2 && n[0] != clientNS(name) {
		n[0], n[1] = n[1], n[0]
	}
	return n
}

// cancelAt cancels a context when Up logs the given step.
type cancelAt struct {
	step   string
	cancel context.CancelFunc
}

func (c *cancelAt) Enabled(context.Context, slog.Level) bool { return true }
func (c *cancelAt) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "step" && a.Value.String() == c.step {
			c.cancel()
		}
		return true
	})
	return nil
}
func (c *cancelAt) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *cancelAt) WithGroup(string) slog.Handler      { return c }

func TestUpInterrupted(t *testing.T) {
	nstest.Require(t)
	for _, step := range []string{"path 2", "MPTCP endpoints", "delay line"} {
		t.Run(strings.ReplaceAll(step, " ", "_"), func(t *testing.T) {
			name := testName(t, "in")
			t.Cleanup(func() { Down(name, nil) })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			log := slog.New(&cancelAt{step: step, cancel: cancel})
			_, err := Up(ctx, Config{Name: name, Paths: 2, Delay: []time.Duration{0, 5 * time.Millisecond}, Logger: log})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Up cancelled at %q: %v, want context.Canceled", step, err)
			}
			assertGone(t, name)
		})
	}
}

func TestDownWithoutState(t *testing.T) {
	nstest.Require(t)
	name := testName(t, "ns")
	st := up(t, Config{Name: name, Paths: 1, Delay: []time.Duration{time.Millisecond}})
	if !DelayLineRunning(st) {
		t.Fatal("delay line not running")
	}
	// A process inside the lab, and the state file gone: Down still finds all.
	sleeper := startIn(t, st.Server, "sleep", "60")
	// `ip netns exec` enters the namespace before it execs sleep: wait
	// for that, or Down could run before the process is in the lab.
	for deadline := time.Now().Add(10 * time.Second); ; {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", sleeper.Process.Pid))
		if strings.TrimSpace(string(comm)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep did not start in %s", st.Server)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := os.Remove(statePath(name)); err != nil {
		t.Fatal(err)
	}
	if err := Down(name, nil); err != nil {
		t.Fatal(err)
	}
	assertGone(t, name)
	waited := make(chan error, 1)
	go func() { waited <- sleeper.Wait() }()
	select {
	case err := <-waited:
		if err == nil {
			t.Error("the process in the lab's server namespace ended by itself, not killed")
		}
	case <-time.After(10 * time.Second):
		t.Error("the process in the lab's server namespace was not killed")
	}
}

// A process outside the lab that holds one of its namespaces open (like
// `mptcpkit -n mk-NAME-server bench server`) is stopped by Down too:
// otherwise its descriptor keeps the namespace, its veths and sockets
// alive after the lab is "removed".
func TestDownStopsNetNSHolders(t *testing.T) {
	nstest.Require(t)
	name := testName(t, "fd")
	st := up(t, Config{Name: name, Paths: 1})
	f, err := os.Open(netns.Path(st.Server))
	if err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("sleep", "60")
	holder.ExtraFiles = []*os.File{f}
	err = holder.Start()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill() })
	if err := Down(name, nil); err != nil {
		t.Fatal(err)
	}
	assertGone(t, name)
	waited := make(chan error, 1)
	go func() { waited <- holder.Wait() }()
	select {
	case err := <-waited:
		if err == nil {
			t.Error("the process holding the lab's namespace ended by itself, not stopped")
		}
	case <-time.After(10 * time.Second):
		t.Error("the process holding the lab's server namespace open was not stopped by Down")
	}
}

func TestTwoLabs(t *testing.T) {
	nstest.Require(t)
	a := up(t, Config{Name: testName(t, "a"), Paths: 2})
	b := up(t, Config{Name: testName(t, "b"), Paths: 1})
	if a.Number == b.Number {
		t.Errorf("both labs have number %d", a.Number)
	}
	if err := Down(a.Name, nil); err != nil {
		t.Fatal(err)
	}
	assertGone(t, a.Name)
	// b still works: a connection from its client to its server.
	if rtt := connectRTT(t, b, 1); rtt <= 0 {
		t.Error("lab b unusable after lab a went down")
	}
	if _, err := Load(b.Name); err != nil {
		t.Errorf("lab b lost its state: %v", err)
	}
}

func TestAggregation(t *testing.T) {
	nstest.Require(t)
	// reno: in 3 s runs bbr's start-up leaves MPTCP's margin over the
	// bound thin on a loaded machine (docs/BENCHMARKS.md compares them).
	st := up(t, Config{Name: testName(t, "ag"), Paths: 2, CC: "reno"})
	if st.CCEffect != "reno" {
		t.Fatalf("congestion control in the lab: %q, want reno", st.CCEffect)
	}
	b, err := StartBench(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	tcp, err := b.Run(ctx, bench.ModeTCP, 3*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := b.Run(ctx, bench.ModeMPTCP, 3*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	ratio := mp.Mbps / tcp.Mbps
	t.Logf("TCP %.1f Mbit/s, MPTCP %.1f Mbit/s, ratio %.2f, cc %s; MPTCP per path %+v", tcp.Mbps, mp.Mbps, ratio, st.CCEffect, mp.Paths)
	if tcp.Mbps < 50 || tcp.Mbps > 101 {
		t.Errorf("TCP over one 100 Mbit path: %.1f Mbit/s, want 50..101 (shaping broken?)", tcp.Mbps)
	}
	if ratio < 1.8 {
		t.Errorf("MPTCP/TCP = %.2f, want >= 1.8", ratio)
	}
	for _, p := range mp.Paths {
		if p.Subflows != 1 || p.SubflowBytes < uint64(mp.Result.Bytes)/4 {
			t.Errorf("path %d: %d subflows carried %d of %d bytes: want one subflow carrying a fair share", p.Path, p.Subflows, p.SubflowBytes, mp.Result.Bytes)
		}
	}
}

func TestLoss(t *testing.T) {
	nstest.Require(t)
	// The loss is on path 1, which carries the initial subflow: the
	// scheduler always sends some data there, while a lossy extra path may
	// be left idle.
	st := up(t, Config{Name: testName(t, "ls"), Paths: 2, Loss: []float64{10, 0}})
	rep, err := Transfer(context.Background(), st, TransferConfig{Bytes: 24 << 20, Duration: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Paths {
		t.Logf("path %d: %d bytes on its subflows, %d retransmits", p.Path, p.SubflowBytes, p.Retransmits)
	}
	if !rep.Completed || !rep.ChecksumMatch || rep.RecvBytes != 24<<20 {
		t.Errorf("completed %v, checksum match %v (%s vs %s), %d bytes", rep.Completed, rep.ChecksumMatch, rep.SHA256Sent, rep.SHA256Received, rep.RecvBytes)
	}
	lossy, clean := rep.Paths[0], rep.Paths[1]
	if lossy.Retransmits <= clean.Retransmits || lossy.Retransmits < 5 {
		t.Errorf("retransmits: lossy path %d, clean path %d: want the lossy path's higher", lossy.Retransmits, clean.Retransmits)
	}
	drops, err := Drops(st)
	if err != nil {
		t.Fatal(err)
	}
	if drops[st.Paths[0].ServerIf] == 0 || drops[st.Paths[1].ServerIf] != 0 {
		t.Errorf("%s drops %v: want some on %s only", st.Loss, drops, st.Paths[0].ServerIf)
	}
	// netem where the kernel has it (the 6.12 VM of the kernel matrix),
	// nftables where it does not (the CI host).
	want := "nftables"
	if kernelHasNetem(t) {
		want = "netem"
	}
	if st.Loss != want {
		t.Errorf("loss method %q, want %q on this kernel", st.Loss, want)
	}
}

// kernelHasNetem adds a netem qdisc in a namespace of its own to see
// whether the kernel has it.
func kernelHasNetem(t *testing.T) bool {
	ns := nstest.New(t, "netem")
	lo, err := ns.Handle().LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	q := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: lo.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		netlink.NetemQdiscAttrs{Latency: 1000})
	return ns.Handle().QdiscAdd(q) == nil
}

func TestDelayLine(t *testing.T) {
	nstest.Require(t)
	st := up(t, Config{Name: testName(t, "dl"), Paths: 1, Delay: []time.Duration{20 * time.Millisecond}})
	if st.Delay != "tun" && st.Delay != "netem" {
		t.Fatalf("delay method %q", st.Delay)
	}
	if want := map[bool]string{true: "netem", false: "tun"}[kernelHasNetem(t)]; st.Delay != want {
		t.Errorf("delay method %q, want %q on this kernel", st.Delay, want)
	}
	// The addressing `lab up --help` states for a path through a router
	// namespace: server 10.L.(100+P).2.
	if want := netip.AddrFrom4([4]byte{10, byte(st.Number), 101, 2}); st.Delay == "tun" && st.Paths[0].ServerAddr != want {
		t.Errorf("delayed path 1: server %v, want %v as lab up --help says", st.Paths[0].ServerAddr, want)
	}
	rtt := connectRTT(t, st, 5)
	t.Logf("RTT via %s: %v", st.Delay, rtt)
	if rtt < 39*time.Millisecond || rtt > 60*time.Millisecond {
		t.Errorf("RTT through 20 ms each way: %v, want about 40 ms", rtt)
	}
}

// connectRTT returns the smallest TCP handshake time of n connections from
// the client to the server's path-1 address (one round trip each).
func connectRTT(t *testing.T, st *Testbed, n int) time.Duration {
	t.Helper()
	server, _ := netns.Open(st.Server)
	client, _ := netns.Open(st.Client)
	defer server.Close()
	defer client.Close()
	addr := net.JoinHostPort(st.Paths[0].ServerAddr.String(), "7000")
	ln, err := mptcp.ListenWith(context.Background(), "tcp", addr, mptcp.ListenOptions{NetNS: server})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	best := time.Hour
	for range n {
		t0 := time.Now()
		c, err := bench.NetNSDialer(client)(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		best = min(best, time.Since(t0))
		c.Close()
	}
	return best
}

func TestCongestionControl(t *testing.T) {
	nstest.Require(t)
	orig := hostSysctl("net.ipv4.tcp_allowed_congestion_control")
	avail := hostSysctl("net.ipv4.tcp_available_congestion_control")
	cc := ""
	for _, c := range strings.Fields(avail) {
		if !strings.Contains(" "+orig+" ", " "+c+" ") {
			cc = c
			break
		}
	}
	if cc == "" {
		t.Skipf("every available congestion control (%s) is already allowed (%s): nothing to widen", avail, orig)
	}
	name := testName(t, "cc")
	st := up(t, Config{Name: name, Paths: 1, CC: cc})
	if st.CCEffect != cc || !st.HostAllowedCC {
		t.Errorf("lab cc %q (host list widened: %v), want %q", st.CCEffect, st.HostAllowedCC, cc)
	}
	if got := hostSysctl("net.ipv4.tcp_allowed_congestion_control"); !strings.Contains(got, cc) {
		t.Errorf("host allowed list %q lacks %s", got, cc)
	}
	if err := Down(name, nil); err != nil {
		t.Fatal(err)
	}
	if got := hostSysctl("net.ipv4.tcp_allowed_congestion_control"); got != orig {
		t.Errorf("host allowed list after down: %q, want %q restored", got, orig)
	}
	if _, err := Up(context.Background(), Config{Name: name, Paths: 1, CC: "nosuchcc"}); err == nil || !strings.Contains(err.Error(), "not available") {
		t.Errorf("Up with an unknown cc: %v, want an error naming what is available", err)
	}
	assertGone(t, name)
}

func TestTransferFailover(t *testing.T) {
	nstest.Require(t)
	st := up(t, Config{Name: testName(t, "fo"), Paths: 2})
	rep, err := Transfer(context.Background(), st, TransferConfig{
		Duration: 5 * time.Second,
		Events: []LinkEvent{
			{At: 1 * time.Second, Path: 1, Up: false, Server: true},
			{At: 3 * time.Second, Path: 1, Up: true, Server: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%.1f Mbit/s, longest stall %v at %.2f s; path 1 back after %v", rep.Mbps, rep.LongestStall, rep.LongestStallAt, rep.Paths[0].ReturnedAfter)
	if !rep.Completed || !rep.ChecksumMatch || rep.RecvBytes != rep.SentBytes {
		t.Errorf("completed %v, checksum match %v, %d of %d bytes", rep.Completed, rep.ChecksumMatch, rep.RecvBytes, rep.SentBytes)
	}
	if rep.LongestStall <= 0 || rep.LongestStall > 3*time.Second {
		t.Errorf("longest stall %v: want some, and well under the 2 s outage plus an RTO", rep.LongestStall)
	}
	// Path 2 carried the transfer while path 1 was down (1 s to 3 s):
	// from 1.5 s to 2.5 s it moved data at a fair rate.
	var from, to int
	for i, at := range rep.SampleTimes {
		if at <= 1.5 {
			from = i
		}
		if at <= 2.5 {
			to = i
		}
	}
	tl := rep.Paths[1].Timeline
	if to <= from || to >= len(tl) {
		t.Fatalf("no samples between 1.5 s and 2.5 s: %v", rep.SampleTimes)
	}
	mbps := float64(tl[to]-tl[from]) * 8 / 1e6 / (rep.SampleTimes[to] - rep.SampleTimes[from])
	t.Logf("path 2 while path 1 was down: %.1f Mbit/s", mbps)
	if mbps < 20 {
		t.Errorf("path 2 moved %.1f Mbit/s while path 1 was down: want it to carry the transfer", mbps)
	}
}
