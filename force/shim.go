package force

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/mptcpkit/mptcpkit/force/seccomp"
	"golang.org/x/sys/unix"
)

// ShimEnv marks the re-executed mptcpkit as the shim: "MODE:FD:PPID" where
// MODE is "seccomp" or "plain", FD the unix socket to send the listener on
// and PPID the supervisor's pid.
const ShimEnv = "MPTCPKIT_RUN_SHIM"

// IsShim reports whether this process was started as the shim.
func IsShim() bool { return os.Getenv(ShimEnv) != "" }

// Shim is the shim's whole life: args are PATH ARGV0 ARGS...; it installs
// the seccomp filter (in seccomp mode), hands the listener to the
// supervisor and execs PATH. It returns only on failure, with the exit
// status to use (126 as shells do for a command that cannot be executed).
func Shim(args []string) (int, error) {
	spec := os.Getenv(ShimEnv)
	os.Unsetenv(ShimEnv)
	f := strings.Split(spec, ":")
	if len(f) != 3 || len(args) < 2 {
		return 126, fmt.Errorf("bad shim invocation %q (this is internal to `mptcpkit run`)", spec)
	}
	mode := f[0]
	fd, err1 := strconv.Atoi(f[1])
	ppid, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return 126, fmt.Errorf("bad shim invocation %q (this is internal to `mptcpkit run`)", spec)
	}
	if n, err := strconv.Atoi(os.Getenv("LISTEN_FDS")); err == nil && n > 0 {
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	}
	runtime.LockOSThread() // the filter and the exec must be on this thread
	// The parent-death signal is per thread and this may not be the thread
	// the supervisor forked: execve from here makes this thread the process,
	// so set it here, then make sure the supervisor did not die meanwhile.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return 126, fmt.Errorf("prctl(PR_SET_PDEATHSIG): %w", err)
	}
	if unix.Getppid() != ppid {
		return 126, errors.New("the supervisor exited before the command started")
	}
	unix.CloseOnExec(fd)
	if mode == "seccomp" {
		lfd, err := seccomp.Install()
		if err != nil {
			return 126, fmt.Errorf("install seccomp filter: %w; try --method bpf where the kernel allows it", err)
		}
		if err := unix.Sendmsg(fd, []byte{0}, unix.UnixRights(lfd), nil, 0); err != nil {
			return 126, fmt.Errorf("send seccomp listener to the supervisor: %w", err)
		}
		unix.Close(lfd)
	}
	unix.Close(fd)
	err := syscall.Exec(args[0], args[1:], os.Environ())
	code := 126
	if errors.Is(err, syscall.ENOENT) {
		code = 127
	}
	return code, fmt.Errorf("exec %s: %w", args[0], err)
}
