package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

func TestDaemonCheckConfigGolden(t *testing.T) {
	got := transcript(t, nil, [][]string{
		{"daemon", "--check-config", "../../docs/policy.example.toml"},
		{"daemon", "--check-config", "testdata/daemon/bad.toml"},
		{"daemon", "--check-config", "testdata/daemon/unknown-key.toml"},
		{"daemon", "--check-config", "testdata/daemon/missing.toml"},
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
	a := nstest.New(t, "a")
	b := nstest.New(t, "b")
	nstest.Link(t, a, "mk0", "10.83.0.1/24", b, "mk0", "10.83.0.2/24")
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
	for _, want := range []string{"(running), kernel path manager", "endpoints it manages (1):", "10.83.0.1  id 1  subflow  dev mk0", "in   10.83.0.1", "matched rule at line 2", "out  127.0.0.1", "loopback address"} {
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
