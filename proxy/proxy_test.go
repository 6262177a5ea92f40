package proxy_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/proxy"
	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

func TestFixedForward(t *testing.T) {
	l := newLab(t, false)
	l.startServer(t, l.serverConfig(t))
	l.startClient(t, l.clientConfig(t, proxy.ModeFixed), "127.0.0.1:6000", false)
	upload(t, dialApp(t, l.cli, "127.0.0.1:6000"), 4<<20, 0)
	line := l.waitLog(t, "side=server", "connection ended", "to="+destAddr)
	for _, w := range []string{"up_bytes=4194305", "down_bytes=1048608", "end=closed", "from=10.0.1.1:"} {
		if !strings.Contains(line, w) {
			t.Errorf("server log %q lacks %s", line, w)
		}
	}
}

// TestConnSubflows checks the proxy's MPTCP connection uses both paths.
func TestConnSubflows(t *testing.T) {
	l := newLab(t, false)
	l.startServer(t, l.serverConfig(t))
	c := l.clientConfig(t, proxy.ModeFixed)
	conn, err := c.Connect(context.Background(), c.To)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := mptcp.StateOf(conn)
	if err != nil || st != mptcp.Active {
		t.Fatalf("proxy connection MPTCP state = %v, %v; want Active", st, err)
	}
	nstest.WaitSubflows(t, conn, mptcp.Subflows, 2)
	echo(t, conn)
}

// socksConnect speaks the application side of SOCKS5 and returns the reply code.
func socksConnect(t *testing.T, c net.Conn, atyp byte, addr []byte, port uint16) byte {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		t.Fatal(err)
	}
	var b [10]byte
	if _, err := io.ReadFull(c, b[:2]); err != nil || b[0] != 5 || b[1] != 0 {
		t.Fatalf("SOCKS5 method reply %x, %v", b[:2], err)
	}
	req := []byte{5, 1, 0, atyp}
	if atyp == handshake.TypeName {
		req = append(req, byte(len(addr)))
	}
	req = append(req, addr...)
	req = binary.BigEndian.AppendUint16(req, port)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, b[:10]); err != nil {
		t.Fatalf("SOCKS5 reply: %v", err)
	}
	return b[1]
}

func TestSOCKS5(t *testing.T) {
	l := newLab(t, false)
	s := l.serverConfig(t)
	s.LookupNetIP = func(ctx context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "dest.test":
			return []netip.Addr{netip.MustParseAddr("10.9.0.2")}, nil
		case "rebind.test": // a public-looking name that also resolves to loopback
			return []netip.Addr{netip.MustParseAddr("10.9.0.2"), netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, errors.New("no such host")
	}
	l.startServer(t, s)
	l.startClient(t, l.clientConfig(t, proxy.ModeSOCKS5), "127.0.0.1:1080", false)
	ip := netip.MustParseAddr("10.9.0.2").As4()
	tests := []struct {
		name string
		atyp byte
		addr []byte
		port uint16
		want byte
	}{
		{"IPv4", handshake.TypeIPv4, ip[:], 5001, 0},
		{"name", handshake.TypeName, []byte("dest.test"), 5001, 0},
		{"unknown name", handshake.TypeName, []byte("nowhere.test"), 5001, 4},
		{"name resolving to loopback too", handshake.TypeName, []byte("rebind.test"), 5001, 2},
		{"IPv6 loopback", handshake.TypeIPv6, netip.IPv6Loopback().AsSlice(), 5001, 2},
		{"closed port", handshake.TypeIPv4, ip[:], 5999, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialApp(t, l.cli, "127.0.0.1:1080")
			defer c.Close()
			if got := socksConnect(t, c, tt.atyp, tt.addr, tt.port); got != tt.want {
				t.Fatalf("SOCKS5 reply code %d, want %d", got, tt.want)
			}
			if tt.want == 0 {
				echo(t, c)
			}
		})
	}
	l.waitLog(t, "side=server", "refused: destination denied", "127.0.0.1", "loopback")
}

// TestTransparentRedirect installs an nftables REDIRECT rule in the client
// namespace: the application connects straight to the destination and the
// proxy client picks the destination from SO_ORIGINAL_DST.
func TestTransparentRedirect(t *testing.T) {
	l := newLab(t, false)
	l.startServer(t, l.serverConfig(t))
	l.startClient(t, l.clientConfig(t, proxy.ModeTransparent), "0.0.0.0:6001", false)
	rules := `table ip mkt_proxy {
	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr 10.9.0.0/24 tcp dport 5001 redirect to :6001
	}
}`
	cmd := l.cli.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	before := l.dest.accepted.Load()
	upload(t, dialApp(t, l.cli, destAddr), 1<<20, 0)
	l.waitLog(t, "side=client", "connection ended", "to="+destAddr, "end=closed")
	if got := l.dest.accepted.Load() - before; got != 1 {
		t.Errorf("destination accepted %d connections, want 1", got)
	}
	// A connection made straight to the proxy's port is not relayed (loop).
	c := dialApp(t, l.cli, "10.0.1.1:6001")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("direct connection to the transparent port was not closed")
	}
	c.Close()
	l.waitLog(t, "side=client", "was not redirected")
}

