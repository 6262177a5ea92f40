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
	"sync"
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
	// Log gets progress and the method decision (Debug); nil: none.
	Log *slog.Logger
	// Self is the mptcpkit executable used as the shim; "" = /proc/self/exe.
	Self string
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

// Run runs cfg.Args with their TCP sockets forced onto MPTCP and waits for
// the command and every process it left behind. When ctx is done, all of
// them are killed. See the package documentation for how it works.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Args) == 0 {
		return nil, errors.New("no command to run")
	}
	path, err := exec.LookPath(cfg.Args[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Args[0], ErrNotFound)
	}
	if path, err = filepath.Abs(path); err != nil {
		return nil, err
	}
	res := &Result{}
	var sh *bpfprog.Shared
	// The BPF method scopes by cgroup v2; `ip netns exec` remounts /sys and
	// hides it, for example.
	_, cgErr := cgroup.Root()
	if cgErr != nil {
		cgErr = fmt.Errorf("%w (under `ip netns exec` /sys is remounted without it: use `mptcpkit -n NETNS run` instead)", cgErr)
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
			return nil, fmt.Errorf("--method bpf: %w; enable it (sysctl -w net.mptcp.enabled=1) or use --method seccomp (or auto), which falls back to TCP", mpErr)
		} else {
			sh, err = bpfprog.OpenShared(cfg.PinDir)
		}
		if err != nil {
			if errors.Is(err, bpfprog.ErrNotSupported) {
				return nil, fmt.Errorf("--method bpf: %w; use --method seccomp (or auto), which needs no BPF", err)
			}
			return nil, fmt.Errorf("--method bpf: %w", err)
		}
		res.Method, res.Reason = BPF, "requested"
	case Seccomp:
		res.Method, res.Reason = Seccomp, "requested"
	default:
		return nil, fmt.Errorf("unknown method %q (want auto, bpf or seccomp)", cfg.Method)
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

	self := cfg.Self
	if self == "" {
		self = "/proc/self/exe"
	}
	env := cfg.Env
	if env == nil {
		env = os.Environ()
	}
	cmd := &exec.Cmd{
		Path:   self,
		Args:   append([]string{"mptcpkit", "run", path}, cfg.Args...),
		Stdin:  cfg.Stdin,
		Stdout: cfg.Stdout,
		Stderr: cfg.Stderr,
		// The command dies with us rather than running on unforced.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	// systemd socket activation: pass LISTEN_FDS through at their numbers.
	nListen := 0
	if n, err := strconv.Atoi(os.Getenv("LISTEN_FDS")); err == nil && n > 0 && os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) {
		nListen = n
		for i := 0; i < n; i++ {
			cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(3+i), "listen-fd"))
		}
	}
	mode := "plain"
	var parentSock *os.File
	if res.Method == Seccomp {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		parentSock = os.NewFile(uintptr(fds[0]), "shim-parent")
		childSock := os.NewFile(uintptr(fds[1]), "shim-child")
		defer parentSock.Close()
		defer childSock.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, childSock)
		mode = "seccomp"
	}
	cmd.Env = append(withoutShimEnv(env), fmt.Sprintf("%s=%s:%d:%d", ShimEnv, mode, 3+nListen, os.Getpid()))

	var cgDir string
	if sh != nil {
		cgDir, err = runCgroup()
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := cgroup.Remove(cgDir); err != nil {
				log.Warn("remove run cgroup", "err", err)
			}
		}()
		id, err := cgroup.ID(cgDir)
		if err != nil {
			return nil, err
		}
		if err := sh.AddCgroup(id); err != nil {
			return nil, err
		}
		cgf, err := os.Open(cgDir)
		if err != nil {
			return nil, err
		}
		defer cgf.Close()
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(cgf.Fd())
		log.Debug("run cgroup", "dir", cgDir, "id", id)
	}

	start := cmd.Start
	if cfg.NetNS != nil {
		start = func() error { return cfg.NetNS.Do(cmd.Start) }
	}
	if err := start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Args[0], err)
	}
	pid := cmd.Process.Pid
	for _, f := range cmd.ExtraFiles[nListen:] {
		f.Close() // our copy of the shim's end
	}

	var serveDone chan struct{}
	var sup seccomp.Supervisor
	var keep *keeper
	if parentSock != nil {
		lfd, err := recvFD(parentSock)
		if err != nil {
			// The shim failed before installing the filter: it said why on
			// stderr; report its exit status.
			log.Debug("no seccomp listener from the shim", "err", err)
		} else {
			sup.Log = log
			// Without a keeper, a SIGKILL of this process closes the
			// listener and every TCP socket(2) of what the command left
			// running fails with ENOSYS.
			if k, err := startKeeper(self, env, lfd); err != nil {
				log.Warn("no keeper: if mptcpkit is killed, what the command started gets ENOSYS from socket()", "err", err)
			} else {
				keep = k
				defer keep.close()
				sup.Received = keep.last
				log.Debug("keeper started", "pid", keep.pid())
			}
			serveDone = make(chan struct{})
			go func() {
				defer close(serveDone)
				if keep != nil {
					// No process uses the filter any more: nothing for the
					// keeper to keep. Do not wait for it to notice.
					defer keep.cmd.Process.Kill()
				}
				defer unix.Close(lfd)
				if err := sup.Serve(context.Background(), lfd); err != nil {
					log.Warn("seccomp supervisor", "err", err)
				}
			}()
		}
	}

	// Reap everything; forward signals; kill all on ctx.
	var mu sync.Mutex
	mainAlive := true
	reapDone := make(chan struct{})
	go func() {
		for {
			select {
			case <-reapDone:
				return
			case sig := <-cfg.Signals:
				s, ok := sig.(syscall.Signal)
				if !ok {
					continue
				}
				mu.Lock()
				alive := mainAlive
				mu.Unlock()
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
	}()
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ECHILD) {
			break
		}
		if err != nil {
			close(reapDone)
			return nil, fmt.Errorf("wait: %w", err)
		}
		if wpid == pid {
			switch {
			case ws.Exited():
				res.ExitCode = ws.ExitStatus()
			case ws.Signaled():
				res.Signal = ws.Signal()
				res.ExitCode = 128 + int(ws.Signal())
			}
			mu.Lock()
			mainAlive = false
			mu.Unlock()
			// children() reads every /proc/PID/stat: only for the log.
			if log.Enabled(context.Background(), slog.LevelDebug) {
				if n := len(children()); n > 0 {
					log.Debug("command exited; waiting for the processes it left", "status", res.ExitCode, "processes", n)
				}
			}
		}
	}
	close(reapDone)
	if serveDone != nil {
		<-serveDone
		res.Forced, res.Fallback = sup.Stats.Forced, sup.Stats.Fallback
	}
	return res, nil
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
