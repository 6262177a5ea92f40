package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mptcpkit/mptcpkit/lab"
)

// command runs args in namespace ns, under `mptcpkit run` for mode mptcp.
func (cfg *Config) command(ns, mode string, args ...string) *exec.Cmd {
	all := []string{"netns", "exec", ns}
	if mode == "mptcp" {
		all = append(all, cfg.Exe, "run", "--")
	}
	cmd := exec.Command("ip", append(all, args...)...)
	cmd.Env = append(os.Environ(), cfg.ExeEnv...)
	return cmd
}

// runCmd runs cmd to its end; its output goes into the error if it fails.
func runCmd(ctx context.Context, cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out.Bytes()))
		}
		return nil
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return ctx.Err()
	}
}

type server struct {
	cmd    *exec.Cmd
	done   chan error
	out    *bytes.Buffer
	tmpdir string
}

// startServer starts nbdkit's memory plugin on the server's path-1
// address and waits until it listens (it writes its pid file then).
func startServer(ctx context.Context, cfg *Config, st *lab.State, mode string, size int64) (*server, error) {
	dir, err := os.MkdirTemp("", "mptcpkit-nbdkit-")
	if err != nil {
		return nil, err
	}
	pidfile := filepath.Join(dir, "nbdkit.pid")
	cmd := cfg.command(st.Server, mode, "nbdkit", "--foreground", "--exit-with-parent",
		"--ipaddr", st.Paths[0].ServerAddr.String(), "--port", strconv.Itoa(Port), "--pidfile", pidfile,
		"memory", "size="+strconv.FormatInt(size, 10))
	s := &server{cmd: cmd, done: make(chan error, 1), out: &bytes.Buffer{}, tmpdir: dir}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	go func() { s.done <- cmd.Wait() }()
	deadline := time.After(10 * time.Second)
	for {
		if _, err := os.Stat(pidfile); err == nil {
			return s, nil
		}
		select {
		case err := <-s.done:
			s.done <- err
			s.stop()
			return nil, fmt.Errorf("nbdkit (%s) exited: %v: %s", mode, err, bytes.TrimSpace(s.out.Bytes()))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-deadline:
			s.stop()
			return nil, fmt.Errorf("nbdkit (%s) did not start listening within 10 s: %s", mode, bytes.TrimSpace(s.out.Bytes()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends nbdkit (SIGINT; `mptcpkit run` forwards it).
func (s *server) stop() error {
	defer os.RemoveAll(s.tmpdir)
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
		return nil
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return errors.New("nbdkit did not stop on SIGINT")
	}
}
