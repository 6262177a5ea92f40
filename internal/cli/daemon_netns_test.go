package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// TestDaemonTwoNamespaces: two daemon processes started inside two
// namespaces (`ip netns exec`, no -n, no --state) run side by side, each
// with its own default state file, and `daemon status -n NS` finds each
// one's. (Both used /run/mptcpkit/daemon.json before.)
func TestDaemonTwoNamespaces(t *testing.T) {
	a, b := nstest.Pair(t, []nstest.Path{{ClientIf: "mk0", ClientCIDR: "10.89.0.1/24", ServerIf: "mk0", ServerCIDR: "10.89.0.2/24"}})
	type proc struct {
		ns    *nstest.NS
		cmd   *exec.Cmd
		logs  bytes.Buffer
		state string
		done  chan error
	}
	var procs []*proc
	for _, ns := range []*nstest.NS{a, b} {
		p := &proc{ns: ns, done: make(chan error, 1)}
		p.cmd = ns.Command(os.Args[0], "-test.run=^TestDaemonHelperProcess$", "--", "-v", "daemon", "--metrics", "")
		p.cmd.Env = append(os.Environ(), "MKT_DAEMON_HELPER=1")
		p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.done <- p.cmd.Wait() }()
		var err error
		f, err := os.Open("/run/netns/" + ns.Name)
		if err != nil {
			t.Fatal(err)
		}
		p.state, err = daemon.StatePathFor(int(f.Fd()))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
		t.Cleanup(func() {
			if s, err := daemon.ReadState(p.state); err == nil && s.PID > 0 {
				syscall.Kill(s.PID, syscall.SIGTERM)
			}
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				p.cmd.Process.Kill()
				<-p.done
			}
			os.Remove(p.state)
			if t.Failed() {
				t.Logf("daemon in %s:\n%s", p.ns.Name, p.logs.String())
			}
		})
	}
	if procs[0].state == procs[1].state {
		t.Fatalf("both namespaces map to %s", procs[0].state)
	}
	for i, want := range []string{"10.89.0.1", "10.89.0.2"} {
		p := procs[i]
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			out, _, code := runCLI(context.Background(), "-n", p.ns.Name, "daemon", "status")
			if code == 0 && strings.Contains(out, want+"  id ") && strings.Contains(out, "(running)") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("daemon status -n %s:\n%s", p.ns.Name, out)
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("daemon in %s exited: %v", p.ns.Name, err)
		default:
		}
	}
}

// TestDaemonNetNSFix: `daemon -n NS` in a namespace with
// net.mptcp.enabled=0 logs the fix for that namespace ("ip netns exec NS
// sysctl -w net.mptcp.enabled=1"), not a host-wide sysctl, and with -j the
// log line is JSON.
func TestDaemonNetNSFix(t *testing.T) {
	ns := nstest.New(t, "dfix")
	ns.Sysctl(t, "net.mptcp.enabled", "0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs lockedWriter
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"-n", ns.Name, "-j", "daemon", "--metrics", "", "--state", t.TempDir() + "/d.json"}, io.Discard, &logs)
	}()
	var line map[string]any
	for deadline := time.Now().Add(5 * time.Second); line == nil; time.Sleep(50 * time.Millisecond) {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "net.mptcp.enabled") {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatalf("log line is not JSON: %v: %s", err, l)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no net.mptcp.enabled warning in 5 s; logs:\n%s", logs.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("daemon: %v", err)
	}
	if want := "ip netns exec " + ns.Name + " sysctl -w net.mptcp.enabled=1"; line["fix"] != want {
		t.Errorf("fix = %q, want %q (the namespace's, not host-wide)", line["fix"], want)
	}
}
