package force

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mptcpkit/mptcpkit/force/bpfprog"
	"github.com/mptcpkit/mptcpkit/force/cgroup"
	"github.com/mptcpkit/mptcpkit/force/seccomp"
	"github.com/mptcpkit/mptcpkit/internal/proc"
	"github.com/mptcpkit/mptcpkit/netns"
	"golang.org/x/sys/unix"
)

// Method selects how sockets are forced.
type Method string

// Methods.
const (
	Auto    Method = "auto"    // BPF where the kernel allows it, else seccomp
	BPF     Method = "bpf"     // fmod_ret on update_socket_protocol, scoped by cgroup
	Seccomp Method = "seccomp" // seccomp user notification on socket(2)
)

// ParseMethod parses "auto", "bpf" or "seccomp".
func ParseMethod(s string) (Method, error) {
	switch m := Method(strings.ToLower(s)); m {
	case Auto, BPF, Seccomp:
		return m, nil
	}
	return "", fmt.Errorf("unknown method %q (want auto, bpf or seccomp)", s)
}

// Config says what to run and how.
type Config struct {
	Method Method   // "" means Auto
	Args   []string // the command and its arguments; Args[0] is looked up in PATH
	Env    []string // nil: the current environment
	// Standard streams; nil means /dev/null.
	Stdin, Stdout, Stderr *os.File
	// NetNS, when set, starts the command inside this network namespace.
	NetNS *netns.NetNS
	// Signals are forwarded to the command while it runs, and to every
	// remaining descendant after it has exited.
	Signals <-chan os.Signal
	// Foreground says the command shares a terminal's foreground process
	// group with us: the terminal sends it SIGINT and SIGQUIT itself, so
	// those are forwarded only after it has exited (to what it left).
	Foreground bool
	// Logger gets progress and the method decision (Debug); nil: none.
	Logger *slog.Logger
	// Self is the executable re-executed as the shim and the keeper; "" =
	// /proc/self/exe. It must call [Shim] when [ShimEnv] is set and [Keeper]
	// when [KeeperEnv] is set (mptcpkit's main does).
	Self string
	// SelfArgs is the argv Self is started with, argv[0] included, before
	// the shim's PATH ARGV0 ARGS... (what ps shows; the shim and keeper are
	// recognised by their environment); nil = {Self}.
	SelfArgs []string
	// PinDir is where the shared BPF program is pinned; "" = bpfprog.PinDir.
	PinDir string
}

// Result is how a run ended.
type Result struct {
	Method   Method // the method used
	Reason   string // why (for Auto)
	ExitCode int    // the command's exit status, or 128+signal
	Signal   syscall.Signal
	Forced   uint64 // sockets turned into MPTCP (seccomp method only)
	Fallback uint64 // sockets left as TCP because MPTCP could not be created (seccomp)
}

// ErrNotFound is wrapped when the command cannot be found (exit status 127
// by convention).
var ErrNotFound = errors.New("command not found")

// ErrCgroupHidden is wrapped by Run's error when the BPF method finds no
// cgroup v2 file system, which `ip netns exec` hides; Config.NetNS enters
// the namespace without remounting /sys. Its text names no command: the
// CLI names `mptcpkit -n NETNS run`.
var ErrCgroupHidden = errors.New("under `ip netns exec` /sys is remounted without it: enter the namespace with Config.NetNS instead")

// Run runs cfg.Args with their TCP sockets forced onto MPTCP and waits for
// the command and every process it left behind. When ctx is done, all of
// them are killed. See the package documentation for how it works.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path, err := lookCommand(cfg.Args)
	if err != nil {
		return nil, err
	}
	res, sh, err := chooseMethod(cfg)
	if err != nil {
		return nil, err
	}
	log.Debug("forcing MPTCP", "method", res.Method, "reason", res.Reason)
	if sh != nil {
		defer func() {
			if err := sh.Close(); err != nil {
				log.Warn("release shared BPF program", "err", err)
			}
		}()
	}

	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}

	l := newLaunch(cfg, path)
	defer l.close()
	if res.Method == Seccomp {
		if err := l.addShimSocket(); err != nil {
			return nil, err
		}
	}
	l.setShimEnv()
	var cgDir string
	if sh != nil {
		if cgDir, err = l.intoCgroup(sh, log); err != nil {
			return nil, err
		}
	}
	if err := l.start(cfg.NetNS); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Args[0], err)
	}
	sv := l.superviseSeccomp(log)
	if err := waitAll(ctx, cfg, l.cmd.Process.Pid, cgDir, res, log); err != nil {
		return nil, err
	}
	if sv != nil {
		<-sv.done
		res.Forced, res.Fallback = sv.sup.Stats.Forced, sv.sup.Stats.Fallback
	}
	return res, nil
}

