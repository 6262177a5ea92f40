package mptcp

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/internal/feature"
	"github.com/mptcpkit/mptcpkit/netns"
)

// getsockopt reads option (level, opt) into buf and returns the length the
// kernel wrote. The caller pre-fills buf where the kernel expects input.
func getsockopt(fd uintptr, level, opt int, buf []byte) (int, error) {
	if len(buf) == 0 {
		return 0, errors.New("mptcp: empty getsockopt buffer")
	}
	l := uint32(len(buf))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return 0, e
	}
	if int(l) > len(buf) {
		return 0, fmt.Errorf("mptcp: getsockopt(%d, %d) returned length %d > buffer %d", level, opt, l, len(buf))
	}
	return int(l), nil
}

// control runs fn with the socket's file descriptor after checking that it
// is a TCP (or MPTCP) stream socket of family AF_INET or AF_INET6.
func control(conn any, fn func(fd uintptr, s *sockInfo) error) error {
	rc, err := rawConn(conn)
	if err != nil {
		return err
	}
	var ferr error
	cerr := rc.Control(func(fd uintptr) {
		var s sockInfo
		if ferr = s.read(fd, conn); ferr != nil {
			return
		}
		ferr = fn(fd, &s)
	})
	if cerr != nil {
		return fmt.Errorf("mptcp: %T: %w", conn, cerr)
	}
	return ferr
}

// sockInfo is what every call checks first.
type sockInfo struct {
	domain, protocol int
}

func (s *sockInfo) read(fd uintptr, conn any) error {
	typ, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return fmt.Errorf("%w: %T: SO_TYPE: %v", ErrNotTCP, conn, err)
	}
	if typ != unix.SOCK_STREAM {
		return fmt.Errorf("%w: %T is not a stream socket (SO_TYPE %d)", ErrNotTCP, conn, typ)
	}
	if s.domain, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
		return fmt.Errorf("%w: %T: SO_DOMAIN: %v", ErrNotTCP, conn, err)
	}
	if s.domain != unix.AF_INET && s.domain != unix.AF_INET6 {
		return fmt.Errorf("%w: %T is not an IPv4/IPv6 socket (family %d)", ErrNotTCP, conn, s.domain)
	}
	if s.protocol, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil {
		return fmt.Errorf("%w: %T: SO_PROTOCOL: %v", ErrNotTCP, conn, err)
	}
	if s.protocol != unix.IPPROTO_TCP && s.protocol != ipprotoMPTCP {
		return fmt.Errorf("%w: %T has protocol %d", ErrNotTCP, conn, s.protocol)
	}
	return nil
}

// StateOf reports whether conn uses MPTCP and, if not, why. See State.
//
// Detection order: TCP_IS_MPTCP (Linux 6.10+) answers 1 for a connection
// that negotiated MPTCP; else MPTCP_INFO succeeding means MPTCP (older
// kernels) and its EOPNOTSUPP/ENOPROTOOPT means fallback; SO_PROTOCOL then
// tells an MPTCP socket that fell back (262) from a plain TCP socket (6).
// For a plain TCP socket, a probe socket(family, SOCK_STREAM, IPPROTO_MPTCP)
// opened in the connection's own network namespace tells Disabled
// (ENOPROTOOPT), Unsupported (EINVAL, EPROTONOSUPPORT) and NotRequested
// (the probe works). If the namespace cannot be found or entered (ioctl
// SIOCGSKNS needs CAP_NET_ADMIN, setns CAP_SYS_ADMIN), the probe runs in the
// caller's namespace instead.
//
// Kernels 5.6–5.15 have neither TCP_IS_MPTCP nor MPTCP_INFO: there an
// MPTCP socket counts as Active even if it fell back (as in Go's own
// net.TCPConn.MultipathTCP), and Info/Subflows return ErrNotSupported.
//
// On the server side, use StateOfAccepted: a plain TCP client accepted by
// an MPTCP listener yields a plain TCP socket that StateOf cannot tell from
// one accepted by a TCP listener.
func StateOf(conn any) (State, error) {
	var (
		st     State
		nsFD   = -1
		domain int
	)
	err := control(conn, func(fd uintptr, s *sockInfo) error {
		domain = s.domain
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_TCP, tcpIsMPTCP); err == nil {
			if v == 1 {
				st = Active
				return nil
			}
		} else if s.protocol == ipprotoMPTCP {
			// Before 6.10: MPTCP_INFO works only on a real MPTCP connection.
			var buf [InfoSize6_10]byte
			_, err := getsockopt(fd, solMPTCP, optInfo, buf[:])
			if err == nil {
				st = Active
				return nil
			}
			if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOPROTOOPT) {
				return fmt.Errorf("mptcp: getsockopt MPTCP_INFO: %w", err)
			}
			if !hasSOLMPTCP() {
				// 5.6–5.15: no MPTCP socket options, so a fallback
				// cannot be seen; like Go's net package, trust
				// SO_PROTOCOL.
				st = Active
				return nil
			}
		}
		if s.protocol == ipprotoMPTCP {
			st = Fallback
			return nil
		}
		// A plain TCP socket: find its namespace for the probe.
		if r, err := unix.IoctlRetInt(int(fd), ioctlSIOCGSKNS); err == nil {
			nsFD = r
		}
		return nil
	})
	if err != nil {
		return Unknown, err
	}
	if st != Unknown {
		return st, nil
	}
	if nsFD >= 0 {
		defer unix.Close(nsFD)
	}
	return probe(domain, nsFD), nil
}

