package mptcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/mptcpkit/mptcpkit/internal/feature"
)

// Kernel constants not (yet) in golang.org/x/sys/unix.
const (
	ipprotoMPTCP     = 262 // IPPROTO_MPTCP
	solMPTCP         = 284 // SOL_MPTCP
	tcpIsMPTCP       = 43  // TCP_IS_MPTCP, getsockopt(SOL_TCP), 6.10+
	optInfo          = 1   // MPTCP_INFO
	optTCPInfo       = 2   // MPTCP_TCPINFO
	optSubflowAddrs  = 3   // MPTCP_SUBFLOW_ADDRS
	optFullInfo      = 4   // MPTCP_FULL_INFO
	ioctlSIOCGSKNS   = 0x894c
	maxSubflowsQuery = 256 // upper bound on subflows read from one connection
)

var (
	// ErrNotTCP is wrapped by errors for a conn that is not a TCP or MPTCP
	// socket (a UDP or Unix socket, or a type without SyscallConn/NetConn).
	ErrNotTCP = errors.New("mptcp: not a TCP connection")

	// ErrNotMPTCP is wrapped by Info and Subflows errors for a connection
	// that is not using MPTCP; errors.As with *StateError gives the reason.
	ErrNotMPTCP = errors.New("mptcp: connection is not using MPTCP")

	// ErrNotSupported is wrapped by errors for a socket option the running
	// kernel lacks; such an error is an *UnsupportedFeatureError naming the
	// minimum kernel version. It is the same error as pm.ErrNotSupported,
	// bpfprog.ErrNotSupported and seccomp.ErrNotSupported.
	ErrNotSupported = feature.ErrNotSupported
)

// UnsupportedFeatureError names a feature the running kernel lacks and the
// first Linux release that has it; errors.Is(err, ErrNotSupported) holds.
type UnsupportedFeatureError = feature.UnsupportedFeatureError

// StateError says why a connection is not using MPTCP. It wraps ErrNotMPTCP.
type StateError struct {
	State State
}

func (e *StateError) Error() string {
	return "mptcp: connection is not using MPTCP: " + e.State.Reason()
}
func (e *StateError) Unwrap() error { return ErrNotMPTCP }

// Dialer returns a net.Dialer that asks for MPTCP. Like every MPTCP dial
// in Go it silently uses plain TCP when the kernel refuses an MPTCP socket.
func Dialer() *net.Dialer {
	d := &net.Dialer{}
	d.SetMultipathTCP(true)
	return d
}

// ListenConfig returns a net.ListenConfig that asks for MPTCP listeners.
// Such a listener accepts MPTCP and plain TCP clients alike.
func ListenConfig() *net.ListenConfig {
	lc := &net.ListenConfig{}
	lc.SetMultipathTCP(true)
	return lc
}

// Dial connects to address over MPTCP, falling back to TCP if the peer or
// the local kernel does not do MPTCP. network is "tcp", "tcp4" or "tcp6".
func Dial(network, address string) (net.Conn, error) {
	return DialContext(context.Background(), network, address)
}

// DialContext is Dial with a context that bounds the connection attempt.
func DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	return Dialer().DialContext(ctx, network, address)
}

// Listen announces on address with an MPTCP listener that also accepts
// plain TCP clients. network is "tcp", "tcp4" or "tcp6".
func Listen(network, address string) (net.Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	return ListenConfig().Listen(context.Background(), network, address)
}

func checkNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return nil
	}
	return fmt.Errorf("%w: network %q (use \"tcp\", \"tcp4\" or \"tcp6\")", ErrNotTCP, network)
}

// State says whether a connection uses MPTCP and, if not, why.
type State int

const (
	// Unknown is the zero State, returned with errors.
	Unknown State = iota
	// Active: the connection negotiated MPTCP with its peer.
	Active
	// Fallback: an MPTCP socket whose peer (or a middlebox) did not
	// negotiate MPTCP; it runs as plain TCP.
	Fallback
	// Disabled: a plain TCP socket in a network namespace where
	// net.mptcp.enabled=0, so asking for MPTCP gives plain TCP.
	Disabled
	// Unsupported: a plain TCP socket on a kernel without MPTCP (older
	// than 5.6 or built without CONFIG_MPTCP).
	Unsupported
	// NotRequested: a plain TCP socket on a kernel where MPTCP is available;
	// the program did not ask for it.
	NotRequested
)

// String returns a one-word name: "active", "fallback", "disabled",
// "unsupported", "not-requested" or "unknown".
func (s State) String() string {
	switch s {
	case Active:
		return "active"
	case Fallback:
		return "fallback"
	case Disabled:
		return "disabled"
	case Unsupported:
		return "unsupported"
	case NotRequested:
		return "not-requested"
	}
	return "unknown"
}

// Reason explains the state in a sentence, with what to do about it.
func (s State) Reason() string {
	switch s {
	case Active:
		return "MPTCP is in use"
	case Fallback:
		return "fallback: the peer did not negotiate MPTCP (it does not support it, or a middlebox stripped the MPTCP options)"
	case Disabled:
		return "disabled: net.mptcp.enabled=0 in this network namespace (sysctl -w net.mptcp.enabled=1)"
	case Unsupported:
		return "unsupported: the kernel has no MPTCP (needs a kernel built with CONFIG_MPTCP)"
	case NotRequested:
		return "not requested: a plain TCP socket (dial with mptcp.Dial or net.Dialer.SetMultipathTCP(true))"
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler (String).
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// rawConn finds the syscall.RawConn under conn: a net.Conn (see RawConn),
// a net.Listener (see ListenerRawConn) or anything else with SyscallConn.
func rawConn(conn any) (syscall.RawConn, error) {
	switch c := conn.(type) {
	case nil:
		return nil, fmt.Errorf("%w: nil conn", ErrNotTCP)
	case net.Conn:
		return RawConn(c)
	case net.Listener:
		return ListenerRawConn(c)
	case syscall.Conn:
		return syscallConn(c, c)
	}
	return nil, fmt.Errorf("%w: %T has neither a SyscallConn nor a NetConn method", ErrNotTCP, conn)
}
