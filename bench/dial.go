package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/netns"
)

// Dial opens a connection in the caller's network namespace. network is
// "tcp" (plain TCP) or "mptcp" (MPTCP; the kernel falls back to TCP if the
// peer does not negotiate it). A refused connection names the missing
// server.
func Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return dialIn(ctx, nil, network, addr)
}

// dialIn is Dial inside ns (nil: the caller's namespace).
func dialIn(ctx context.Context, ns *netns.NetNS, network, addr string) (net.Conn, error) {
	o := mptcp.DialOptions{NetNS: ns}
	switch network {
	case "tcp", "tcp4", "tcp6":
		o.TCP = true
	case "mptcp":
		network = "tcp"
	default:
		return nil, fmt.Errorf("bench: unknown network %q (want tcp or mptcp)", network)
	}
	c, err := mptcp.DialWith(ctx, network, addr, o)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, &RefusedError{Addr: addr, Err: err}
		}
		return nil, err
	}
	return c, nil
}

// ErrNotBenchServer is wrapped by Run's error when the peer at the address
// accepts the connection but does not speak the bench protocol.
var ErrNotBenchServer = errors.New("does not answer like a bench server")

// RefusedError says that nothing listens at Addr. Its text names no
// command: a program adds how to start a server there (the CLI names
// `mptcpkit bench server`).
type RefusedError struct {
	Addr string
	Err  error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("connection refused: is a bench server running on %s?", e.Addr)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Listen opens the server's listener on addr (host:port; ":5301" for every
// address) in the caller's namespace. It is an MPTCP listener, which accepts
// plain TCP clients too; mptcp.ListenWith opens one in another namespace,
// and mptcp.IsMPTCPListener says whether the kernel gave MPTCP.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	return mptcp.ListenWith(ctx, "tcp", addr, mptcp.ListenOptions{})
}

// NetNSDialer returns a DialFunc that opens its sockets inside ns (nil: the
// caller's namespace). The connections stay in ns after Dial returns.
func NetNSDialer(ns *netns.NetNS) DialFunc {
	if ns == nil {
		return Dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialIn(ctx, ns, network, addr)
	}
}
