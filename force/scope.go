package force

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/mptcpkit/mptcpkit/force/bpfprog"
	"github.com/mptcpkit/mptcpkit/force/cgroup"
)

// Scope says which already running (or later started) processes `mptcpkit
// force` turns onto MPTCP.
type Scope struct {
	// Comms are task names as the kernel stores them (/proc/PID/comm): at
	// most bpfprog.CommLen-1 (15) bytes; longer names are truncated the way
	// the kernel truncates them, see LongComms.
	Comms []string
	// Cgroup is a cgroup v2 path as /proc/PID/cgroup shows it (e.g.
	// /system.slice/redis-server.service); its descendants are included.
	Cgroup string
}

// LongComms returns the names in s the kernel would have truncated.
func (s Scope) LongComms() []string {
	var long []string
	for _, c := range s.Comms {
		if len(c) > bpfprog.CommLen-1 {
			long = append(long, c)
		}
	}
	return long
}

// ErrRefused is wrapped by Force when the kernel refuses the BPF program;
// Run with Method Seccomp works there for programs you start yourself.
// Its text names no command: the CLI names `mptcpkit run`.
var ErrRefused = errors.New("for programs you start yourself, use the seccomp method instead (no BPF needed)")

// Force puts scope into the shared BPF program and keeps it there until ctx
// is done. ready, if not nil, is called once the scope is active.
func Force(ctx context.Context, s Scope, pinDir string, log *slog.Logger, ready func()) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(s.Comms) == 0 && s.Cgroup == "" {
		return errors.New("nothing to force: give process names or a cgroup")
	}
	var cgID uint64
	if s.Cgroup != "" {
		root, err := cgroup.Root()
		if err != nil {
			return err
		}
		dir, err := cgroup.Resolve(root, s.Cgroup)
		if err != nil {
			return err
		}
		if cgID, err = cgroup.ID(dir); err != nil {
			return err
		}
		log.Debug("cgroup", "dir", dir, "id", cgID)
	}
	sh, err := bpfprog.OpenShared(pinDir)
	if err != nil {
		if errors.Is(err, bpfprog.ErrNotSupported) {
			return fmt.Errorf("force needs BPF: %v.\n%w", err, ErrRefused)
		}
		return err
	}
	defer sh.Close()
	for _, c := range s.Comms {
		if err := sh.AddComm(c); err != nil {
			return err
		}
	}
	if cgID != 0 {
		if err := sh.AddCgroup(cgID); err != nil {
			return err
		}
	}
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	return nil
}
