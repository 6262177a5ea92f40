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
	return lab.Runner{Exe: cfg.Exe, Env: cfg.ExeEnv}.Command(ns, mode, args...)
}

// runCmd runs cmd to its end; its output goes into the error if it fails.
func runCmd(ctx context.Context, cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := lab.Start(filepath.Base(cmd.Path), cmd)
	if err != nil {
		return err
	}
	err = p.Wait(ctx)
	if err != nil && err != ctx.Err() {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	return err
}

type server struct {
	*lab.Process
	tmpdir string
}

// startServer starts nbdkit's memory plugin on the server's path-1
// address and waits until it listens (it writes its pid file then).
func startServer(ctx context.Context, cfg *Config, st *lab.Testbed, mode string, size int64) (*server, error) {
	dir, err := os.MkdirTemp("", "mptcpkit-nbdkit-")
	if err != nil {
		return nil, err
	}
	pidfile := filepath.Join(dir, "nbdkit.pid")
	cmd := cfg.command(st.Server, mode, "nbdkit", "--foreground", "--exit-with-parent",
		"--ipaddr", st.Paths[0].ServerAddr.String(), "--port", strconv.Itoa(Port), "--pidfile", pidfile,
		"memory", "size="+strconv.FormatInt(size, 10))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := lab.Start("nbdkit", cmd)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &server{Process: p, tmpdir: dir}
	err = s.Ready(ctx, 50*time.Millisecond, 10*time.Second, func() bool {
		_, err := os.Stat(pidfile)
		return err == nil
	})
	if err == nil {
		return s, nil
	}
	s.stop()
	switch {
	case errors.Is(err, lab.ErrExited):
		return nil, fmt.Errorf("nbdkit (%s) exited: %v: %s", mode, s.Err(), bytes.TrimSpace(out.Bytes()))
	case errors.Is(err, lab.ErrNotReady):
		return nil, fmt.Errorf("nbdkit (%s) did not start listening within 10 s: %s", mode, bytes.TrimSpace(out.Bytes()))
	}
	return nil, err
}

// stop ends nbdkit (SIGINT; `mptcpkit run` forwards it).
func (s *server) stop() error {
	defer os.RemoveAll(s.tmpdir)
	return s.Stop()
}
