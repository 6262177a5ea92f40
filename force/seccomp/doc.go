// Package seccomp forces TCP stream sockets onto MPTCP without any BPF
// program of our own: a classic seccomp filter (cBPF, built by hand) returns
// SECCOMP_RET_USER_NOTIF for socket(2) calls with family AF_INET or
// AF_INET6, (type & 0xf) == SOCK_STREAM and protocol 0 or IPPROTO_TCP, and
// SECCOMP_RET_ALLOW for everything else. A supervisor holding the filter's
// listener creates an IPPROTO_MPTCP socket in the caller's network namespace
// and installs it in the caller with SECCOMP_IOCTL_NOTIF_ADDFD and
// SECCOMP_ADDFD_FLAG_SEND (the new descriptor becomes socket(2)'s return
// value), honouring SOCK_CLOEXEC and SOCK_NONBLOCK. When MPTCP cannot be
// created (net.mptcp.enabled=0 gives ENOPROTOOPT, a kernel without MPTCP
// EPROTONOSUPPORT) the supervisor answers SECCOMP_USER_NOTIF_FLAG_CONTINUE
// and the call proceeds as plain TCP.
//
// The filter is inherited by every descendant of the process that installs
// it, and their notifications arrive on the same listener.
//
// Needs Linux 5.14+ (SECCOMP_ADDFD_FLAG_SEND); [Install] returns an error
// wrapping [ErrNotSupported] on older kernels.
//
// Signals: from Linux 5.19 the filter has SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
// so once the supervisor has taken a call only a fatal signal interrupts
// it. A signal that arrives before that restarts socket(2) (SA_RESTART) or
// makes it fail with EINTR, which a real socket(2) never does. The
// supervisor blocks its own signals while it installs a descriptor: a signal
// there would make the kernel answer the caller's socket(2) with 0.
//
// The supervisor creates each socket on a thread whose file-system uid and
// gid are the caller's, so the socket belongs to the caller's user (what
// iptables' owner match and uid routing rules see); the ids are read as the
// owner of /proc/PID, so for a non-dumpable caller they are root's. The
// socket's LSM label is the supervisor's.
package seccomp