// lookCommand finds the command args[0] in PATH, as an absolute path.
func lookCommand(args []string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("no command to run")
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		return "", fmt.Errorf("%s: %w", args[0], ErrNotFound)
	}
	return filepath.Abs(path)
}

// chooseMethod decides how the run forces sockets (cfg.Method, and for
// Auto what the kernel allows) and why; for BPF it opens the shared
// program, which the caller closes.
func chooseMethod(cfg Config) (*Result, *bpfprog.Shared, error) {
	res := &Result{}
	var sh *bpfprog.Shared
	var err error
	// The BPF method scopes by cgroup v2; `ip netns exec` remounts /sys and
	// hides it, for example.
	_, cgErr := cgroup.Root()
	if cgErr != nil {
		cgErr = fmt.Errorf("%w (%w)", cgErr, ErrCgroupHidden)
	}
	// The BPF program cannot fall back per socket as the seccomp supervisor
	// does: with MPTCP disabled, socket(2) would fail with ENOPROTOOPT.
	mpErr := mptcpDisabled(cfg.NetNS)
	switch cfg.Method {
	case "", Auto:
		if mpErr != nil {
			res.Method, res.Reason = Seccomp, fmt.Sprintf("BPF is not usable: %v", mpErr)
			break
		}
		if cgErr != nil {
			if perr := bpfprog.Probe(); perr != nil {
				cgErr = perr // the more fundamental reason
			}
			res.Method, res.Reason = Seccomp, fmt.Sprintf("BPF is not usable: %v", cgErr)
			break
		}
		sh, err = bpfprog.OpenShared(cfg.PinDir)
		if err != nil {
			res.Method, res.Reason = Seccomp, fmt.Sprintf("BPF is not usable: %v", err)
		} else {
			res.Method, res.Reason = BPF, "the kernel allows the fmod_ret program on update_socket_protocol"
		}
	case BPF:
		if cgErr != nil {
			if perr := bpfprog.Probe(); perr != nil {
				cgErr = perr // the more fundamental reason
			}
		}
		if cgErr != nil {
			err = cgErr
		} else if mpErr != nil {
			return nil, nil, fmt.Errorf("--method bpf: %w; enable it (sysctl -w net.mptcp.enabled=1) or use --method seccomp (or auto), which falls back to TCP", mpErr)
		} else {
			sh, err = bpfprog.OpenShared(cfg.PinDir)
		}
		if err != nil {
			if errors.Is(err, bpfprog.ErrNotSupported) {
				return nil, nil, fmt.Errorf("--method bpf: %w; use --method seccomp (or auto), which needs no BPF", err)
			}
			return nil, nil, fmt.Errorf("--method bpf: %w", err)
		}
		res.Method, res.Reason = BPF, "requested"
	case Seccomp:
		res.Method, res.Reason = Seccomp, "requested"
	default:
		return nil, nil, fmt.Errorf("unknown method %q (want auto, bpf or seccomp)", cfg.Method)
	}
	return res, sh, nil
}

// launch is the shim's start: the command that re-executes Self as the
// shim, and what must be released when the run ends (in reverse order).
type launch struct {
	cmd        *exec.Cmd
	self       string
	selfArgs   []string
	env        []string
	nListen    int      // systemd socket-activation descriptors passed through
	mode       string   // the shim's: "plain" or "seccomp"
	parentSock *os.File // seccomp: our end of the shim's socket
	cleanups   []func()
}

// newLaunch prepares the shim's command for the command at path.
func newLaunch(cfg Config, path string) *launch {
	l := &launch{self: cfg.Self, selfArgs: cfg.SelfArgs, env: cfg.Env, mode: "plain"}
	if l.self == "" {
		l.self = "/proc/self/exe"
	}
	if len(l.selfArgs) == 0 {
		l.selfArgs = []string{l.self}
	}
	l.selfArgs = l.selfArgs[:len(l.selfArgs):len(l.selfArgs)] // appends copy
	if l.env == nil {
		l.env = os.Environ()
	}
	l.cmd = &exec.Cmd{
		Path:   l.self,
		Args:   append(append(l.selfArgs, path), cfg.Args...),
		Stdin:  cfg.Stdin,
		Stdout: cfg.Stdout,
		Stderr: cfg.Stderr,
		// The command dies with us rather than running on unforced.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	// systemd socket activation: pass LISTEN_FDS through at their numbers.
	if n, err := strconv.Atoi(os.Getenv("LISTEN_FDS")); err == nil && n > 0 && os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) {
		l.nListen = n
		for i := 0; i < n; i++ {
			l.cmd.ExtraFiles = append(l.cmd.ExtraFiles, os.NewFile(uintptr(3+i), "listen-fd"))
		}
	}
	return l
}

