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
package sockdiag
