package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// Runner makes the commands a lab scenario runs in the lab's namespaces
// (kvbench's redis-server and redis-benchmark, storage's nbdkit and fio):
// `ip netns exec NS PROG ARGS`, and for mode "mptcp"
// `ip netns exec NS EXE run -- PROG ARGS`, which forces PROG onto MPTCP.
type Runner struct {
	Exe string   // the mptcpkit executable
	Env []string // added to the commands' environment (tests)
}

// Command returns the command that runs args in namespace ns, under
// `mptcpkit run` for mode "mptcp".
func (r Runner) Command(ns, mode string, args ...string) *exec.Cmd {
	all := []string{"netns", "exec", ns}
	if mode == "mptcp" {
		all = append(all, r.Exe, "run", "--")
	}
	cmd := exec.Command("ip", append(all, args...)...)
	cmd.Env = append(os.Environ(), r.Env...)
	return cmd
}

// Process is a command started in the background whose end is watched:
// a scenario's server, or a client it waits for.
type Process struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // cmd.Wait's; set before exited is closed
}

// Start starts cmd (with its Stdout and Stderr as the caller set them);
// name is what Stop's error calls it.
func Start(name string, cmd *exec.Cmd) (*Process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{name: name, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Exited is closed once the process has ended; Err then says how.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is how the process ended (as exec.Cmd.Wait reports it), once
// Exited is closed; nil before.
func (p *Process) Err() error {
	select {
	case <-p.exited:
		return p.err
	default:
		return nil
	}
}

// Wait waits for the process to end and returns Err. If ctx ends first, it
// kills the process and returns ctx.Err().
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.exited:
		return p.err
	case <-ctx.Done():
		p.cmd.Process.Kill()
		<-p.exited
		return ctx.Err()
	}
}

// ErrExited and ErrNotReady are what [Process.Ready] returns when the
// process ended, or did not get ready in time.
var (
	ErrExited   = errors.New("exited")
	ErrNotReady = errors.New("not ready")
)

// Ready calls ready until it reports true, every interval: for a server to
// listen or answer. It fails with [ErrExited] if the process ends first
// ([Process.Err] says how), with [ErrNotReady] once timeout has passed,
// and with ctx.Err() if ctx ends; the process keeps running (Stop ends it).
func (p *Process) Ready(ctx context.Context, interval, timeout time.Duration, ready func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if ready() {
			return nil
		}
		select {
		case <-p.exited:
			return ErrExited
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return ErrNotReady
		case <-time.After(interval):
		}
	}
}

// Stop ends the process with SIGINT (`ip netns exec` has exec'd into its
// command, and `mptcpkit run` forwards the signal) and waits for it; one
// that is still there after 5 s is killed, and Stop says so. Stopping a
// process that has ended already returns nil.
func (p *Process) Stop() error {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
		return nil
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop on SIGINT", p.name)
	}
}
