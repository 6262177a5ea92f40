package mptcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/mptcpkit/mptcpkit/netns"
)

// ErrNoMPTCP is returned (wrapped) by ListenWith with Strict set when the
// kernel gave a plain TCP socket: MPTCP is not built in (Linux < 5.6) or
// net.mptcp.enabled=0 in the listener's network namespace.
var ErrNoMPTCP = errors.New("MPTCP unavailable (needs a kernel built with CONFIG_MPTCP and net.mptcp.enabled=1)")

// DialOptions are the choices of DialWith beyond net.Dialer's defaults.
type DialOptions struct {
	// TCP asks for a plain TCP socket (MPTCP off), for comparisons and for
	// the TCP leg of a proxy.
	TCP bool
	// NetNS is the network namespace the socket is opened in (nil: the
	// caller's). The connection stays there after DialWith returns.
	NetNS *netns.NetNS
}

// DialWith connects to address like DialContext, with the choices of o.
// Asking for MPTCP falls back to plain TCP as DialContext does: StateOf
// says what the connection got.
func DialWith(ctx context.Context, network, address string, o DialOptions) (net.Conn, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	d := Dialer()
	d.SetMultipathTCP(!o.TCP)
	var c net.Conn
	err := inNetNS(o.NetNS, func() (err error) {
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// ListenOptions are the choices of ListenWith beyond net.ListenConfig's
// defaults.
type ListenOptions struct {
	// Strict makes ListenWith fail with ErrNoMPTCP when the kernel gives a
	// plain TCP listener instead of an MPTCP one, rather than silently
	// serving plain TCP as Listen does.
	Strict bool
	// TCP asks for a plain TCP listener (MPTCP off). It excludes Strict.
	TCP bool
	// NetNS is the network namespace the listener is opened in (nil: the
	// caller's). The listener stays there after ListenWith returns.
	NetNS *netns.NetNS
	// Control, if set, is net.ListenConfig.Control: it runs on the socket
	// before bind (to set socket options such as TCP_FASTOPEN).
	Control func(network, address string, c syscall.RawConn) error
}

// ListenWith announces on address like Listen, with the choices of o.
func ListenWith(ctx context.Context, network, address string, o ListenOptions) (net.Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	if o.Strict && o.TCP {
		return nil, errors.New("mptcp: ListenOptions: Strict and TCP exclude each other")
	}
	lc := ListenConfig()
	lc.SetMultipathTCP(!o.TCP)
	lc.Control = o.Control
	var ln net.Listener
	if err := inNetNS(o.NetNS, func() (err error) {
		ln, err = lc.Listen(ctx, network, address)
		return err
	}); err != nil {
		return nil, err
	}
	if o.Strict {
		if ok, _ := IsMPTCPListener(ln); !ok {
			ln.Close()
			return nil, ErrNoMPTCP
		}
	}
	return ln, nil
}

// inNetNS runs fn in ns, or in the caller's namespace if ns is nil.
func inNetNS(ns *netns.NetNS, fn func() error) error {
	if ns == nil {
		return fn()
	}
	return ns.Do(fn)
}

// IsMPTCPListener reports whether ln is an MPTCP socket (SO_PROTOCOL 262).
// Listen asks for MPTCP, but like the standard library it silently gets a
// plain TCP socket when MPTCP is unavailable (net.mptcp.enabled=0, no
// kernel support).
func IsMPTCPListener(ln net.Listener) (bool, error) {
	var proto int
	if err := control(ln, func(_ uintptr, s *sockInfo) error { proto = s.protocol; return nil }); err != nil {
		return false, err
	}
	return proto == ipprotoMPTCP, nil
}

// TCPConn returns the *net.TCPConn under conn, unwrapping wrappers that
// expose their connection with a NetConn method (such as *tls.Conn). An
// MPTCP connection is a *net.TCPConn too. Anything else gives an error
// wrapping ErrNotTCP.
func TCPConn(conn net.Conn) (*net.TCPConn, error) {
	c, err := unwrap(conn, "is not a *net.TCPConn and has no NetConn method", func(c net.Conn) bool {
		_, ok := c.(*net.TCPConn)
		return ok
	})
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// RawConn returns the syscall.RawConn of the socket under conn: conn's own
// SyscallConn, or that of the connection a wrapper exposes with NetConn
// (such as *tls.Conn). The socket options of this package are all read
// through it (RawConn.Control), never by duplicating the descriptor.
func RawConn(conn net.Conn) (syscall.RawConn, error) {
	c, err := unwrap(conn, "has neither a SyscallConn nor a NetConn method", func(c net.Conn) bool {
		_, ok := c.(syscall.Conn)
		return ok
	})
	if err != nil {
		return nil, err
	}
	return syscallConn(conn, c.(syscall.Conn))
}

// unwrap returns conn, or the first connection under it that a wrapper
// exposes with NetConn, for which match is true. noMatch says, in the
// error, what conn lacks.
func unwrap(conn net.Conn, noMatch string, match func(net.Conn) bool) (net.Conn, error) {
	orig := conn
	for range 8 {
		if conn == nil {
			return nil, fmt.Errorf("%w: nil conn", ErrNotTCP)
		}
		if match(conn) {
			return conn, nil
		}
		w, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			return nil, fmt.Errorf("%w: %T %s", ErrNotTCP, orig, noMatch)
		}
		conn = w.NetConn()
	}
	return nil, fmt.Errorf("%w: %T: NetConn nested too deeply", ErrNotTCP, orig)
}

// ListenerRawConn returns the syscall.RawConn of listener ln's socket.
func ListenerRawConn(ln net.Listener) (syscall.RawConn, error) {
	if ln == nil {
		return nil, fmt.Errorf("%w: nil listener", ErrNotTCP)
	}
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%w: %T has no SyscallConn method", ErrNotTCP, ln)
	}
	return syscallConn(ln, sc)
}

func syscallConn(orig any, c syscall.Conn) (syscall.RawConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("mptcp: %T: SyscallConn: %w", orig, err)
	}
	return rc, nil
}

// LogAttrs are the slog attributes saying whether a connection uses MPTCP
// ("mptcp", "active") or runs as plain TCP, and why ("mptcp", "fallback",
// "mptcp_why", the reason), from the answer of StateOf or StateOfAccepted;
// an error gives "mptcp", "unknown" and the error as the reason.
func LogAttrs(st State, err error) []any {
	if err != nil {
		return []any{"mptcp", Unknown.String(), "mptcp_why", err.Error()}
	}
	if st == Active {
		return []any{"mptcp", st.String()}
	}
	return []any{"mptcp", st.String(), "mptcp_why", st.Reason()}
}
