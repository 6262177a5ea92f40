package proxy_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpkit/mptcpkit/proxy"
)

func TestPolicyCheck(t *testing.T) {
	pfx := func(s string) []netip.Prefix {
		p, err := proxy.ParsePrefixes(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	own := func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")}, nil
	}
	notLocal := func(netip.Addr) (bool, error) { return false, nil } // no route lookup in the host's namespace
	open := &proxy.Policy{LocalAddrs: own, IsLocal: notLocal}
	narrow := &proxy.Policy{Allow: pfx("203.0.113.0/24, 2001:db8:1::/48"), Deny: pfx("203.0.113.66"), LocalAddrs: own, IsLocal: notLocal}
	tests := []struct {
		p    *proxy.Policy
		ip   string
		want string // "" = permitted, else part of the reason
	}{
		{open, "203.0.113.5", ""},
		{open, "2001:db8:1::5", ""},
		{open, "127.0.0.1", "loopback"},
		{open, "127.1.2.3", "loopback"},
		{open, "::1", "loopback"},
		{open, "::ffff:127.0.0.1", "loopback"},
		{open, "0.0.0.0", "unspecified"},
		{open, "::", "unspecified"},
		{open, "169.254.169.254", "link-local"},
		{open, "fe80::1", "link-local"},
		{open, "224.0.0.1", "multicast"},
		{open, "ff02::1", "multicast"},
		{open, "255.255.255.255", "broadcast"},
		{open, "192.0.2.10", "server's own"},
		{open, "2001:db8::10", "server's own"},
		{narrow, "203.0.113.5", ""},
		{narrow, "203.0.113.66", "--deny"},
		{narrow, "198.51.100.1", "not in --allow"},
		{narrow, "2001:db8:1::1", ""},
		{narrow, "127.0.0.1", "loopback"}, // --allow cannot open the always-denied classes
		{nil, "203.0.113.5", ""},
	}
	for _, tt := range tests {
		err := tt.p.Check(netip.MustParseAddr(tt.ip))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Check(%s) = %v, want permitted", tt.ip, err)
		case tt.want != "":
			var de *proxy.DeniedError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check(%s) = %v, want a denial naming %q", tt.ip, err, tt.want)
			}
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := proxy.ParsePrefixes("10.1.2.3/8, 2001:db8::1, ,192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::1/128"), netip.MustParsePrefix("192.0.2.1/32")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("ParsePrefixes (-want +got):\n%s", diff)
	}
	if _, err := proxy.ParsePrefixes("10.0.0.0/33"); err == nil || !strings.Contains(err.Error(), "10.0.0.0/33") {
		t.Errorf("bad prefix: %v", err)
	}
}

// TestParseMappedPrefixes: IPv4-mapped prefixes mean their IPv4 prefix, as
// addresses are unmapped before matching; a prefix mixing mapped and other
// IPv6 addresses is refused (issue 12.9).
func TestParseMappedPrefixes(t *testing.T) {
	got, err := proxy.ParsePrefixes("::ffff:10.0.0.0/104, ::ffff:192.0.2.7, ::ffff:0:0/96")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("0.0.0.0/0")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("ParsePrefixes (-want +got):\n%s", diff)
	}
	p := &proxy.Policy{Deny: got[:1], LocalAddrs: func() ([]netip.Addr, error) { return nil, nil },
		IsLocal: func(netip.Addr) (bool, error) { return false, nil }}
	for _, ip := range []string{"10.0.0.5", "::ffff:10.0.0.5"} {
		if err := p.Check(netip.MustParseAddr(ip)); err == nil || !strings.Contains(err.Error(), "--deny 10.0.0.0/8") {
			t.Errorf("Check(%s) with --deny ::ffff:10.0.0.0/104 = %v, want denied", ip, err)
		}
	}
	if _, err := proxy.ParsePrefixes("::ffff:0:0/95"); err == nil || !strings.Contains(err.Error(), "IPv4 prefix") {
		t.Errorf("ParsePrefixes(::ffff:0:0/95) = %v, want an error saying to write an IPv4 prefix", err)
	}
}

// TestPolicyLocalRoute: an address the routing delivers locally is denied
// as the server's own, whatever LocalAddrs says.
func TestPolicyLocalRoute(t *testing.T) {
	p := &proxy.Policy{LocalAddrs: func() ([]netip.Addr, error) { return nil, nil },
		IsLocal: func(ip netip.Addr) (bool, error) { return ip == netip.MustParseAddr("10.99.0.5"), nil }}
	if err := p.Check(netip.MustParseAddr("10.99.0.5")); err == nil || !strings.Contains(err.Error(), "local route") {
		t.Errorf("Check(local-route address) = %v, want denied", err)
	}
	if err := p.Check(netip.MustParseAddr("10.99.1.5")); err != nil {
		t.Errorf("Check(other address) = %v", err)
	}
}
