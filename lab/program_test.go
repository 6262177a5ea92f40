package lab_test

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/lab"
)

func TestRunnerCommand(t *testing.T) {
	r := lab.Runner{Exe: "/x/mptcpkit", Env: []string{"MPTCPKIT_TEST=1"}}
	for _, c := range []struct {
		mode string
		want []string
	}{
		{"tcp", []string{"ip", "netns", "exec", "mk-a-server", "nbdkit", "-f"}},
		{"mptcp", []string{"ip", "netns", "exec", "mk-a-server", "/x/mptcpkit", "run", "--", "nbdkit", "-f"}},
	} {
		cmd := r.Command("mk-a-server", c.mode, "nbdkit", "-f")
		if !slices.Equal(cmd.Args, c.want) {
			t.Errorf("%s: args %q, want %q", c.mode, cmd.Args, c.want)
		}
		if cmd.Env[len(cmd.Env)-1] != "MPTCPKIT_TEST=1" || len(cmd.Env) < 2 {
			t.Errorf("%s: environment %q: not the process's plus MPTCPKIT_TEST=1", c.mode, cmd.Env)
		}
	}
}

func never() bool { return false }

func TestProcessExited(t *testing.T) {
	p, err := lab.Start("false", exec.Command("sh", "-c", "exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Ready(context.Background(), 10*time.Millisecond, 10*time.Second, never)
	var ee *exec.ExitError
	if !errors.Is(err, lab.ErrExited) || !errors.As(p.Err(), &ee) || ee.ExitCode() != 3 {
		t.Errorf("Ready = %v, Err = %v; want ErrExited and exit status 3", err, p.Err())
	}
	if err := p.Stop(); err != nil {
		t.Errorf("Stop after the end = %v", err)
	}
	if _, err := lab.Start("none", exec.Command("/nonexistent/program")); err == nil {
		t.Error("Start of a missing program: no error")
	}
}

func TestProcessReadyStop(t *testing.T) {
	p, err := lab.Start("sleep", exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Wait(canceled())
	start := time.Now()
	if err := p.Ready(context.Background(), 10*time.Millisecond, 100*time.Millisecond, never); !errors.Is(err, lab.ErrNotReady) || time.Since(start) < 100*time.Millisecond {
		t.Errorf("Ready = %v after %v; want ErrNotReady after 100ms", err, time.Since(start))
	}
	calls := 0
	if err := p.Ready(context.Background(), time.Millisecond, time.Second, func() bool { calls++; return calls == 3 }); err != nil || calls != 3 {
		t.Errorf("Ready = %v after %d calls; want nil after 3", err, calls)
	}
	if err := p.Ready(canceled(), time.Millisecond, time.Second, never); !errors.Is(err, context.Canceled) {
		t.Errorf("Ready with a canceled context = %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("Stop = %v", err)
	}
	select {
	case <-p.Exited():
	default:
		t.Error("not exited after Stop")
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestProcessWait(t *testing.T) {
	p, err := lab.Start("sleep", exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) || p.Err() == nil {
		t.Errorf("Wait = %v (Err %v); want the context's deadline and a killed process", err, p.Err())
	}
	q, err := lab.Start("true", exec.Command("true"))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(context.Background()); err != nil {
		t.Errorf("Wait for true = %v", err)
	}
}

// TestProcessStopKills: a program that ignores SIGINT is killed after 5 s,
// and Stop says so by its name.
func TestProcessStopKills(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 5 s")
	}
	cmd := exec.Command("sh", "-c", `trap "" INT; echo ready; exec sleep 60`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := lab.Start("stubborn", cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Wait(canceled())
	// once it says ready, SIGINT is ignored (and stays so across exec)
	if _, err := out.Read(make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "stubborn did not stop on SIGINT") {
		t.Errorf("Stop = %v", err)
	}
	if p.Err() == nil {
		t.Error("still running after Stop")
	}
}
