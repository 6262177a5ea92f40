//go:build !mptcpkit_slim

package cli

import (
	"fmt"
	"strings"

	"github.com/mptcpkit/mptcpkit/force"
)

const forceHelp = `Usage: mptcpkit force (--comm NAME[,NAME...] | --cgroup PATH)

Until Ctrl-C or SIGTERM, make the new TCP sockets of processes already
running, or started by someone else, Multipath TCP sockets: processes named
NAME, or in the cgroup v2 PATH (and its child cgroups), e.g. a systemd
service's /system.slice/redis-server.service. Like BCC's mptcpify, but
scoped by cgroup as well as by name, and matching sockets created with
SOCK_NONBLOCK|SOCK_CLOEXEC (Go's) too. Sockets that exist already stay as
they are.

Needs the BPF fmod_ret program on update_socket_protocol (a kernel function
Debian's 6.12 has and its 6.1 lacks), BTF and BPF trampolines. Where the
kernel refuses it, use mptcpkit run to
start the program instead (seccomp, no BPF). Concurrent force and
run --method bpf invocations share one program.

Names are matched as the kernel stores them (/proc/PID/comm): at most 15
characters; longer names are truncated (with a warning).

Options:
  --comm NAMES   comma-separated process names
  --cgroup PATH  a cgroup v2 path as /proc/PID/cgroup shows it

Examples:
  mptcpkit force --comm redis-server,curl
  mptcpkit force --cgroup /system.slice/redis-server.service
  systemctl show -p ControlGroup redis-server   # find a service's cgroup
`

func forceCommand() *Command {
	return &Command{Name: "force", Summary: "turn new TCP sockets of running programs into MPTCP (BPF)", Help: forceHelp, Run: cmdForce}
}

// cmdForce forces new TCP sockets of running programs onto MPTCP (BPF).
func cmdForce(e *env, args []string) error {
	fs := newFlags(e, "force", forceHelp)
	comms := fs.String("comm", "", "comma-separated process names")
	cg := fs.String("cgroup", "", "cgroup v2 path")
	if err := parseFlags(fs, "force", args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("force", "unexpected argument %q (to start a program forced, use mptcpkit run -- %s)", fs.Arg(0), strings.Join(fs.Args(), " "))
	}
	var s force.Scope
	for _, c := range strings.Split(*comms, ",") {
		if c = strings.TrimSpace(c); c != "" {
			s.Comms = append(s.Comms, c)
		}
	}
	s.Cgroup = *cg
	if len(s.Comms) == 0 && s.Cgroup == "" {
		return usagef("force", "force needs --comm NAME[,NAME...] or --cgroup PATH")
	}
	if len(s.Comms) > 0 && s.Cgroup != "" {
		return usagef("force", "give either --comm or --cgroup, not both")
	}
	for _, c := range s.LongComms() {
		fmt.Fprintf(e.stderr, "mptcpkit force: warning: %q is longer than the 15 characters the kernel keeps of a process name; matching %q\n", c, c[:15])
	}
	err := force.Force(e.ctx, s, "", e.log, func() {
		what := "processes named " + strings.Join(s.Comms, ", ")
		if s.Cgroup != "" {
			what = "processes in cgroup " + s.Cgroup
		}
		fmt.Fprintf(e.stderr, "mptcpkit force: new TCP sockets of %s are MPTCP until Ctrl-C\n", what)
	})
	return err // force.ErrRefused already says "force needs BPF" and what to use instead
}
