package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Policy says which destinations a Server may connect to. A destination IP is
// permitted when it is in none of Deny, in one of Allow (when Allow is not
// empty), and not in the classes always denied: loopback, link-local,
// unspecified, multicast, broadcast, and the server's own addresses — those
// of its interfaces and every address its routing delivers locally (a
// "local" route, RTN_LOCAL, as AnyIP's `ip route add local 10.99.0.0/24 dev
// lo`). The always-denied classes keep a proxy from being turned against
// the host it runs on and its local services.
type Policy struct {
	Allow []netip.Prefix
	Deny  []netip.Prefix
	// LocalAddrs returns the server's own addresses; nil means the
	// addresses of the interfaces in the caller's network namespace.
	LocalAddrs func() ([]netip.Addr, error)
	// IsLocal reports whether the routing delivers ip to this host; nil
	// means a route lookup in the caller's network namespace (IsLocalRoute).
	IsLocal func(ip netip.Addr) (bool, error)
}

// DeniedError says why a destination was refused.
type DeniedError struct {
	Addr   netip.Addr
	Reason string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("destination %s denied: %s", e.Addr, e.Reason)
}

// ParsePrefixes parses a comma-separated list of CIDR prefixes or addresses
// (an address alone is a /32 or /128).
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			p, err = unmapPrefix(p)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR prefix (10.0.0.0/8) nor an address", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) into
// the IPv4 prefix it means (10.0.0.0/8), as Check unmaps addresses: a mapped
// prefix would otherwise never match. A prefix shorter than /96 that covers
// mapped addresses with other IPv6 ones is refused.
func unmapPrefix(p netip.Prefix) (netip.Prefix, error) {
	a := p.Addr()
	if !a.Is4In6() {
		return p, nil
	}
	if p.Bits() < 96 {
		return p, fmt.Errorf("%s mixes IPv4-mapped and other IPv6 addresses; write the IPv4 part as an IPv4 prefix (e.g. 10.0.0.0/8)", p)
	}
	return netip.PrefixFrom(a.Unmap(), p.Bits()-96), nil
}

var broadcast = netip.MustParseAddr("255.255.255.255")

// Check returns nil if the policy permits connecting to ip, or a
// *DeniedError naming the reason.
func (p *Policy) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	deny := func(r string) error { return &DeniedError{Addr: ip, Reason: r} }
	switch {
	case !ip.IsValid():
		return deny("not an address")
	case ip.IsUnspecified():
		return deny("unspecified address")
	case ip.IsLoopback():
		return deny("loopback (always denied)")
	case ip.IsLinkLocalUnicast():
		return deny("link-local (always denied)")
	case ip.IsMulticast():
		return deny("multicast (always denied)")
	case ip == broadcast:
		return deny("broadcast (always denied)")
	}
	if p == nil {
		p = &Policy{}
	}
	for _, d := range p.Deny {
		if d.Contains(ip) {
			return deny("in --deny " + d.String())
		}
	}
	if len(p.Allow) > 0 {
		ok := false
		for _, a := range p.Allow {
			if a.Contains(ip) {
				ok = true
				break
			}
		}
		if !ok {
			return deny("not in --allow")
		}
	}
	local := p.LocalAddrs
	if local == nil {
		local = InterfaceAddrs
	}
	addrs, err := local()
	if err != nil {
		return deny(fmt.Sprintf("cannot list the server's own addresses: %v", err))
	}
	for _, a := range addrs {
		if a.Unmap() == ip {
			return deny("one of the server's own addresses (always denied)")
		}
	}
	isLocal := p.IsLocal
	if isLocal == nil {
		isLocal = IsLocalRoute
	}
	local2, err := isLocal(ip)
	if err != nil {
		return deny(fmt.Sprintf("route lookup failed: %v", err))
	}
	if local2 {
		return deny("routed to the server itself, a local route (always denied)")
	}
	return nil
}

// IsLocalRoute reports whether the routing of the calling thread's network
// namespace delivers ip locally (the route it takes is of type local,
// RTN_LOCAL): an interface address, or an address in a local route such as
// AnyIP's `ip route add local 10.99.0.0/24 dev lo`. No route at all
// (unreachable) is not local.
func IsLocalRoute(ip netip.Addr) (bool, error) {
	rs, err := netlink.RouteGet(ip.Unmap().AsSlice())
	if err != nil {
		if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
			return false, nil
		}
		return false, fmt.Errorf("ip route get %s: %w", ip, err)
	}
	for _, r := range rs {
		if r.Type == unix.RTN_LOCAL {
			return true, nil
		}
	}
	return false, nil
}

// InterfaceAddrs returns the addresses of the interfaces in the calling
// thread's network namespace.
func InterfaceAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out, nil
}
