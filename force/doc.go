// Package force runs unmodified programs with their TCP stream sockets
// created as Multipath TCP sockets, the engine behind `mptcpkit run`,
// `mptcpkit force` and `mptcpkit enable`.
//
// Two methods exist (see [Method]):
//
//   - BPF: an fmod_ret program on update_socket_protocol (package
//     force/bpfprog), scoped to a cgroup v2 made for the run; the command is
//     started directly inside it (clone3 CLONE_INTO_CGROUP), so it and every
//     descendant are matched from their first instruction. One program and
//     link are shared by all concurrent runs (see bpfprog.Shared).
//   - Seccomp: a seccomp user-notification filter on socket(2) (package
//     force/seccomp); the supervisor creates the MPTCP socket in the
//     caller's network namespace and installs it in the caller.
//
// The command is started through a tiny shim: mptcpkit re-executes itself
// (/proc/self/exe) with [ShimEnv] set; the shim installs the seccomp filter
// on its own thread (the filter must be installed by the process itself),
// sends the listener descriptor to the supervisor over a unix socket
// (SCM_RIGHTS) and execs the command. Programs using systemd socket
// activation keep working: descriptors 3..3+LISTEN_FDS-1 are passed through
// and the shim sets LISTEN_PID to its own pid, which the command keeps.
//
// The supervisor becomes a child subreaper (PR_SET_CHILD_SUBREAPER) and
// returns only when every descendant has exited, so programs that daemonize
// keep being forced and are waited for. Because it reaps every child of the
// calling process, call [Run] from a process dedicated to it (as the
// mptcpkit command does).
package force
