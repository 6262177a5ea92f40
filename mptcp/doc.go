// Package mptcp opens Multipath TCP (MPTCP, RFC 8684) connections and reports
// what the Linux kernel knows about them: whether MPTCP is really in use (and
// if not, why), the connection-level counters of struct mptcp_info, and each
// subflow (the TCP connections carrying one MPTCP connection) with its
// addresses and TCP state.
//
// Go's standard library can ask for MPTCP (net.Dialer.SetMultipathTCP) and
// say whether a connection fell back (net.TCPConn.MultipathTCP); it cannot
// list subflows or read per-path numbers. This package reads them with the
// kernel's socket options at level SOL_MPTCP (284):
//
//	MPTCP_INFO          (1)  struct mptcp_info                     5.16+
//	MPTCP_TCPINFO       (2)  struct tcp_info of every subflow      5.16+
//	MPTCP_SUBFLOW_ADDRS (3)  local and remote address per subflow  5.16+
//	MPTCP_FULL_INFO     (4)  all of the above, atomically          6.5+
//
// MPTCP_INFO needs Linux 5.16; MPTCP itself 5.6. Subflows uses
// MPTCP_FULL_INFO and falls back to MPTCP_SUBFLOW_ADDRS plus
// MPTCP_TCPINFO on kernels before 6.5. Every function that takes a conn
// accepts a *net.TCPConn, anything with a SyscallConn method (the socket
// options are read through SyscallConn().Control, never by duplicating the
// file descriptor), and wrappers exposing the underlying connection with a
// NetConn method, such as *tls.Conn. A conn that is not a TCP socket (for
// example a *net.UDPConn) gives an error wrapping ErrNotTCP.
//
// # Why a connection is not using MPTCP
//
// StateOf tells apart an MPTCP connection (Active), one whose peer did not
// negotiate MPTCP (Fallback), a plain TCP socket in a namespace where
// net.mptcp.enabled=0 (Disabled), one on a kernel without MPTCP
// (Unsupported) and a plain TCP socket that never asked for MPTCP
// (NotRequested). Detection order: getsockopt(SOL_TCP, TCP_IS_MPTCP) (6.10+),
// then the error of MPTCP_INFO (EOPNOTSUPP or ENOPROTOOPT: fallback), then
// SO_PROTOCOL (262 = IPPROTO_MPTCP, 6 = TCP). For a plain TCP socket the
// package opens (and closes) a probe MPTCP socket in the network namespace
// of the connection's own socket (found with ioctl SIOCGSKNS), whose error
// says whether MPTCP is disabled or missing there.
//
// On the server side a plain TCP client of an MPTCP listener leaves no mark
// on the accepted socket (Linux hands over a plain TCP socket):
// StateOfAccepted(listener, conn) reports it as Fallback.
//
// Dial, DialContext and Listen ask for MPTCP and, like the standard library,
// fall back to plain TCP when the kernel refuses an MPTCP socket: a program
// using them keeps working everywhere, and StateOf says what it got.
// DialWith and ListenWith add the choices the rest of mptcpkit needs: a
// network namespace to open the socket in, plain TCP (MPTCP off), and for a
// listener Strict, which fails with ErrNoMPTCP instead of falling back.
// TCPConn and RawConn give the socket under a net.Conn (through NetConn
// wrappers such as *tls.Conn), and LogAttrs says in a log line whether a
// connection uses MPTCP and, if not, why.
//
// # Subflow backup flag
//
// struct tcp_info and struct mptcp_subflow_info carry no backup bit. When
// the caller may read socket diagnostics with ULP information (CAP_NET_ADMIN
// in the socket's namespace), Subflows looks each subflow up with an
// inet_diag request and fills Backup, LocalID and RemoteID from the "mptcp"
// ULP info; otherwise those fields stay zero and Subflow.Diag is false.
package mptcp
