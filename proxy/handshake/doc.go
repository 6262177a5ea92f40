// Package handshake is the wire format of the mptcpkit proxy: the few bytes a
// proxy client and a proxy server exchange at the start of every MPTCP
// connection, before the relayed data.
//
// The exchange is (all integers big endian):
//
//	server → client  Hello    "MKPX" | version u8 | status u8 | server nonce [32]          (38 bytes)
//	client → server  Request  "MKPX" | version u8 | client nonce [32] | destination | MAC [32]
//	                 destination = type u8 (1 IPv4, 3 name, 4 IPv6) | address | port u16
//	                 (a name is length u8 (1..255) + bytes; at most 328 bytes in all)
//	server → client  Reply    status u8 | server MAC [32]                                 (33 bytes)
//
// With a pre-shared key the client's MAC is
// HMAC-SHA256(key, "mptcpkit-proxy v1" || server nonce || client nonce || destination)
// and the server answers with
// HMAC-SHA256(key, "mptcpkit-proxy v1 server" || server nonce || client nonce || destination || status)
// so each side proves it knows the key. The server's nonce is fresh for every
// connection, so a recorded Request cannot be replayed; the client's nonce
// makes the server's proof unreplayable too. With TLS (client certificates)
// the same messages run inside the TLS session and the MACs are not used.
//
// Every length on the wire is bounded: a reader never allocates more than
// MaxRequestSize bytes for a Request, whatever a peer sends.
package handshake