// close releases what the launch holds, last first.
func (l *launch) close() {
	for i := len(l.cleanups) - 1; i >= 0; i-- {
		l.cleanups[i]()
	}
}

// addShimSocket gives the shim the unix socket it sends the seccomp
// listener over (seccomp mode).
func (l *launch) addShimSocket() error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	l.parentSock = os.NewFile(uintptr(fds[0]), "shim-parent")
	childSock := os.NewFile(uintptr(fds[1]), "shim-child")
	l.cleanups = append(l.cleanups, func() { l.parentSock.Close() }, func() { childSock.Close() })
	l.cmd.ExtraFiles = append(l.cmd.ExtraFiles, childSock)
	l.mode = "seccomp"
	return nil
}

// setShimEnv tells the re-executed Self it is the shim: its mode, the
// descriptor of its socket and our pid.
func (l *launch) setShimEnv() {
	l.cmd.Env = append(withoutShimEnv(l.env), fmt.Sprintf("%s=%s:%d:%d", ShimEnv, l.mode, 3+l.nListen, os.Getpid()))
}

// intoCgroup makes the run's cgroup, adds it to the shared BPF program's
// scope and has the shim start inside it; the cgroup is removed when the
// launch is closed.
func (l *launch) intoCgroup(sh *bpfprog.Shared, log *slog.Logger) (string, error) {
	cgDir, err := runCgroup()
	if err != nil {
		return "", err
	}
	l.cleanups = append(l.cleanups, func() {
		if err := cgroup.Remove(cgDir); err != nil {
			log.Warn("remove run cgroup", "err", err)
		}
	})
	id, err := cgroup.ID(cgDir)
	if err != nil {
		return "", err
	}
	if err := sh.AddCgroup(id); err != nil {
		return "", err
	}
	cgf, err := os.Open(cgDir)
	if err != nil {
		return "", err
	}
	l.cleanups = append(l.cleanups, func() { cgf.Close() })
	l.cmd.SysProcAttr.UseCgroupFD = true
	l.cmd.SysProcAttr.CgroupFD = int(cgf.Fd())
	log.Debug("run cgroup", "dir", cgDir, "id", id)
	return cgDir, nil
}

// start starts the shim (inside ns when set) and closes our copies of the
// descriptors only it needs.
func (l *launch) start(ns *netns.NetNS) error {
	start := l.cmd.Start
	if ns != nil {
		start = func() error { return ns.Do(l.cmd.Start) }
	}
	if err := start(); err != nil {
		return err
	}
	for _, f := range l.cmd.ExtraFiles[l.nListen:] {
		f.Close() // our copy of the shim's end
	}
	return nil
}

// supervision is the seccomp supervisor serving the shim's filter.
type supervision struct {
	sup  seccomp.Supervisor
	done chan struct{} // closed when it has stopped serving
}

// superviseSeccomp receives the filter's listener from the shim and serves
// it, with a keeper that answers for us should we be killed; nil when
// there is no filter (plain mode, or the shim failed before installing
// it: it said why on stderr and its exit status is reported).
func (l *launch) superviseSeccomp(log *slog.Logger) *supervision {
	if l.parentSock == nil {
		return nil
	}
	lfd, err := recvFD(l.parentSock)
	if err != nil {
		log.Debug("no seccomp listener from the shim", "err", err)
		return nil
	}
	sv := &supervision{done: make(chan struct{})}
	sv.sup.Logger = log
	// Without a keeper, a SIGKILL of this process closes the listener and
	// every TCP socket(2) of what the command left running fails with
	// ENOSYS.
	var keep *keeper
	if k, err := startKeeper(l.self, l.selfArgs, l.env, lfd); err != nil {
		log.Warn("no keeper: if mptcpkit is killed, what the command started gets ENOSYS from socket()", "err", err)
	} else {
		keep = k
		l.cleanups = append(l.cleanups, keep.close)
		sv.sup.Received = keep.last
		log.Debug("keeper started", "pid", keep.pid())
	}
	go func() {
		defer close(sv.done)
		if keep != nil {
			// No process uses the filter any more: nothing for the keeper
			// to keep. Do not wait for it to notice.
			defer keep.cmd.Process.Kill()
		}
		defer unix.Close(lfd)
		if err := sv.sup.Serve(context.Background(), lfd); err != nil {
			log.Warn("seccomp supervisor", "err", err)
		}
	}()
	return sv
}

