// Package seccomp forces TCP stream sockets onto MPTCP without any BPF
// program of our own: a classic seccomp filter (cBPF, built by hand) returns
// SECCOMP_RET_USER_NOTIF for socket(2) calls with family AF_INET or
// AF_INET6, (type & 0xf) == SOCK_STREAM and protocol 0 or IPPROTO_TCP, and
// SECCOMP_RET_ALLOW for everything else. A supervisor holding the filter's
// listener creates an IPPROTO_MPTCP socket in the caller's network namespace,
// installs it in the caller with SECCOMP_IOCTL_NOTIF_ADDFD, then answers the
// call with SECCOMP_IOCTL_NOTIF_SEND carrying the new descriptor as
// socket(2)'s return value, honouring SOCK_CLOEXEC and SOCK_NONBLOCK. (Not
// ADDFD with SECCOMP_ADDFD_FLAG_SEND: the kernel marks the call answered
// with 0 before the descriptor is in place, and a stop of the supervisor
// there left socket(2) returning 0, the caller's stdin.) When MPTCP cannot be
// created (net.mptcp.enabled=0 gives ENOPROTOOPT, a kernel without MPTCP
// EPROTONOSUPPORT) the supervisor answers SECCOMP_USER_NOTIF_FLAG_CONTINUE
// and the call proceeds as plain TCP.
//
// The filter is inherited by every descendant of the process that installs
// it, and their notifications arrive on the same listener.
//
// Needs SECCOMP_IOCTL_NOTIF_ADDFD (the kernel matrix runs it on Debian's 6.1
// and 6.12 and on 6.18); [Install] returns an error wrapping
// [ErrNotSupported] on kernels without user notification.
//
// Signals: from Linux 5.19 the filter has SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
// so once the supervisor has taken a call only a fatal signal interrupts
// it. A signal that arrives before that restarts socket(2) (SA_RESTART) or
// makes it fail with EINTR, which a real socket(2) never does; no interface
// of the kernel closes that window, so [Supervisor.Serve] keeps it short
// (it waits in RECV with SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP where the kernel has it).
//
// [Keep] holds the listener for a supervisor that may be killed: it then
// answers every call with SECCOMP_USER_NOTIF_FLAG_CONTINUE (plain TCP)
// instead of letting the listener close, which fails each filtered
// socket(2) with ENOSYS.
//
// The supervisor creates each socket on a thread whose file-system uid and
// gid are the caller's, so the socket belongs to the caller's user (what
// iptables' owner match and uid routing rules see); the ids are read as the
// owner of /proc/TID/ns/net, so for a non-dumpable caller they are root's. The
// socket's LSM label is the supervisor's.
package seccomp
