package cli

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/pm"
	"golang.org/x/sys/unix"
)

func TestDaemonCheckConfigGolden(t *testing.T) {
	got := transcript(t, nil, [][]string{
		{"daemon", "--check-config", "../../docs/policy.example.toml"},
		{"daemon", "--check-config", "testdata/daemon/bad.toml"},
		{"daemon", "--check-config", "testdata/daemon/unknown-key.toml"},
		{"daemon", "--check-config", "testdata/daemon/missing.toml"},
		{"daemon", "--check-config", "../../docs/policy.example.toml", "--policy", "other.toml"},
		{"-j", "daemon", "--check-config", "testdata/daemon/small.toml"},
		{"daemon", "status", "--state", "testdata/daemon/missing.json"},
	})
	golden(t, "daemon/check-config.txt", got)
}

func TestDaemonHelp(t *testing.T) {
	for _, args := range [][]string{{"daemon", "--help"}, {"daemon", "status", "--help"}} {
		out, _, code := runCLI(context.Background(), args...)
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
}

// TestDaemonCLI runs `mptcpkit -n NS daemon` in-process: endpoints appear,
// `daemon status` explains them, SIGHUP reloads the policy, cancelling (as
// SIGTERM does) removes them.
func TestDaemonCLI(t *testing.T) {
	a, _ := nstest.Pair(t, []nstest.Path{{ClientIf: "mk0", ClientCIDR: "10.83.0.1/24", ServerIf: "mk0", ServerCIDR: "10.83.0.2/24"}})
	dir := t.TempDir()
	state := filepath.Join(dir, "daemon.json")
	pol := filepath.Join(dir, "policy.toml")
	os.WriteFile(pol, []byte("version = 1\n[[rule]]\ninterface = \"mk*\"\nflags = [\"subflow\"]\n"), 0o644)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"-n", a.Name, "daemon", "--policy", pol, "--state", state, "--metrics", ""}, &out, &errb)
	}()
	endpoints := func() string { return strings.TrimSpace(a.Run(t, "ip", "mptcp", "endpoint", "show")) }
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; endpoints: %q", what, endpoints())
			}
		}
	}
	waitFor("subflow endpoint", func() bool { return strings.Contains(endpoints(), "10.83.0.1 id 1 subflow dev mk0") })

	stdout, stderr, code := runCLI(context.Background(), "daemon", "status", "--state", state)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"(running), kernel path manager", "endpoints it manages (1):", "10.83.0.1  id 1  subflow  dev mk0", "in   10.83.0.1", "matched rule at line 2", "out  127.0.0.1", "loopback address", "kernel endpoint table (1 of 8):", "id 1  10.83.0.1  subflow  ours"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, stdout)
		}
	}
	stdout, _, _ = runCLI(context.Background(), "-j", "daemon", "status", "--state", state)
	if !strings.Contains(stdout, `"address": "10.83.0.1"`) {
		t.Errorf("status -j:\n%s", stdout)
	}

	os.WriteFile(pol, []byte("version = 1\n[[rule]]\ninterface = \"mk*\"\nflags = [\"subflow\", \"backup\"]\n"), 0o644)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("backup after SIGHUP", func() bool { return strings.Contains(endpoints(), "subflow backup") })

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon: %v\n%s", err, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("daemon did not stop")
	}
	if got := endpoints(); got != "" {
		t.Errorf("endpoints left after stop: %q", got)
	}
	if s, err := daemon.ReadState(state); err != nil || len(s.Endpoints) != 0 {
		t.Errorf("state after stop: %+v %v", s, err)
	}
}

// TestDaemonHelperProcess is mptcpkit's main when the test binary is run by
// TestDaemonProcess (it does nothing otherwise).
func TestDaemonHelperProcess(t *testing.T) {
	if os.Getenv("MKT_DAEMON_HELPER") != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(Main(args))
}

