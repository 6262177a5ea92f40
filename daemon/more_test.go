package daemon_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/pm"
)

// TestReload: a new policy is applied on reload; a bad one keeps the old
// one running and logs why.
func TestReload(t *testing.T) {
	a, _ := nstest.Pair(t, []nstest.Path{{ClientIf: "mk0", ClientCIDR: "10.79.0.1/24", ServerIf: "mk0", ServerCIDR: "10.79.0.2/24"}})
	file := filepath.Join(t.TempDir(), "policy.toml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("version = 1\n[[rule]]\ninterface = \"mk*\"\nflags = [\"subflow\"]\n")
	reload := make(chan struct{})
	h := start(t, a, daemon.Config{Policy: mustPolicy(t, "version = 1\n[[rule]]\ninterface = \"mk*\"\nflags = [\"subflow\"]\n"), PolicyPath: file, Reload: reload})
	h.waitTable([]string{"10.79.0.1 subflow"}, 2*time.Second)

	write("version = 1\n[[rule]]\ninterface = \"mk*\"\nflags = [\"subflow\", \"backup\"]\n")
	reload <- struct{}{}
	h.waitTable([]string{"10.79.0.1 subflow,backup"}, 2*time.Second) // changed in place (SET_FLAGS)

	write("version = 1\n[[rule]]\ninterface = \"mk*\"\nflags = [\"signal\", \"fullmesh\"]\n")
	reload <- struct{}{}
	time.Sleep(200 * time.Millisecond)
	h.waitTable([]string{"10.79.0.1 subflow,backup"}, 0)
	if logs := h.logs.String(); !strings.Contains(logs, "new policy is invalid; keeping the running one") || !strings.Contains(logs, "policy.toml:4") {
		t.Errorf("no log line naming the bad policy's line:\n%s", logs)
	}

	write("version = 1\n[[rule]]\ninterface = \"mk*\"\nflags = [\"signal\"]\n")
	reload <- struct{}{}
	h.waitTable([]string{"10.79.0.1 signal"}, 2*time.Second) // needs delete + add
}

