// Package bench measures TCP and MPTCP throughput and latency between a
// Server and a client (Run), like iperf3 -m, and reports what iperf3 does
// not: how many bytes each subflow (path) carried, the subflow count, whether
// the connection fell back to plain TCP, retransmissions and the congestion
// control in use.
//
// One port carries everything. A client opens a control connection (always
// plain TCP) and then Streams data connections (TCP or MPTCP, per run) to the
// same address; every connection starts with a fixed 32-byte hello naming its
// kind and the run's random cookie. The control channel carries small JSON
// lines (bounded in size, read under deadlines). The server listens with an
// MPTCP listener, which accepts plain TCP too, and serves any number of
// clients one after another and at the same time; garbage or a silent peer
// costs it a log line.
//
// Byte counts are checked end to end: the receiving side counts what it read
// and the sending side counts what it wrote; Result carries both and Run
// fails if they differ.
//
// What the report holds: per stream, the state of the socket at both ends
// ("mptcp", "fallback" with the kernel's reason, or "tcp", from package
// mptcp), the sending side's subflows with the bytes each path carried
// (tcpi_bytes_acked), retransmissions and RTT, and the congestion control
// in use (TCP_CONGESTION; Config.CongestionControl sets it at both ends).
// In reverse runs the server sends, so it reports its subflows, and its
// retransmissions every interval, over the control channel. Request/response
// runs (Config.RRSize) add a latency summary from a fixed-size histogram.
//
// Namespaces: a Config.Dialer (client) and the listener handed to
// Server.Serve (server) decide where sockets live; NetNSDialer and
// mptcp.ListenWith (ListenOptions.NetNS) open them inside a network
// namespace, so a lab can drive both ends in one process.
package bench