// probe opens and closes an MPTCP socket in the namespace nsFD (-1: the
// caller's) and maps the error to a State.
func probe(domain, nsFD int) State {
	var perr error
	try := func() error {
		fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, ipprotoMPTCP)
		if err == nil {
			unix.Close(fd)
		}
		perr = err
		return nil
	}
	ran := false
	if nsFD >= 0 && !netns.Same(nsFD) {
		if ns, err := netns.FromFD(nsFD); err == nil {
			ran = ns.Do(try) == nil
			ns.Close()
		}
	}
	if !ran {
		try()
	}
	return stateFromProbe(perr)
}

// stateFromProbe maps the error of socket(family, SOCK_STREAM,
// IPPROTO_MPTCP) to the state of a plain TCP socket in that namespace.
func stateFromProbe(err error) State {
	switch {
	case err == nil:
		return NotRequested
	case errors.Is(err, unix.ENOPROTOOPT):
		return Disabled // net.mptcp.enabled=0
	case errors.Is(err, unix.EINVAL), // before 5.6
		errors.Is(err, unix.EPROTONOSUPPORT), // built without CONFIG_MPTCP
		errors.Is(err, unix.ESOCKTNOSUPPORT):
		return Unsupported
	}
	return Unknown
}

// Info returns the connection-level MPTCP counters of conn (MPTCP_INFO,
// Linux 5.16+), decoded as far as the kernel filled struct mptcp_info. A
// connection not using MPTCP gives a *StateError (wrapping ErrNotMPTCP).
func Info(conn any) (*ConnInfo, error) {
	var info *ConnInfo
	err := control(conn, func(fd uintptr, s *sockInfo) error {
		var err error
		info, err = infoFD(fd, s)
		return err
	})
	if err != nil {
		return nil, explainNotMPTCP(conn, err)
	}
	return info, nil
}

// explainNotMPTCP fills in the State of a *StateError that err carries
// without one (a call refused for a socket not using MPTCP), asking StateOf
// why; an error of StateOf replaces err.
func explainNotMPTCP(conn any, err error) error {
	var se *StateError
	if errors.As(err, &se) && se.State == Unknown {
		st, serr := StateOf(conn)
		if serr != nil {
			return serr
		}
		se.State = st
	}
	return err
}

func infoFD(fd uintptr, s *sockInfo) (*ConnInfo, error) {
	if s.protocol != ipprotoMPTCP {
		return nil, &StateError{} // filled in by the caller
	}
	buf := make([]byte, 256)
	n, err := getsockopt(fd, solMPTCP, optInfo, buf)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOPROTOOPT):
		return nil, solMPTCPError("MPTCP_INFO", err)
	case err != nil:
		return nil, fmt.Errorf("mptcp: getsockopt MPTCP_INFO: %w", err)
	}
	return ParseInfo(buf[:n])
}

// StateOfAccepted is StateOf for a connection accepted from listener ln.
// When a plain TCP client reaches an MPTCP listener, Linux hands the server
// a plain TCP socket (SO_PROTOCOL 6, no trace of MPTCP left on it), which
// StateOf alone would report as NotRequested; knowing that the listener is
// an MPTCP socket, StateOfAccepted reports Fallback instead.
func StateOfAccepted(ln, conn any) (State, error) {
	st, err := StateOf(conn)
	if err != nil || st != NotRequested {
		return st, err
	}
	var lnProto int
	if err := control(ln, func(_ uintptr, s *sockInfo) error { lnProto = s.protocol; return nil }); err != nil {
		return Unknown, fmt.Errorf("mptcp: listener: %w", err)
	}
	if lnProto == ipprotoMPTCP {
		return Fallback, nil
	}
	return st, nil
}

// hasSOLMPTCP reports whether the running kernel has the SOL_MPTCP socket
// options (Linux 5.16+). Unknown versions count as new.
func hasSOLMPTCP() bool { return feature.KernelAtLeast(5, 16) }

// solMPTCPError turns EOPNOTSUPP/ENOPROTOOPT from a SOL_MPTCP option into
// what it means: the connection fell back to TCP (its TCP subflow gets the
// call and knows no such level) on 5.16+, a missing feature before.
func solMPTCPError(opt string, err error) error {
	if !hasSOLMPTCP() {
		return fmt.Errorf("mptcp: %w", &UnsupportedFeatureError{Name: opt, MinimumVersion: "5.16", Err: err})
	}
	return &StateError{State: Fallback}
}
