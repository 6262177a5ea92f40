package force

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/mptcpkit/mptcpkit/force/seccomp"
	"golang.org/x/sys/unix"
)

// KeeperEnv marks the re-executed mptcpkit as the keeper of a seccomp run:
// "LISTENER_FD:MEMFD:PPID".
const KeeperEnv = "MPTCPKIT_RUN_KEEPER"

// IsKeeper reports whether this process was started as the keeper.
func IsKeeper() bool { return os.Getenv(KeeperEnv) != "" }

// Keeper is the keeper's whole life (see seccomp.Keep): it returns the
// exit status.
func Keeper() (int, error) {
	spec := os.Getenv(KeeperEnv)
	os.Unsetenv(KeeperEnv)
	f := strings.Split(spec, ":")
	bad := fmt.Errorf("bad keeper invocation %q (this is internal to `mptcpkit run`)", spec)
	if len(f) != 3 {
		return 2, bad
	}
	var n [3]int
	for i := range f {
		v, err := strconv.Atoi(f[i])
		if err != nil {
			return 2, bad
		}
		n[i] = v
	}
	// Signals are for the command and the supervisor; the terminal's
	// (Ctrl-C, hangup) must not take the keeper away from the programs.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGTSTP)
	mem, err := unix.Mmap(n[1], 0, 8, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 1, fmt.Errorf("map the supervisor's notification id: %w", err)
	}
	unix.Close(n[1])
	last := (*atomic.Uint64)(unsafe.Pointer(&mem[0]))
	if err := seccomp.Keep(n[0], n[2], last); err != nil {
		return 1, err
	}
	return 0, nil
}

// keeper is the supervisor's side: the shared id and the process.
type keeper struct {
	mem  []byte
	cmd  *exec.Cmd
	last *atomic.Uint64
}

// startKeeper starts the keeper of listener lfd with a page it shares with
// this process, where the supervisor writes each notification id.
func startKeeper(self string, args, env []string, lfd int) (*keeper, error) {
	mfd, err := unix.MemfdCreate("mptcpkit-run-id", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mf := os.NewFile(uintptr(mfd), "mptcpkit-run-id")
	defer mf.Close()
	if err := unix.Ftruncate(mfd, 8); err != nil {
		return nil, fmt.Errorf("ftruncate memfd: %w", err)
	}
	mem, err := unix.Mmap(mfd, 0, 8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap memfd: %w", err)
	}
	ldup, err := unix.FcntlInt(uintptr(lfd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	lf := os.NewFile(uintptr(ldup), "seccomp-listener")
	defer lf.Close()
	cmd := &exec.Cmd{
		Path:        self,
		Args:        args,
		Env:         append(withoutShimEnv(env), fmt.Sprintf("%s=3:4:%d", KeeperEnv, os.Getpid())),
		ExtraFiles:  []*os.File{lf, mf},
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("start keeper: %w", err)
	}
	return &keeper{mem: mem, cmd: cmd, last: (*atomic.Uint64)(unsafe.Pointer(&mem[0]))}, nil
}

func (k *keeper) pid() int { return k.cmd.Process.Pid }

func (k *keeper) close() {
	unix.Munmap(k.mem)
}
