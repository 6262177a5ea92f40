// Package sockdiag lists MPTCP connections and their subflows through the
// kernel's socket-diagnostics netlink interface (NETLINK_SOCK_DIAG,
// inet_diag), the interface `ss -M` uses — without running or parsing ss.
//
// An MPTCP connection shows up twice in socket diagnostics: as an MPTCP
// socket (inet_diag with protocol IPPROTO_MPTCP, whose INET_DIAG_INFO is
// struct mptcp_info with the connection's token), and as one TCP socket per
// subflow whose INET_DIAG_ULP_INFO names the "mptcp" upper-layer protocol
// and carries the same token plus the subflow's address ids and flags.
// Connections joins the two by token.
//
// The kernel sends ULP information only to callers with CAP_NET_ADMIN in
// the namespace; without it Connections still returns the MPTCP sockets,
// without subflows, together with ErrNoULPInfo. Config.NetNS selects the
// network namespace (a file descriptor, as netns.NetNS.FD returns).
//
// To answer "does this program use MPTCP?", Overview adds the listeners
// (Listeners: an MPTCP listener's TCP subflow listener is folded into it)
// and the plain TCP connections (PlainTCP), each with a Reason in words:
// accepted on an MPTCP listener's port without MP_CAPABLE, opened as plain
// TCP by the program, or net.mptcp.enabled=0 (MPTCPEnabled). FallbackReason
// explains a fallen-back MPTCP connection from its mptcp_info flags, and
// FallbackCounters reads the namespace's MPTcpExt fallback counters. Owners
// walks /proc/*/fd (as ss -p does) to map socket inodes to processes.
package sockdiag