// TestDaemonProcess runs the daemon as its own process inside a namespace
// (its own namespace: no -n) with CAP_NET_ADMIN as its only capability, as
// the systemd unit does; SIGTERM removes its endpoints.
func TestDaemonProcess(t *testing.T) {
	a, _ := nstest.Pair(t, []nstest.Path{{ClientIf: "mk0", ClientCIDR: "10.85.0.1/24", ServerIf: "mk0", ServerCIDR: "10.85.0.2/24"}})
	dir := t.TempDir()
	state := filepath.Join(dir, "daemon.json")
	var logs bytes.Buffer
	cmd := a.Command("setpriv", "--bounding-set=-all,+net_admin", "--",
		os.Args[0], "-test.run=^TestDaemonHelperProcess$", "--", "-v", "daemon", "--state", state, "--metrics", "127.0.0.1:9808")
	cmd.Env = append(os.Environ(), "MKT_DAEMON_HELPER=1")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("daemon output:\n%s", logs.String())
		}
	}()
	endpoints := func() string { return strings.TrimSpace(a.Run(t, "ip", "mptcp", "endpoint", "show")) }
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(endpoints(), "10.85.0.1 id 1 subflow dev mk0"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no endpoint from the daemon process; endpoints %q", endpoints())
		}
	}
	// Metrics inside its namespace, MPTcpExt read there without setns.
	out := a.Run(t, "python3", "-c", "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9808/metrics').read().decode())")
	if !strings.Contains(out, `mptcpkit_mptcpext_total{counter="MPCapableSYNRX"}`) || !strings.Contains(out, `mptcpkit_endpoints{flag="subflow"} 1`) {
		t.Errorf("metrics:\n%s", out)
	}
	// ip netns exec runs the daemon as a child: signal the daemon itself.
	pid := daemonPID(t, state)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("daemon exit: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("daemon did not exit on SIGTERM")
	}
	if got := endpoints(); got != "" {
		t.Errorf("endpoints left after SIGTERM: %q", got)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged with CAP_NET_ADMIN only:\n%s", logs.String())
	}
}

func daemonPID(t *testing.T, state string) int {
	t.Helper()
	s, err := daemon.ReadState(state)
	if err != nil || s.PID == 0 {
		t.Fatalf("state file: %+v %v", s, err)
	}
	return s.PID
}

func TestDaemonStatusGolden(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &daemon.StateFile{
		Version: 1, PID: 0, NetNS: "net:[4026531840]", Mode: "kernel", Policy: "/etc/mptcpkit/daemon.toml", Updated: at,
		Limits: &pm.Limits{Subflows: 2, AddAddrAccepted: 0},
		Endpoints: []daemon.OwnedEndpoint{
			{ID: 1, Addr: netip.MustParseAddr("192.0.2.1"), Flags: "subflow", IfIndex: 2, Link: "eth0"},
			{ID: 3, Addr: netip.MustParseAddr("198.51.100.7"), Flags: "subflow,backup", IfIndex: 3, Link: "wlan0"},
		},
		Kernel: []daemon.KernelEndpoint{
			{ID: 1, Addr: netip.MustParseAddr("192.0.2.1"), Flags: "subflow", IfIndex: 2, Ours: true},
			{ID: 2, Addr: netip.MustParseAddr("203.0.113.9"), Flags: "signal"},
			{ID: 3, Addr: netip.MustParseAddr("198.51.100.7"), Flags: "subflow,backup", IfIndex: 3, Ours: true},
		},
		Decisions: []daemon.Decision{
			{Addr: netip.MustParseAddr("192.0.2.1"), Link: "eth0", In: true, Flags: "subflow", Reason: `matched rule "wired"`},
			{Addr: netip.MustParseAddr("198.51.100.7"), Link: "wlan0", In: true, Flags: "subflow,backup", Reason: `matched rule "wifi"`},
			{Addr: netip.MustParseAddr("10.9.0.1"), Link: "veth3", Reason: `ignored by rule "virtual"`},
			{Addr: netip.MustParseAddr("fe80::1"), Link: "eth0", Reason: "link-local address"},
			{Addr: netip.MustParseAddr("100.64.0.9"), Link: "wwan0", Reason: "interface has no carrier (oper state lowerlayerdown)"},
		},
		Damping: []daemon.LinkDamping{{Link: "wlan1", Flaps: 3, HoldDown: 2 * time.Second, LastFlap: at, HeldUntil: at.Add(2 * time.Second)}},
		Paths: []daemon.PathQuality{
			{Addr: netip.MustParseAddr("192.0.2.1"), Link: "eth0", Subflows: 2, RTT: 12300 * time.Microsecond, Loss: 9.8, TxBps: 41.5e6, RxBps: 1.2e6,
				Backup: true, Why: "loss 9.8% > 2.0% over 3s"},
			{Addr: netip.MustParseAddr("198.51.100.7"), Link: "wlan0", Subflows: 1, RTT: 31 * time.Millisecond, TxBps: 12e6},
		},
	}
	var b bytes.Buffer
	writeDaemonStatus(&b, s, at.Add(3*time.Second))
	golden(t, "daemon/status.txt", b.String())
}

// TestCheckConfigSIGTERM: --check-config on a file that never ends (a FIFO
// nobody writes to) stops at SIGTERM, as every command does.
func TestCheckConfigSIGTERM(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "policy.toml")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Unblock the reader whatever happens, so no goroutine stays behind.
	defer func() {
		if fd, err := unix.Open(fifo, unix.O_RDWR|unix.O_NONBLOCK, 0); err == nil {
			unix.Close(fd)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"daemon", "--check-config", fifo}, &stdout, &stderr) }()
	time.Sleep(200 * time.Millisecond)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Errorf("Run = %v, want an interruption", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("daemon --check-config still running 5 s after SIGTERM")
	}
}
