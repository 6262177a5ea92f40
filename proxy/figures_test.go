package proxy_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/proxy"
)

// figuresEnv enables TestFigures, the long measurement behind the proxy
// section of docs/BENCHMARKS.md:
//
//	MPTCPKIT_PROXY_FIGURES=1 go test -count=1 -v -run TestFigures -timeout 20m ./proxy
const figuresEnv = "MPTCPKIT_PROXY_FIGURES"

func TestFigures(t *testing.T) {
	if os.Getenv(figuresEnv) == "" {
		t.Skip("long measurement for docs/BENCHMARKS.md; set " + figuresEnv + "=1 to run it")
	}
	t.Run("goodput", func(t *testing.T) {
		for _, paths := range []int{2, 4} {
			t.Run(fmt.Sprintf("paths=%d", paths), func(t *testing.T) { figureGoodput(t, paths) })
		}
	})
	t.Run("cpu", figureCPU)
	t.Run("idle", figureIdle)
	t.Run("setup", figureSetup)
}

// figureGoodput compares plain TCP through the two proxies with direct
// MPTCP between the same two namespaces, over paths × 100 Mbit.
func figureGoodput(t *testing.T, paths int) {
	l := newLabN(t, paths, true)
	l.startServer(t, l.serverConfig(t))
	l.startClient(t, l.clientConfig(t, proxy.ModeFixed), "127.0.0.1:6000", false)
	direct := startDestMPTCP(t, l.srv, "10.0.1.2:5002", true)
	const runs, dur = 3, 5 * time.Second
	var d, p []float64
	for i := 0; i < runs; i++ {
		c, err := dialer(l.cli, true)(context.Background(), "tcp", "10.0.1.2:5002")
		if err != nil {
			t.Fatal(err)
		}
		d = append(d, steadyGoodput(t, direct, c.(*net.TCPConn), dur))
		p = append(p, l.steadyGoodput(t, dialApp(t, l.cli, "127.0.0.1:6000"), dur))
	}
	md, mp := median(d), median(p)
	t.Logf("FIGURE goodput paths=%d: direct MPTCP %s, proxied TCP %s, ratio %.3f (median of %d x %v; direct %v, proxied %v)",
		paths, mbit(md), mbit(mp), mp/md, runs, dur, mbits(d), mbits(p))
}

// figureCPU relays 1 GiB through a proxy client and server running as child
// processes (unshaped veth, reno) and reads their CPU time.
func figureCPU(t *testing.T) {
	l := newLab(t, false)
	for _, ns := range []*nstest.NS{l.cli, l.srv, l.dst} {
		ns.Sysctl(t, "net.ipv4.tcp_congestion_control", "reno") // MPTCP+bbr is slow unshaped (see bench section)
	}
	srv := startChild(t, "server", l.srv)
	cli := startChild(t, "client", l.cli)
	upload(t, dialApp(t, l.cli, "127.0.0.1:6000"), 1<<20, 0)
	s0, c0 := cpuTime(t, srv.Process.Pid), cpuTime(t, cli.Process.Pid)
	start := time.Now()
	sent, _ := upload(t, dialApp(t, l.cli, "127.0.0.1:6000"), 1<<30, 0)
	el := time.Since(start)
	s1, c1 := cpuTime(t, srv.Process.Pid), cpuTime(t, cli.Process.Pid)
	gb := float64(sent+responseSize) / 1e9
	t.Logf("FIGURE cpu: relayed %.2f GB in %v (%s, limited by the test's own data generation and sha256): server %.3f CPU s/GB, client %.3f CPU s/GB",
		gb, el.Round(time.Millisecond), mbit(float64(sent)*8/el.Seconds()), (s1-s0).Seconds()/gb, (c1-c0).Seconds()/gb)
}