// refusedCases are the ways an unauthorised client tries its luck.
func TestRefusals(t *testing.T) {
	l := newLab(t, false)
	l.startServer(t, l.serverConfig(t))
	good := l.clientConfig(t, proxy.ModeFixed)

	// Record a genuine handshake to replay it.
	var recorded bytes.Buffer
	rec := *good
	rec.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := good.Dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &recordConn{Conn: c, w: &recorded}, nil
	}
	conn, err := rec.Connect(context.Background(), good.To)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, conn)
	conn.Close()
	accepted := l.dest.accepted.Load()

	t.Run("replayed handshake", func(t *testing.T) {
		c := rawConn(t, l)
		if _, err := handshake.ReadHello(c); err != nil {
			t.Fatal(err)
		}
		c.Write(recorded.Bytes())
		checkRefused(t, c, handshake.StatusAuthFailed)
	})
	t.Run("unauthenticated", func(t *testing.T) {
		c := rawConn(t, l)
		if _, err := handshake.ReadHello(c); err != nil {
			t.Fatal(err)
		}
		b, _ := (&handshake.Request{Dest: good.To}).MarshalBinary() // no MAC
		c.Write(append(b, "Ehello"...))
		checkRefused(t, c, handshake.StatusAuthFailed)
	})
	t.Run("wrong key", func(t *testing.T) {
		bad := *good
		bad.PSK = []byte("not-the-right-key-at-all")
		_, err := bad.Connect(context.Background(), good.To)
		var he *handshake.Error
		if !errors.As(err, &he) || he.Status != handshake.StatusAuthFailed {
			t.Fatalf("Connect with a wrong key: %v, want %v", err, handshake.StatusAuthFailed)
		}
	})
	t.Run("server without the key", func(t *testing.T) {
		// A fake server that says OK without knowing the key: the client
		// must not trust it (mutual authentication).
		var ln net.Listener
		l.srv.Do(t, func() (err error) { ln, err = proxy.Listen(context.Background(), "10.0.1.2:7001"); return err })
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			hb, _ := (&handshake.Hello{}).MarshalBinary()
			c.Write(hb)
			handshake.ReadRequest(c)
			rb, _ := (&handshake.Reply{Status: handshake.StatusOK}).MarshalBinary()
			c.Write(rb)
			io.Copy(io.Discard, c)
		}()
		c := *good
		c.Server = "10.0.1.2:7001"
		_, err := c.Connect(context.Background(), good.To)
		if err == nil || !strings.Contains(err.Error(), "did not prove it knows the key") {
			t.Fatalf("Connect to a server without the key: %v", err)
		}
	})
	t.Run("denied destination", func(t *testing.T) {
		for _, d := range []string{"127.0.0.1:5001", "10.9.0.1:22", "169.254.1.1:80", "224.0.0.1:80"} {
			dest, _ := handshake.ParseDestination(d)
			_, err := good.Connect(context.Background(), dest)
			var he *handshake.Error
			if !errors.As(err, &he) || he.Status != handshake.StatusDenied {
				t.Errorf("Connect to %s: %v, want %v", d, err, handshake.StatusDenied)
			}
		}
		l.waitLog(t, "side=server", "refused: destination denied", "to=127.0.0.1:5001", "loopback")
		l.waitLog(t, "side=server", "refused: destination denied", "to=10.9.0.1:22", "server's own addresses")
	})
	if got := l.dest.accepted.Load(); got != accepted {
		t.Errorf("destination saw %d connections from refused clients; nothing may be relayed", got-accepted)
	}
	l.waitLog(t, "side=server", "refused: authentication failed")
}

func rawConn(t *testing.T, l *lab) net.Conn {
	c, err := dialer(l.cli, true)(context.Background(), "tcp", serverAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// checkRefused reads the server's Reply and then expects the connection to
// close without relaying anything.
func checkRefused(t *testing.T, c net.Conn, want handshake.Status) {
	t.Helper()
	r, err := handshake.ReadReply(c)
	if err != nil {
		t.Fatalf("reading the reply: %v", err)
	}
	if r.Status != want {
		t.Fatalf("status %v, want %v", r.Status, want)
	}
	if rest, _ := io.ReadAll(c); len(rest) != 0 {
		t.Fatalf("server sent %d bytes after refusing", len(rest))
	}
}

type recordConn struct {
	net.Conn
	w   *bytes.Buffer
	req bool
}

// Write records the first write after the hello: the Request.
func (r *recordConn) Write(b []byte) (int, error) {
	if !r.req {
		r.w.Write(b)
		r.req = true
	}
	return r.Conn.Write(b)
}
