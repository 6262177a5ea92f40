//go:build !mptcpkit_slim

package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/mptcpkit/mptcpkit/force"
	"golang.org/x/sys/unix"
)

const runHelp = `Usage: mptcpkit run [--method auto|bpf|seccomp] [-v] [--] CMD [ARGS...]

Run CMD with its TCP sockets, and those of every process it starts, created
as Multipath TCP sockets: AF_INET/AF_INET6 stream sockets (with any
SOCK_NONBLOCK/SOCK_CLOEXEC flags) asking for protocol 0 or IPPROTO_TCP.
Other sockets (UDP, unix, raw, explicit IPPROTO_MPTCP) are untouched. Works
for Go and statically linked programs, unlike LD_PRELOAD (mptcpize).

The exit status and signals pass through: mptcpkit run exits with CMD's
status (128+N when CMD was killed by signal N) and forwards SIGTERM, SIGHUP,
SIGINT, SIGQUIT, SIGUSR1, SIGUSR2 to it. It waits until every process CMD
left behind (e.g. a daemon that forked into the background) has exited;
signals received then go to those processes.

Methods:
  auto      bpf where the kernel allows it, else seccomp (the default);
            -v says which and why
  bpf       an fmod_ret BPF program on update_socket_protocol (a kernel
            function Debian's 6.12 has and its 6.1 lacks; BTF needed),
            scoped to a cgroup made for this run; one program is shared by
            all runs. Sockets are MPTCP from the kernel itself.
  seccomp   a seccomp user-notification filter on socket(2): mptcpkit
            creates the MPTCP socket in CMD's network namespace and hands it
            over. No BPF needed (works on Debian's 6.1 and newer). If MPTCP
            cannot be created (net.mptcp.enabled=0), the socket stays TCP. A signal caught by a
            handler without SA_RESTART (Python's) while socket(2) waits for
            mptcpkit to pick the call up makes socket(2) fail with EINTR; the
            kernel gives no way to avoid that.

If mptcpkit run is killed with SIGKILL, CMD is killed with it; processes CMD
started live on and their new TCP sockets are plain TCP from then on (a
keeper process answers for the dead supervisor; without it every such
socket(2) would fail with ENOSYS).

Options:
  --method M   auto, bpf or seccomp
  -v           say which method is used and why, and what happens

Examples:
  mptcpkit run -- redis-server --port 6379
  mptcpkit run -v curl https://example.com/
  mptcpkit -n lab:l1:client run -- iperf3 -c 10.1.1.2
  mptcpkit run --method seccomp -- python3 -m http.server
`

func runCommand() *Command {
	return &Command{Name: "run", Summary: "run a program with its TCP sockets turned into MPTCP", Help: runHelp, Run: cmdRun}
}

// cmdRun runs a program with its TCP sockets forced onto MPTCP.
func cmdRun(e *env, args []string) error {
	fs := newFlags(e, "run", runHelp)
	method := fs.String("method", "auto", "auto, bpf or seccomp")
	fs.BoolVar(&e.verbose, "v", e.verbose, "verbose")
	fs.BoolVar(&e.verbose, "verbose", e.verbose, "verbose")
	if err := parseFlags(fs, "run", args); err != nil {
		return err
	}
	m, err := force.ParseMethod(*method)
	if err != nil {
		return usagef("run", "%v", err)
	}
	if fs.NArg() == 0 {
		return usagef("run", "run needs a command, e.g. mptcpkit run -- redis-server")
	}
	ns, err := e.openNetNS()
	if err != nil {
		return err
	}
	if ns != nil {
		defer ns.Close()
	}
	var log *slog.Logger
	if e.verbose {
		log = e.log // debug level with -v; JSON with -j
	}
	sigs := make(chan os.Signal, 8)
	// In a terminal's foreground the terminal sends SIGINT/SIGQUIT to CMD
	// too: force.Run then forwards them only once CMD has exited.
	// (signal.Ignore is no option: CMD would inherit SIG_IGN across exec.)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGALRM,
		syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Stop(sigs)

	stdout, _ := e.stdout.(*os.File)
	stderr, _ := e.stderr.(*os.File)
	res, err := force.Run(context.Background(), force.Config{
		Method:     m,
		Args:       fs.Args(),
		Stdin:      os.Stdin,
		Stdout:     stdout,
		Stderr:     stderr,
		NetNS:      ns,
		Signals:    sigs,
		Foreground: terminalForeground(),
		Logger:     log,
		SelfArgs:   selfArgs(), // Main finds the shim and keeper by their environment (entryPoints)
	})
	if errors.Is(err, force.ErrNotFound) {
		fmt.Fprintf(e.stderr, "mptcpkit run: %v\n", err)
		return &ExitError{Code: 127}
	}
	if err != nil {
		return err
	}
	if e.verbose {
		fmt.Fprintf(e.stderr, "mptcpkit run: method %s (%s); exit status %d", res.Method, adviceText(res.Reason), res.ExitCode)
		if res.Method == force.Seccomp {
			fmt.Fprintf(e.stderr, "; %d sockets made MPTCP, %d left as TCP", res.Forced, res.Fallback)
		}
		fmt.Fprintln(e.stderr)
	}
	if res.ExitCode != 0 {
		return &ExitError{Code: res.ExitCode}
	}
	return nil
}

// terminalForeground reports whether stdin is a terminal whose foreground
// process group is ours.
func terminalForeground() bool {
	pgrp, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}
