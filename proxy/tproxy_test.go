package proxy_test

import (
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/proxy"
)

// TestTransparentTPROXY: the client namespace is the router of a LAN
// namespace; an nftables tproxy rule hands the LAN's connections to the
// destination to the proxy client (IP_TRANSPARENT listener), which takes the
// destination from the accepted socket's own address.
func TestTransparentTPROXY(t *testing.T) {
	l := newLab(t, false)
	lan := nstest.New(t, "lan")
	nstest.Link(t, lan, "l0", "192.168.7.2/24", l.cli, "lan0", "192.168.7.1/24")
	lan.Run(t, "ip", "route", "add", "default", "via", "192.168.7.1")
	l.cli.Sysctl(t, "net.ipv4.ip_forward", "1")
	l.cli.Run(t, "ip", "rule", "add", "fwmark", "1", "lookup", "100")
	l.cli.Run(t, "ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100")
	cmd := l.cli.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(`table ip mkt_tproxy {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		iifname "lan0" tcp dport 5001 tproxy to :6002 meta mark set 1 accept
	}
}`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	l.startServer(t, l.serverConfig(t))
	l.startClient(t, l.clientConfig(t, proxy.ModeTransparent), "0.0.0.0:6002", true)
	before := l.dest.accepted.Load()
	upload(t, dialApp(t, lan, destAddr), 1<<20, 0)
	l.waitLog(t, "side=client", "connection ended", "from=192.168.7.2:", "to="+destAddr, "end=closed")
	l.waitLog(t, "side=server", "connection ended", "to="+destAddr, "end=closed")
	if got := l.dest.accepted.Load() - before; got != 1 {
		t.Errorf("destination accepted %d connections, want 1", got)
	}
}
