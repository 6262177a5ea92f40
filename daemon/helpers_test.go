package daemon_test

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/lab"
	"github.com/mptcpkit/mptcpkit/netns"
	"github.com/mptcpkit/mptcpkit/pm"
	"github.com/mptcpkit/mptcpkit/policy"
)

// logBuffer is where the code under test logs; the test reads it as it goes.
type logBuffer = nstest.Buffer

type harness struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan error
	logs   *logBuffer
	state  string
	pm     *pm.Client
}

// userspacePair is nstest.Pair with the userspace path manager in the
// client namespace and room for 8 subflows (and accepted announcements) per
// connection in the server's.
func userspacePair(t *testing.T, paths []nstest.Path) (client, server *nstest.NS) {
	t.Helper()
	client, server = nstest.Pair(t, paths)
	client.UserspacePM(t)
	server.Run(t, "ip", "mptcp", "limits", "set", "subflows", "8", "add_addr_accepted", "8")
	return client, server
}

// labUp brings up the lab cfg describes for t, taken down when t ends
// (with logs, what cfg.Logger wrote, shown if t failed), and opens its
// client and server namespaces until then.
func labUp(t *testing.T, ctx context.Context, cfg lab.Config, logs *nstest.Buffer) (st *lab.Testbed, client, server *netns.NetNS) {
	t.Helper()
	nstest.Require(t)
	st, err := lab.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Down(cfg.Name, cfg.Logger); err != nil {
			t.Errorf("lab down: %v", err)
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	})
	open := func(name string) *netns.NetNS {
		ns, err := netns.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ns.Close() })
		return ns
	}
	return st, open(st.Client), open(st.Server)
}

func mustPolicy(t testing.TB, text string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("test.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// defaultState as Config.StatePath makes start leave the daemon its
// default state file.
const defaultState = "(default)"

// start runs the daemon in-process on ns. cfg's NetNS, StatePath (if
// empty), Logger and Conflicts are filled in.
func start(t *testing.T, ns *nstest.NS, cfg daemon.Config) *harness {
	t.Helper()
	h := &harness{t: t, done: make(chan error, 1), logs: &logBuffer{}}
	switch cfg.StatePath {
	case "":
		cfg.StatePath = filepath.Join(t.TempDir(), "daemon.json")
		h.state = cfg.StatePath
	case defaultState:
		// The daemon's own default, one per namespace.
		cfg.StatePath = ""
		p, err := daemon.StatePathFor(ns.FD())
		if err != nil {
			t.Fatal(err)
		}
		h.state = p
		t.Cleanup(func() { os.Remove(p) })
	default:
		h.state = cfg.StatePath
	}
	cfg.NetNS = ns.FD()
	cfg.Logger = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Conflicts == nil {
		cfg.Conflicts = func() ([]daemon.Conflict, error) { return nil, nil }
	}
	first := make(chan struct{})
	var once sync.Once
	prev := cfg.OnReconcile
	cfg.OnReconcile = func(s *daemon.StateFile) {
		once.Do(func() { close(first) })
		if prev != nil {
			prev(s)
		}
	}
	c, err := pm.Dial(&pm.Config{NetNS: ns.FD()})
	if err != nil {
		t.Fatal(err)
	}
	h.pm = c
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- daemon.Run(ctx, cfg) }()
	t.Cleanup(func() {
		h.stop()
		c.Close()
		if t.Failed() {
			t.Logf("daemon log:\n%s", h.logs)
		}
	})
	select {
	case <-first:
	case err := <-h.done:
		h.done <- err
		t.Fatalf("daemon stopped at start: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no first reconcile within 5 s")
	}
	return h
}

// stop cancels the daemon (as SIGTERM does) and returns Run's error.
func (h *harness) stop() error {
	if h.cancel == nil {
		return nil
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatal("daemon did not stop within 10 s")
		return nil
	}
}

func (h *harness) endpoints() []pm.Endpoint {
	h.t.Helper()
	eps, err := h.pm.Endpoints()
	if err != nil {
		h.t.Fatal(err)
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].Addr.Less(eps[j].Addr) })
	return eps
}

// table renders endpoints as "ADDR FLAGS" lines for comparison.
func table(eps []pm.Endpoint) []string {
	out := []string{}
	for _, e := range eps {
		out = append(out, e.Addr.String()+" "+e.Flags.String())
	}
	return out
}

// waitTable polls until the endpoint table renders as want; it returns
// how long that took.
func (h *harness) waitTable(want []string, timeout time.Duration) time.Duration {
	h.t.Helper()
	want = append([]string(nil), want...)
	sort.Strings(want)
	start := time.Now()
	for {
		got := table(h.endpoints())
		sort.Strings(got)
		if strings.Join(got, "|") == strings.Join(want, "|") {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			st, _ := os.ReadFile(h.state)
			h.t.Fatalf("endpoint table after %v:\n  got  %q\n  want %q\nstate file:\n%s", timeout, got, want, st)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func addAddr(t testing.TB, ns *nstest.NS, dev, cidr string) {
	t.Helper()
	l, err := ns.Handle().LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	a.Flags |= unix.IFA_F_NODAD
	if err := ns.Handle().AddrAdd(l, a); err != nil {
		t.Fatalf("add %s to %s: %v", cidr, dev, err)
	}
}

func delAddr(t testing.TB, ns *nstest.NS, dev, cidr string) {
	t.Helper()
	l, err := ns.Handle().LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := netlink.ParseAddr(cidr)
	if err := ns.Handle().AddrDel(l, a); err != nil {
		t.Fatalf("delete %s from %s: %v", cidr, dev, err)
	}
}

func setLink(t testing.TB, ns *nstest.NS, dev string, up bool) {
	t.Helper()
	l, err := ns.Handle().LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	if up {
		err = ns.Handle().LinkSetUp(l)
	} else {
		err = ns.Handle().LinkSetDown(l)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func ifIndex(t testing.TB, ns *nstest.NS, dev string) int {
	t.Helper()
	l, err := ns.Handle().LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Index
}

func countFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

var _ = netip.Addr{}

// waitState polls the state file until cond holds (the file is written
// after the kernel table changed).
func (h *harness) waitState(cond func(*daemon.StateFile) bool) *daemon.StateFile {
	h.t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		s, err := daemon.ReadState(h.state)
		if err == nil && cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(h.state)
			h.t.Fatalf("state file never satisfied the condition (err %v):\n%s", err, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// timingGoals reports whether latency goals (reaction well under 1 s) are
// checked: not in a kernel matrix guest under TCG emulation, where every
// instruction is emulated; there only correctness is (the change happens at
// all within the tests' generous timeouts).
func timingGoals(t *testing.T) bool {
	t.Helper()
	if emulated, guest := nstest.Emulated(); emulated {
		t.Logf("latency goals not checked: kernel matrix guest %s under TCG emulation", guest)
		return false
	}
	return true
}
