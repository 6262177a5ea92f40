package proxy_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/proxy"
	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

// addIPv6 gives the lab IPv6 addresses on path 1 and the destination link,
// and starts a destination program on [fd09::2]:5001.
func (l *lab) addIPv6(t *testing.T) *destApp {
	t.Helper()
	for _, a := range []struct {
		ns        *nstest.NS
		dev, addr string
	}{{l.cli, "c1", "fd00:1::1/64"}, {l.srv, "s1", "fd00:1::2/64"}, {l.srv, "sd", "fd09::1/64"}, {l.dst, "d0", "fd09::2/64"}} {
		a.ns.Run(t, "ip", "-6", "addr", "add", a.addr, "dev", a.dev, "nodad")
	}
	l.dst.Run(t, "ip", "-6", "route", "add", "default", "via", "fd09::1")
	l.cli.Run(t, "ip", "-6", "route", "add", "default", "via", "fd00:1::2")
	return startDest(t, l.dst, "[fd09::2]:5001")
}

// TestIPv6Destinations: the transparent mode with an ip6 REDIRECT rule
// (IP6T_SO_ORIGINAL_DST) and SOCKS5 with an IPv6 address.
func TestIPv6Destinations(t *testing.T) {
	l := newLab(t, false)
	dest6 := l.addIPv6(t)
	l.startServer(t, l.serverConfig(t))
	l.startClient(t, l.clientConfig(t, proxy.ModeTransparent), "[::]:6001", false)
	l.startClient(t, l.clientConfig(t, proxy.ModeSOCKS5), "127.0.0.1:1080", false)
	cmd := l.cli.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(`table ip6 mkt_proxy6 {
	chain output {
		type nat hook output priority -100; policy accept;
		ip6 daddr fd09::/64 tcp dport 5001 redirect to :6001
	}
}`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	upload(t, dialApp(t, l.cli, "[fd09::2]:5001"), 1<<20, 0)
	l.waitLog(t, "side=client", "mode=transparent")
	l.waitLog(t, "side=server", "connection ended", "to=[fd09::2]:5001", "end=closed")

	c := dialApp(t, l.cli, "127.0.0.1:1080")
	defer c.Close()
	if code := socksConnect(t, c, handshake.TypeIPv6, netip.MustParseAddr("fd09::2").AsSlice(), 5001); code != 0 {
		t.Fatalf("SOCKS5 CONNECT [fd09::2]:5001: reply %d", code)
	}
	echo(t, c)
	if got := dest6.accepted.Load(); got != 2 {
		t.Errorf("IPv6 destination accepted %d connections, want 2", got)
	}
	// The server's own IPv6 address is denied like its IPv4 ones.
	cc := l.clientConfig(t, proxy.ModeFixed)
	dest, _ := handshake.ParseDestination("[fd09::1]:22")
	if _, err := cc.Connect(t.Context(), dest); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Errorf("Connect to the server's own IPv6 address: %v, want denied", err)
	}
}
