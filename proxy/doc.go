// Package proxy is a TCP↔MPTCP converter: a Client accepts plain TCP
// connections (a fixed forward, SOCKS5 CONNECT, or connections redirected to
// it by nftables) and carries each one as ONE Multipath TCP connection to a
// Server, which authenticates the client, checks the destination against its
// Policy and opens plain TCP to it. There is no multiplexing: every
// application connection has its own MPTCP connection, with its own subflows
// over every path, and no head-of-line blocking between flows.
//
// Authentication is either a pre-shared key with a challenge–response that a
// recorded handshake cannot replay (see package handshake), or TLS 1.3 with
// client certificates. TLS runs in user space (crypto/tls): the kernel's kTLS
// does not support MPTCP sockets.
//
// Without TLS, relaying is io.Copy between two *net.TCPConn, which Go turns
// into splice(2) — the bytes never enter user space, also for MPTCP sockets
// (checked by TestSplice). With TLS, it copies through pooled 256 KiB buffers.
//
// Network namespaces: Server.Dial, Server.LookupNetIP, Server.Policy.LocalAddrs
// and Client.Dial are hooks so a caller can open sockets inside another
// namespace (package netns); the defaults act in the caller's namespace.
package proxy
