package proxy_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/proxy"
	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

// TestHandshakeFlood holds 3,000 silent connections from one address to a
// server whose --max-conns is 1,000 (issue 12.7): authenticated clients
// from another address must still be served, and the refusals must not
// flood the log — at most a burst of WARN lines, then a count of what was
// suppressed.
func TestHandshakeFlood(t *testing.T) {
	const silent = 3000
	l := newLab(t, false)
	s := l.serverConfig(t)
	s.MaxConns = 1000
	s.HandshakeTimeout = 20 * time.Second // the silent connections are held for the whole test
	l.startServer(t, s)
	l.cli.Run(t, "ip", "addr", "add", attackerIP+"/24", "dev", "c1")
	dial := dialerFrom(l.cli, attackerIP)
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	start := time.Now()
	for i := 0; i < silent; i++ {
		c, err := dial(context.Background(), "tcp", serverAddr)
		if err != nil {
			t.Fatalf("silent connection %d: %v", i, err)
		}
		held = append(held, c)
	}
	t.Logf("%d silent connections opened in %v", silent, time.Since(start).Round(time.Millisecond))

	c := l.clientConfig(t, proxy.ModeFixed)
	ok := 0
	var worst time.Duration
	for i := 0; i < 10; i++ {
		t0 := time.Now()
		conn, err := c.Connect(context.Background(), c.To)
		if err != nil {
			t.Errorf("authenticated client %d during the flood: %v", i, err)
			continue
		}
		echo(t, conn)
		conn.Close()
		worst = max(worst, time.Since(t0))
		ok++
	}
	t.Logf("authenticated clients served during the flood: %d/10, slowest connect+echo %v", ok, worst.Round(time.Microsecond))

	// The refusals were rate-limited and the rest counted.
	line := l.waitLogWithin(t, 8*time.Second, "side=server", "refusal log lines suppressed")
	warns := 0
	for _, ln := range strings.Split(l.logs.String(), "\n") {
		if strings.Contains(ln, "level=WARN") && strings.Contains(ln, "side=server") {
			warns++
		}
	}
	t.Logf("server WARN lines for %d refused connections: %d; summary: %s", silent, warns, line)
	if warns > 50 {
		t.Errorf("%d WARN lines from the server during the flood, want at most 50 (rate-limited)", warns)
	}
	if !strings.Contains(line, "suppressed=") {
		t.Errorf("summary line lacks the count: %s", line)
	}
}

// TestHandshakeLimits: the global handshake limit and the per-source limit
// refuse at once, and free their slots when the handshakes end.
func TestHandshakeLimits(t *testing.T) {
	l := newLab(t, false)
	s := l.serverConfig(t)
	s.MaxHandshakes = 4
	s.MaxHandshakesPerSource = 2
	l.startServer(t, s)
	l.cli.Run(t, "ip", "addr", "add", attackerIP+"/24", "dev", "c1")
	l.cli.Run(t, "ip", "addr", "add", "10.0.1.4/24", "dev", "c1")
	l.cli.Run(t, "ip", "addr", "add", "10.0.1.5/24", "dev", "c1")
	hold := func(src string) net.Conn {
		c, err := dialerFrom(l.cli, src)(context.Background(), "tcp", serverAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}
	status := func(c net.Conn) handshake.Status {
		h, err := handshake.ReadHello(c)
		if err != nil {
			t.Fatalf("reading the hello: %v", err)
		}
		return h.Status
	}
	a1, a2 := hold(attackerIP), hold(attackerIP)
	status(a1)
	status(a2)
	if st := status(hold(attackerIP)); st != handshake.StatusBusy {
		t.Errorf("third handshake from one address: %v, want %v", st, handshake.StatusBusy)
	}
	l.waitLog(t, "side=server", "too many handshakes in progress from this address", "from="+attackerIP)
	b1, b2 := hold("10.0.1.4"), hold("10.0.1.4")
	status(b1)
	status(b2)
	if st := status(hold("10.0.1.5")); st != handshake.StatusBusy {
		t.Errorf("fifth handshake in all: %v, want %v", st, handshake.StatusBusy)
	}
	l.waitLog(t, "side=server", "too many handshakes in progress", "from=10.0.1.5")
	// Ending two handshakes frees their slots for a real client.
	a1.Close()
	a2.Close()
	c := l.clientConfig(t, proxy.ModeFixed)
	var conn net.Conn
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if conn, err = c.Connect(context.Background(), c.To); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("real client after two handshakes ended: %v", err)
	}
	echo(t, conn)
	conn.Close()
}

// TestLocalRouteDenied: an address the server's routing delivers locally
// through a "local" route (AnyIP), not on any interface, is the server's own
// (issue 12.8).
func TestLocalRouteDenied(t *testing.T) {
	l := newLab(t, false)
	l.srv.Run(t, "ip", "route", "add", "local", "10.99.0.0/24", "dev", "lo")
	own := startDest(t, l.srv, "10.99.0.5:5001") // a service of the server's host
	l.startServer(t, l.serverConfig(t))
	c := l.clientConfig(t, proxy.ModeFixed)
	dest, _ := handshake.ParseDestination("10.99.0.5:5001")
	conn, err := c.Connect(context.Background(), dest)
	var he *handshake.Error
	if !errors.As(err, &he) || he.Status != handshake.StatusDenied {
		if conn != nil {
			conn.Close()
		}
		t.Fatalf("Connect to 10.99.0.5 (local route on the server): %v, want %v", err, handshake.StatusDenied)
	}
	if n := own.accepted.Load(); n != 0 {
		t.Errorf("the server's own service accepted %d connections", n)
	}
	l.waitLog(t, "side=server", "refused: destination denied", "to=10.99.0.5:5001", "local route")
	// The destination behind the server is still reached.
	conn, err = c.Connect(context.Background(), c.To)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, conn)
	conn.Close()
}