// TestOwnerAll: owner = "all" removes foreign endpoints the policy does not
// want, and limits given in the policy are set.
func TestOwnerAll(t *testing.T) {
	a, _ := nstest.Pair(t, []nstest.Path{{ClientIf: "mk0", ClientCIDR: "10.80.0.1/24", ServerIf: "mk0", ServerCIDR: "10.80.0.2/24"}})
	c, err := pm.Dial(&pm.Config{NetNS: a.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.AddEndpoint(pm.Endpoint{Addr: netip.MustParseAddr("10.80.99.1"), Flags: pm.FlagSignal}); err != nil {
		t.Fatal(err)
	}
	h := start(t, a, daemon.Config{Policy: mustPolicy(t, `version = 1
owner = "all"
[limits]
subflows = 5
add_addr_accepted = "auto"
[[rule]]
interface = "mk*"
flags = ["subflow"]
`)})
	h.waitTable([]string{"10.80.0.1 subflow"}, 2*time.Second)
	l, err := c.Limits()
	if err != nil {
		t.Fatal(err)
	}
	if l.Subflows != 5 || l.AddAddrAccepted != 1 {
		t.Errorf("limits = %+v, want subflows 5 (set) and add_addr_accepted 1 (auto: one subflow endpoint)", l)
	}
}

// TestConflictRefused: another manager running -> refuse unless coexist,
// then stay off its interfaces.
func TestConflictRefused(t *testing.T) {
	a, _ := nstest.Pair(t, []nstest.Path{
		{ClientIf: "mk0", ClientCIDR: "10.81.0.1/24", ServerIf: "mk0", ServerCIDR: "10.81.0.2/24"},
		{ClientIf: "mk1", ClientCIDR: "10.81.1.1/24", ServerIf: "mk1", ServerCIDR: "10.81.1.2/24"},
	})
	nm := func() ([]daemon.Conflict, error) {
		return []daemon.Conflict{{Manager: "NetworkManager", Detail: "pid 1", Interfaces: []string{"mk1"}}}, nil
	}
	err := daemon.Run(context.Background(), daemon.Config{NetNS: a.FD(), StatePath: filepath.Join(t.TempDir(), "s.json"), Conflicts: nm})
	if !errors.Is(err, daemon.ErrConflict) || !strings.Contains(err.Error(), "NetworkManager") || !strings.Contains(err.Error(), "--coexist") {
		t.Fatalf("Run = %v, want a conflict error naming NetworkManager and --coexist", err)
	}
	h := start(t, a, daemon.Config{Conflicts: nm, Coexist: true})
	h.waitTable([]string{"10.81.0.1 subflow"}, 2*time.Second)
	s := h.waitState(func(s *daemon.StateFile) bool { return len(s.Decisions) > 0 })
	for _, d := range s.Decisions {
		if d.Addr.String() == "10.81.1.1" && !strings.Contains(d.Reason, "managed by NetworkManager") {
			t.Errorf("10.81.1.1: %q", d.Reason)
		}
	}
}

var mibRe = regexp.MustCompile(`mptcpkit_mptcpext_total\{counter="MPCapableSYNRX"\} (\d+)`)

// TestMetrics: the endpoint serves the daemon's metrics and the namespace's
// MPTcpExt counters, and they move when MPTCP traffic flows.
func TestMetrics(t *testing.T) {
	a, b := nstest.Pair(t, []nstest.Path{{ClientIf: "mk0", ClientCIDR: "10.82.0.1/24", ServerIf: "mk0", ServerCIDR: "10.82.0.2/24"}})
	// A free port on loopback of the test's own namespace.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	h := start(t, a, daemon.Config{MetricsAddr: addr})
	h.waitTable([]string{"10.82.0.1 subflow"}, 2*time.Second)
	scrape := func() string {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	mib := func(body string) int {
		m := mibRe.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no MPCapableSYNRX counter in:\n%s", body)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	body := scrape()
	for _, want := range []string{`mptcpkit_endpoints{flag="subflow"} 1`, `mptcpkit_daemon_owned_endpoints 1`, `mptcpkit_daemon_reconciles_total`, `mptcpkit_daemon_endpoint_changes_total{action="add"} 1`, `mptcpkit_daemon_info{netns="net:[`, `path_manager="kernel"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	before := mib(body)

	// Three MPTCP connections into the daemon's namespace.
	var srv net.Listener
	a.Do(t, func() (err error) {
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(true)
		srv, err = lc.Listen(context.Background(), "tcp", "10.82.0.1:0")
		return err
	})
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	for i := 0; i < 3; i++ {
		b.Do(t, func() error {
			d := net.Dialer{Timeout: 2 * time.Second}
			d.SetMultipathTCP(true)
			c, err := d.Dial("tcp", srv.Addr().String())
			if err != nil {
				return err
			}
			c.Write([]byte("hello"))
			return c.Close()
		})
	}
	// One connection stays open: the namespace has one MPTCP connection
	// (its server side) with one subflow.
	var open net.Conn
	b.Do(t, func() (err error) {
		d := net.Dialer{Timeout: 2 * time.Second}
		d.SetMultipathTCP(true)
		open, err = d.Dial("tcp", srv.Addr().String())
		return err
	})
	defer open.Close()
	open.Write([]byte("x"))
	connRe := regexp.MustCompile(`mptcpkit_mptcp_connections\{fallback="false"\} (\d+)`)
	deadline := time.Now().Add(2 * time.Second)
	for {
		body = scrape()
		if m := connRe.FindStringSubmatch(body); m != nil && m[1] == "1" && strings.Contains(body, "mptcpkit_mptcp_subflows 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections/subflows gauges wrong:\n%s", grepLines(body, "mptcpkit_mptcp_"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		body = scrape()
		if after := mib(body); after >= before+3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("MPCapableSYNRX did not move by 3 (before %d):\n%s", before, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Path-manager events are counted (the daemon's event socket may join
	// after the first connections on a loaded machine: connect until seen).
	evRe := regexp.MustCompile(`mptcpkit_daemon_pm_events_total\{type="(CREATED|ESTABLISHED)"\} [1-9]`)
	for deadline := time.Now().Add(3 * time.Second); !evRe.MatchString(body); body = scrape() {
		if time.Now().After(deadline) {
			t.Fatalf("no path-manager events counted:\n%s", grepLines(body, "pm_events"))
		}
		b.Do(t, func() error {
			d := net.Dialer{Timeout: 2 * time.Second}
			d.SetMultipathTCP(true)
			c, err := d.Dial("tcp", srv.Addr().String())
			if err != nil {
				return err
			}
			return c.Close()
		})
		time.Sleep(50 * time.Millisecond)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestConflictDetected: a process called mptcpd in the namespace is found
// (by /proc/PID/comm and /proc/PID/ns/net) and the daemon refuses to start;
// one in another namespace does not count.
func TestConflictDetected(t *testing.T) {
	a := nstest.New(t, "a")
	other := nstest.New(t, "other")
	bin := filepath.Join(t.TempDir(), "mptcpd")
	sleep, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, sleep, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(ns *nstest.NS) {
		cmd := ns.Command(bin, "30")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	run(other)
	time.Sleep(100 * time.Millisecond)
	// Only the one in another namespace: no conflict.
	if cs, err := daemon.DetectConflicts(a.FD()); err != nil || len(cs) != 0 {
		t.Fatalf("conflicts with mptcpd in another namespace: %+v %v", cs, err)
	}

	run(a)
	time.Sleep(100 * time.Millisecond)
	err = daemon.Run(context.Background(), daemon.Config{NetNS: a.FD(), StatePath: filepath.Join(t.TempDir(), "s.json")})
	if !errors.Is(err, daemon.ErrConflict) || !strings.Contains(err.Error(), "mptcpd (pid ") {
		t.Fatalf("Run with mptcpd in the namespace = %v", err)
	}
	t.Logf("refusal: %v", err)
}
