package proxy

import (
	"context"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/mptcp"
)

// ErrNoMPTCP is returned (wrapped) by Listen when the kernel gave a plain TCP
// socket: MPTCP is not built in (Linux < 5.6) or net.mptcp.enabled=0. It is
// mptcp.ErrNoMPTCP.
var ErrNoMPTCP = mptcp.ErrNoMPTCP

// Listen opens the server's MPTCP listener in the calling thread's network
// namespace. It fails with ErrNoMPTCP rather than silently serving plain TCP.
func Listen(ctx context.Context, address string) (net.Listener, error) {
	return listenMPTCP(ctx, nil, address)
}

// listenMPTCP listens with MPTCP on (control, if set, runs before bind),
// failing with ErrNoMPTCP when the kernel gave a plain TCP socket.
func listenMPTCP(ctx context.Context, control func(network, address string, c syscall.RawConn) error, address string) (net.Listener, error) {
	return mptcp.ListenWith(ctx, network(address), address, mptcp.ListenOptions{Strict: true, Control: control})
}

// ListenTCP opens the client's plain TCP listener (MPTCP off: the
// applications speak TCP). transparent sets IP_TRANSPARENT, which TPROXY
// rules need.
func ListenTCP(ctx context.Context, address string, transparent bool) (net.Listener, error) {
	o := mptcp.ListenOptions{TCP: true}
	if transparent {
		o.Control = func(network, address string, c syscall.RawConn) error {
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
	return mptcp.ListenWith(ctx, network(address), address, o)
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