// TestMappedDenyPrefix: --deny ::ffff:10.9.0.0/120 (IPv4-mapped) denies
// CONNECTs to 10.9.0.x (issue 12.9).
func TestMappedDenyPrefix(t *testing.T) {
	l := newLab(t, false)
	s := l.serverConfig(t)
	var err error
	if s.Policy.Deny, err = proxy.ParsePrefixes("::ffff:10.9.0.0/120"); err != nil {
		t.Fatal(err)
	}
	l.startServer(t, s)
	c := l.clientConfig(t, proxy.ModeFixed)
	conn, err := c.Connect(context.Background(), c.To)
	var he *handshake.Error
	if !errors.As(err, &he) || he.Status != handshake.StatusDenied {
		if conn != nil {
			conn.Close()
		}
		t.Fatalf("Connect to %s with --deny ::ffff:10.9.0.0/120: %v, want %v", destAddr, err, handshake.StatusDenied)
	}
	if n := l.dest.accepted.Load(); n != 0 {
		t.Errorf("denied destination accepted %d connections", n)
	}
	l.waitLog(t, "side=server", "refused: destination denied", "--deny 10.9.0.0/24")
}

// TestDestinationTimeoutAnswered: a destination that drops SYNs gets the
// application a SOCKS5 reply (TTL expired, RFC 1928 code 6) before the
// connection closes (issue 12.10); so does a server that never answers.
func TestDestinationTimeoutAnswered(t *testing.T) {
	l := newLab(t, false)
	nft(t, l.dst, `table inet mkt_blackhole {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 5002 drop
	}
}`)
	nft(t, l.srv, `table inet mkt_blackhole {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 7002 drop
	}
}`)
	s := l.serverConfig(t) // HandshakeTimeout 2s, DialTimeout the default
	l.startServer(t, s)
	c := l.clientConfig(t, proxy.ModeSOCKS5)
	c.HandshakeTimeout = 4 * time.Second
	l.startClient(t, c, "127.0.0.1:1080", false)
	down := l.clientConfig(t, proxy.ModeSOCKS5)
	down.Server = "10.0.1.2:7002" // blackholed: the server never answers
	down.HandshakeTimeout = time.Second
	l.startClient(t, down, "127.0.0.1:1081", false)

	ip := netip.MustParseAddr("10.9.0.2").As4()
	for _, tt := range []struct {
		name, listen string
		within       time.Duration
	}{
		{"destination drops SYNs", "127.0.0.1:1080", 4 * time.Second},
		{"server does not answer", "127.0.0.1:1081", 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := dialApp(t, l.cli, tt.listen)
			defer app.Close()
			start := time.Now()
			code := socksConnect(t, app, handshake.TypeIPv4, ip[:], 5002)
			d := time.Since(start)
			t.Logf("SOCKS5 reply code %d after %v", code, d.Round(time.Millisecond))
			if code != 6 {
				t.Errorf("SOCKS5 reply code %d, want 6 (TTL expired: timed out)", code)
			}
			if d > tt.within {
				t.Errorf("reply after %v, want within %v", d, tt.within)
			}
		})
	}
	l.waitLog(t, "side=server", "refused: destination timed out", "to=10.9.0.2:5002")
}

// TestMPTCPStateLogged: every relayed connection's log line says whether
// its MPTCP leg is MPTCP or plain TCP, and why (issue 15.1).
func TestMPTCPStateLogged(t *testing.T) {
	l := newLab(t, false)
	l.startServer(t, l.serverConfig(t))
	l.startClient(t, l.clientConfig(t, proxy.ModeFixed), "127.0.0.1:6000", false)
	plain := l.clientConfig(t, proxy.ModeFixed)
	plain.Dial = dialer(l.cli, false) // a client that does not ask for MPTCP
	l.startClient(t, plain, "127.0.0.1:6001", false)

	app := dialApp(t, l.cli, "127.0.0.1:6000")
	echo(t, app)
	app.Close()
	l.waitLog(t, "side=client", "relaying", "mptcp=active")
	l.waitLog(t, "side=server", "relaying", "mptcp=active")
	l.waitLog(t, "side=server", "connection ended", "mptcp=active")

	app = dialApp(t, l.cli, "127.0.0.1:6001")
	echo(t, app)
	app.Close()
	l.waitLog(t, "side=client", "relaying", "mptcp=not-requested", "mptcp_why=", "plain TCP socket")
	l.waitLog(t, "side=server", "relaying", "mptcp=fallback", "mptcp_why=", "peer did not negotiate MPTCP")
}

// waitLogWithin is waitLog with another deadline.
func (l *lab) waitLogWithin(t *testing.T, d time.Duration, words ...string) string {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, line := range strings.Split(l.logs.String(), "\n") {
			ok := true
			for _, w := range words {
				ok = ok && strings.Contains(line, w)
			}
			if ok {
				return line
			}
		}
	}
	t.Fatalf("no log line with %q within %v", words, d)
	return ""
}

// nft loads an nftables ruleset into ns.
func nft(t *testing.T, ns *nstest.NS, rules string) {
	t.Helper()
	cmd := ns.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
}
