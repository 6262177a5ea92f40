package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/netns"
)

// Dial opens a connection in the caller's network namespace. network is
// "tcp" (plain TCP) or "mptcp" (MPTCP; the kernel falls back to TCP if the
// peer does not negotiate it). A refused connection names the missing
// server.
func Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	switch network {
	case "tcp", "tcp4", "tcp6":
		d.SetMultipathTCP(false)
	case "mptcp":
		d.SetMultipathTCP(true)
		network = "tcp"
	default:
		return nil, fmt.Errorf("bench: unknown network %q (want tcp or mptcp)", network)
	}
	c, err := d.DialContext(ctx, network, addr)
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
// plain TCP clients too.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	return lc.Listen(ctx, "tcp", addr)
}

// NetNSDialer returns a DialFunc that opens its sockets inside ns (nil: the
// caller's namespace). The connections stay in ns after Dial returns.
func NetNSDialer(ns *netns.NetNS) DialFunc {
	if ns == nil {
		return Dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() error {
			var err error
			c, err = Dial(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// ListenNetNS is Listen inside ns (nil: the caller's namespace).
func ListenNetNS(ctx context.Context, ns *netns.NetNS, addr string) (net.Listener, error) {
	if ns == nil {
		return Listen(ctx, addr)
	}
	var ln net.Listener
	err := ns.Do(func() error {
		var err error
		ln, err = Listen(ctx, addr)
		return err
	})
	return ln, err
}

// ListenerProtocol asks the kernel what ln really is: "mptcp" or "tcp"
// (SO_PROTOCOL). Listen asks for MPTCP, but Go silently falls back to TCP
// when MPTCP is unavailable (net.mptcp.enabled=0, no kernel support).
func ListenerProtocol(ln net.Listener) (string, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return "", fmt.Errorf("bench: %T has no socket", ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return "", err
	}
	var proto int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		proto, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL)
	}); err != nil {
		return "", err
	}
	if gerr != nil {
		return "", fmt.Errorf("bench: SO_PROTOCOL: %w", gerr)
	}
	if proto == ipprotoMPTCP {
		return "mptcp", nil
	}
	return "tcp", nil
}

const ipprotoMPTCP = 262
