package proxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/mptcp"
)

// ErrNoMPTCP is returned (wrapped) by Listen when the kernel gave a plain TCP
// socket: MPTCP is not built in (Linux < 5.6) or net.mptcp.enabled=0.
var ErrNoMPTCP = errors.New("MPTCP unavailable (needs a kernel built with CONFIG_MPTCP and net.mptcp.enabled=1)")

// Listen opens the server's MPTCP listener in the calling thread's network
// namespace. It fails with ErrNoMPTCP rather than silently serving plain TCP.
func Listen(ctx context.Context, address string) (net.Listener, error) {
	return listenMPTCP(ctx, net.ListenConfig{}, address)
}

// listenMPTCP listens with lc and MPTCP on, failing with ErrNoMPTCP when the
// kernel gave a plain TCP socket.
func listenMPTCP(ctx context.Context, lc net.ListenConfig, address string) (net.Listener, error) {
	lc.SetMultipathTCP(true)
	ln, err := lc.Listen(ctx, network(address), address)
	if err != nil {
		return nil, err
	}
	if proto, _ := socketProtocol(ln.(*net.TCPListener)); proto != unix.IPPROTO_MPTCP {
		ln.Close()
		return nil, ErrNoMPTCP
	}
	return ln, nil
}

// ListenTCP opens the client's plain TCP listener (MPTCP off: the
// applications speak TCP). transparent sets IP_TRANSPARENT, which TPROXY
// rules need.
func ListenTCP(ctx context.Context, address string, transparent bool) (net.Listener, error) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	if transparent {
		lc.Control = func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1)
				if serr == nil && network == "tcp6" {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_TRANSPARENT, 1)
				}
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	return lc.Listen(ctx, network(address), address)
}

// network is "tcp4" for an IPv4 literal host (0.0.0.0 too: a dual-stack
// socket would report IPv4 peers as mapped addresses), "tcp" otherwise.
func network(address string) string {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return "tcp"
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		return "tcp4"
	}
	return "tcp"
}

func socketProtocol(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var p int
	var serr error
	if err := rc.Control(func(fd uintptr) { p, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL) }); err != nil {
		return 0, err
	}
	return p, serr
}

// acceptedState is the MPTCP state of conn, accepted from ln: a plain TCP
// client reaching an MPTCP listener is a fallback.
func acceptedState(ln net.Listener, conn net.Conn) (mptcp.State, error) {
	return mptcp.StateOfAccepted(ln, conn)
}

// mptcpAttrs are the log attributes saying whether a connection's MPTCP leg
// uses MPTCP ("mptcp=active") or runs as plain TCP, and why
// ("mptcp=fallback mptcp_why=...").
func mptcpAttrs(st mptcp.State, err error) []any {
	if err != nil {
		return []any{"mptcp", mptcp.Unknown.String(), "mptcp_why", err.Error()}
	}
	if st == mptcp.Active {
		return []any{"mptcp", st.String()}
	}
	return []any{"mptcp", st.String(), "mptcp_why", st.Reason()}
}