// waitAll reaps every child until none is left, recording the command's
// (pid's) exit in res, while forwardSignals passes signals on and kills
// everything when ctx is done.
func waitAll(ctx context.Context, cfg Config, pid int, cgDir string, res *Result, log *slog.Logger) error {
	var mainAlive atomic.Bool
	mainAlive.Store(true)
	reapDone := make(chan struct{})
	defer close(reapDone)
	go forwardSignals(ctx, cfg, pid, cgDir, &mainAlive, reapDone)
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ECHILD) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		if wpid == pid {
			switch {
			case ws.Exited():
				res.ExitCode = ws.ExitStatus()
			case ws.Signaled():
				res.Signal = ws.Signal()
				res.ExitCode = 128 + int(ws.Signal())
			}
			mainAlive.Store(false)
			// children() reads every /proc/PID/stat: only for the log.
			if log.Enabled(context.Background(), slog.LevelDebug) {
				if n := len(children()); n > 0 {
					log.Debug("command exited; waiting for the processes it left", "status", res.ExitCode, "processes", n)
				}
			}
		}
	}
}

// forwardSignals sends each of cfg.Signals to the command while it runs
// (but not SIGINT/SIGQUIT the terminal delivered itself), then to every
// process it left; when ctx is done it kills them all. It returns when
// reapDone is closed.
func forwardSignals(ctx context.Context, cfg Config, pid int, cgDir string, mainAlive *atomic.Bool, reapDone <-chan struct{}) {
	for {
		select {
		case <-reapDone:
			return
		case sig := <-cfg.Signals:
			s, ok := sig.(syscall.Signal)
			if !ok {
				continue
			}
			alive := mainAlive.Load()
			if alive && cfg.Foreground && (s == syscall.SIGINT || s == syscall.SIGQUIT) {
				continue // the terminal delivered it already
			}
			if alive {
				unix.Kill(pid, s)
			} else {
				for _, c := range children() {
					unix.Kill(c, s)
				}
			}
		case <-ctx.Done():
			for _, c := range children() {
				unix.Kill(c, syscall.SIGKILL)
			}
			if cgDir != "" {
				cgroup.Kill(cgDir)
			}
			select {
			case <-reapDone:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// children lists the pids whose parent is this process.
func children() []int {
	me := os.Getpid()
	// /proc/PID/task/TID/children is only exact with CONFIG_PROC_CHILDREN;
	// scan /proc instead.
	pids, _ := proc.Find(func(pid int) bool {
		st, err := proc.ReadStat(pid)
		return err == nil && st.PPID == me
	})
	return pids
}

// runCgroup makes the cgroup for a BPF run under this process's own cgroup
// (so a systemd service keeps its processes in its unit's cgroup).
func runCgroup() (string, error) {
	root, err := cgroup.Root()
	if err != nil {
		return "", err
	}
	own, err := cgroup.Of(0)
	if err != nil {
		return "", err
	}
	// Remove what runs killed with SIGKILL left: empty run cgroups whose
	// supervisor is gone.
	stale, _ := filepath.Glob(filepath.Join(root, own, "mptcpkit-run-*"))
	for _, d := range stale {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "mptcpkit-run-"))
		if err != nil || unix.Kill(pid, 0) != unix.ESRCH {
			continue
		}
		if procs, err := cgroup.Procs(d); err == nil && len(procs) == 0 {
			cgroup.Remove(d)
		}
	}
	dir := filepath.Join(root, own, fmt.Sprintf("mptcpkit-run-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("make run cgroup: %w", err)
	}
	return dir, nil
}

func withoutShimEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, ShimEnv+"=") {
			out = append(out, kv)
		}
	}
	return out
}

func recvFD(sock *os.File) (int, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, err
	}
	if n == 0 && oobn == 0 {
		return -1, errors.New("shim exited before sending the seccomp listener")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("bad control message from the shim: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, fmt.Errorf("bad descriptors from the shim: %v", err)
	}
	return fds[0], nil
}

// mptcpDisabled returns an error when net.mptcp.enabled is 0 in ns (nil:
// ours): every socket the BPF program turns into MPTCP would then fail.
func mptcpDisabled(ns *netns.NetNS) error {
	var b []byte
	read := func() (err error) {
		b, err = os.ReadFile("/proc/sys/net/mptcp/enabled")
		return err
	}
	var err error
	if ns != nil {
		err = ns.Do(read)
	} else {
		err = read()
	}
	if err != nil {
		return nil // no such sysctl: let the method itself say what is missing
	}
	if strings.TrimSpace(string(b)) == "0" {
		return errors.New("net.mptcp.enabled is 0 in the command's network namespace, and the BPF program cannot fall back to TCP (socket(2) would fail with ENOPROTOOPT)")
	}
	return nil
}