// figureIdle holds 10,000 idle proxied connections and reads the resident
// memory of the proxy processes.
func figureIdle(t *testing.T) {
	// Each idle relayed connection holds two descriptors in each proxy (its
	// sockets; splice takes a pipe only while data moves), and this process
	// holds the application's and the destination's ends. Where the hard
	// RLIMIT_NOFILE is below 2 x 10,000 (+ slack) and cannot be raised (no
	// CAP_SYS_RESOURCE in a container), measure as many as fit and report
	// per-connection figures.
	n := 10000
	if lim := noFileLimit(t, 2*uint64(n)+2000); lim < 2*uint64(n)+2000 {
		n = int(lim-2000) / 2 / 500 * 500
		t.Logf("RLIMIT_NOFILE hard limit %d: measuring %d connections", lim, n)
	}
	l := newLab(t, false)
	srv := startChild(t, "server", l.srv)
	cli := startChild(t, "client", l.cli)
	upload(t, dialApp(t, l.cli, "127.0.0.1:6000"), 1<<20, 0)
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", cli.Process.Pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "Max open files") {
				t.Logf("child client: %s", line)
			}
		}
	}
	s0, c0 := rss(t, srv.Process.Pid), rss(t, cli.Process.Pid)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	before := l.dest.accepted.Load()
	start := time.Now()
	for i := 0; i < n; i++ {
		c := dialApp(t, l.cli, "127.0.0.1:6000")
		c.Write([]byte{'S'})
		conns = append(conns, c)
	}
	for l.dest.accepted.Load()-before < int64(n) {
		if time.Since(start) > time.Minute {
			for _, pid := range []int{cli.Process.Pid, srv.Process.Pid} {
				ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
				hist := map[string]int{}
				for _, e := range ents {
					l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
					k, _, _ := strings.Cut(l, "[")
					hist[k]++
				}
				t.Logf("pid %d fds: %v", pid, hist)
			}
			t.Fatalf("only %d of %d connections reached the destination", l.dest.accepted.Load()-before, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	s1, c1 := rss(t, srv.Process.Pid), rss(t, cli.Process.Pid)
	tcpMem := strings.TrimSpace(l.srv.Run(t, "grep", "^TCP:", "/proc/net/sockstat"))
	fds := func(pid int) int { e, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); return len(e) }
	t.Logf("FIGURE idle fds: server %d, client %d open descriptors for %d connections", fds(srv.Process.Pid), fds(cli.Process.Pid), n)
	t.Logf("FIGURE idle: %d idle proxied connections opened in %v: server RSS %d -> %d KiB (%.1f KiB/conn, %.1f MiB per 10,000), client RSS %d -> %d KiB (%.1f KiB/conn, %.1f MiB per 10,000); server ns sockstat %q",
		n, time.Since(start).Round(time.Millisecond), s0>>10, s1>>10, float64(s1-s0)/1024/float64(n), float64(s1-s0)/float64(n)*10000/(1<<20),
		c0>>10, c1>>10, float64(c1-c0)/1024/float64(n), float64(c1-c0)/float64(n)*10000/(1<<20), tcpMem)
}

// figureSetup measures connect + first echo directly and through the proxy.
func figureSetup(t *testing.T) {
	l := newLab(t, false)
	l.startServer(t, l.serverConfig(t))
	l.startClient(t, l.clientConfig(t, proxy.ModeFixed), "127.0.0.1:6000", false)
	measure := func(addr string) []float64 {
		var out []float64
		for i := 0; i < 200; i++ {
			start := time.Now()
			c := dialApp(t, l.cli, addr)
			echo(t, c)
			out = append(out, float64(time.Since(start).Microseconds()))
			c.Close()
		}
		return out
	}
	direct, proxied := measure(destAddr), measure("127.0.0.1:6000")
	t.Logf("FIGURE setup: connect+first echo, median direct TCP %.0f µs, via proxy %.0f µs, added %.0f µs (p90 %.0f vs %.0f µs; unshaped veth, RTT ~0.1 ms)",
		median(direct), median(proxied), median(proxied)-median(direct), pct(direct, 90), pct(proxied, 90))
}

func median(v []float64) float64 { return pct(v, 50) }

func pct(v []float64, p int) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func mbits(v []float64) string {
	var parts []string
	for _, x := range v {
		parts = append(parts, fmt.Sprintf("%.1f", x/1e6))
	}
	return strings.Join(parts, "/") + " Mbit/s"
}

// cpuTime returns utime+stime of a process (/proc/PID/stat, clock ticks of 10 ms).
func cpuTime(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// rss returns VmRSS of a process in bytes.
func rss(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// noFileLimit raises this process's open-file limit towards want (children
// inherit it) and returns the limit it got.
func noFileLimit(t *testing.T, want uint64) uint64 {
	var old syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old)
	if old.Cur >= want {
		return old.Cur
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: max(want, old.Max)}); err != nil {
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: old.Max, Max: old.Max})
		return old.Max
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	return want
}
