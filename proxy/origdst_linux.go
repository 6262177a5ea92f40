package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/mptcp"
)

// ip6tSOOriginalDst is IP6T_SO_ORIGINAL_DST (linux/netfilter_ipv6/ip6_tables.h).
const ip6tSOOriginalDst = 80

// originalDestination returns where a redirected connection was going: the
// conntrack original destination (SO_ORIGINAL_DST, set by nftables/iptables
// REDIRECT or DNAT), or else the socket's own local address (TPROXY). A
// connection made straight to the proxy's own port is refused: relaying it
// would loop.
func originalDestination(c net.Conn, listenPort uint16) (netip.AddrPort, error) {
	tc, err := mptcp.TCPConn(c)
	if err != nil {
		return netip.AddrPort{}, errors.New("not a TCP connection")
	}
	local := tc.LocalAddr().(*net.TCPAddr).AddrPort()
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	dst, err := soOriginalDst(tc, local.Addr().Is4())
	if err != nil {
		dst = local // TPROXY: the socket is bound to the original destination
	}
	if dst.Port() == listenPort && dst.Addr() == local.Addr() {
		return netip.AddrPort{}, fmt.Errorf("connection to %s was not redirected (no REDIRECT/TPROXY rule matched it); see docs/proxy.md", dst)
	}
	return dst, nil
}

func soOriginalDst(tc *net.TCPConn, v4 bool) (netip.AddrPort, error) {
	rc, err := tc.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var ap netip.AddrPort
	var serr error
	err = rc.Control(func(fd uintptr) {
		if v4 {
			// struct sockaddr_in fits in the 20-byte ip_mreqn-sized buffer.
			m, err := unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST)
			if err != nil {
				serr = err
				return
			}
			b := m.Multiaddr[:]
			ap = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4]))
			return
		}
		// struct sockaddr_in6 fits in struct ip6_mtuinfo.
		m, err := unix.GetsockoptIPv6MTUInfo(int(fd), unix.SOL_IPV6, ip6tSOOriginalDst)
		if err != nil {
			serr = err
			return
		}
		var p [2]byte
		binary.NativeEndian.PutUint16(p[:], m.Addr.Port)
		ap = netip.AddrPortFrom(netip.AddrFrom16(m.Addr.Addr).Unmap(), binary.BigEndian.Uint16(p[:]))
	})
	if err != nil {
		return ap, err
	}
	return ap, serr
}
