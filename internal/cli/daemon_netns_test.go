package cli

import (
	"bytes"
	"context"
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
	a := nstest.New(t, "a")
	b := nstest.New(t, "b")
	nstest.Link(t, a, "mk0", "10.89.0.1/24", b, "mk0", "10.89.0.2/24")
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
