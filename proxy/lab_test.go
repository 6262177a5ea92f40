package proxy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/pm"
	"github.com/mptcpkit/mptcpkit/proxy"
	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

// The test topology ("lab"):
//
//	cli ns (apps + proxy client) ══ path 1: c1 10.0.1.1 ↔ s1 10.0.1.2 ══ srv ns (proxy server) ── sd 10.9.0.1 ↔ d0 10.9.0.2 ── dst ns (destination app)
//	                             ══ path 2: c2 10.0.2.1 ↔ s2 10.0.2.2 ══
//
// The client has a subflow endpoint 10.0.2.1 dev c2 (limits subflows 2), so
// each MPTCP connection to the proxy server uses both paths. The destination
// lives in its own namespace: the server's own addresses are always denied.
const (
	serverIP   = "10.0.1.2"
	serverAddr = "10.0.1.2:7000"
	destAddr   = "10.9.0.2:5001"
	testKey    = "proxy-test-key-0123456789"
)

type lab struct {
	cli, srv, dst *nstest.NS
	dest          *destApp
	logs          *syncBuffer
}

func newLab(t *testing.T, shape bool) *lab { return newLabN(t, 2, shape) }

// newLabN builds the lab with paths parallel paths (path i: ci 10.0.i.1 ↔ si
// 10.0.i.2; the client has a subflow endpoint on each path after the first).
func newLabN(t *testing.T, paths int, shape bool) *lab {
	t.Helper()
	l := &lab{logs: &syncBuffer{}}
	l.cli, l.srv = nstest.Pair(t, nstest.Paths(paths, "10.0", "c", "s"))
	l.dst = nstest.New(t, "dst")
	nstest.Link(t, l.srv, "sd", "10.9.0.1/24", l.dst, "d0", "10.9.0.2/24")
	l.dst.Run(t, "ip", "route", "add", "default", "via", "10.9.0.1")
	l.cli.Run(t, "ip", "route", "add", "default", "via", "10.0.1.2")
	// Paths 2.. explicitly: what leaves from 10.0.i.1 goes out ci.
	for i := 2; i <= paths; i++ {
		table := fmt.Sprint(100 + i)
		l.cli.Run(t, "ip", "rule", "add", "from", fmt.Sprintf("10.0.%d.1", i), "table", table)
		l.cli.Run(t, "ip", "route", "add", serverIP+"/32", "dev", fmt.Sprintf("c%d", i), "table", table)
	}
	l.srv.Sysctl(t, "net.ipv4.ip_forward", "1") // only for the direct single-path baseline
	for _, ns := range []*nstest.NS{l.cli, l.srv} {
		c, err := pm.Dial(&pm.Config{NetNS: ns.FD()})
		if err != nil {
			t.Fatalf("pm.Dial in %s: %v", ns.Name, err)
		}
		n := uint32(max(2, paths))
		if err := c.SetLimits(pm.LimitsUpdate{Subflows: &n, AddAddrAccepted: &n}); err != nil {
			t.Fatalf("set limits in %s: %v", ns.Name, err)
		}
		if ns == l.cli {
			for i := 2; i <= paths; i++ {
				dev := fmt.Sprintf("c%d", i)
				a := netip.MustParseAddr(fmt.Sprintf("10.0.%d.1", i))
				if err := c.AddEndpoint(pm.Endpoint{Addr: a, Flags: pm.FlagSubflow, IfIndex: linkIndex(t, ns, dev)}); err != nil {
					t.Fatalf("endpoint %s dev %s subflow: %v", a, dev, err)
				}
			}
		}
		c.Close()
	}
	if shape {
		for i := 1; i <= paths; i++ {
			htb(t, l.cli, fmt.Sprintf("c%d", i), "100mbit")
			htb(t, l.srv, fmt.Sprintf("s%d", i), "100mbit")
		}
	}
	l.dest = startDest(t, l.dst, destAddr)
	return l
}

func linkIndex(t *testing.T, ns *nstest.NS, name string) int {
	t.Helper()
	lk, err := ns.Handle().LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return lk.Attrs().Index
}

// htb shapes dev's egress to rate (HTB, as in lab-notes.md).
func htb(t *testing.T, ns *nstest.NS, dev, rate string) {
	t.Helper()
	ns.Run(t, "tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10", "r2q", "100")
	ns.Run(t, "tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", rate, "ceil", rate)
}

// logger returns a logger writing into l.logs, printed on failure.
func (l *lab) logger(t *testing.T, who string) *slog.Logger {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("proxy logs:\n%s", l.logs.String())
		}
	})
	return slog.New(slog.NewTextHandler(l.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("side", who)
}

// dialer returns a dial function that makes its sockets inside ns.
func dialer(ns *nstest.NS, mptcp bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		d.SetMultipathTCP(mptcp)
		var c net.Conn
		err := ns.NetNS.Do(func() (err error) {
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// attackerIP is an extra address on c1 that floods come from.
const attackerIP = "10.0.1.3"

// dialerFrom returns a plain-TCP dial function making its sockets inside ns
// with source address src.
func dialerFrom(ns *nstest.NS, src string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		d.SetMultipathTCP(false)
		var c net.Conn
		err := ns.NetNS.Do(func() (err error) {
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

func dialApp(t *testing.T, ns *nstest.NS, addr string) *net.TCPConn {
	t.Helper()
	c, err := dialer(ns, false)(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("app dial %s: %v", addr, err)
	}
	return c.(*net.TCPConn)
}

// serverConfig is a PSK server acting inside the srv namespace.
func (l *lab) serverConfig(t *testing.T) *proxy.Server {
	return &proxy.Server{
		PSK:              []byte(testKey),
		HandshakeTimeout: 2 * time.Second,
		DrainTimeout:     2 * time.Second,
		Dial:             dialer(l.srv, false),
		Policy: &proxy.Policy{LocalAddrs: func() (as []netip.Addr, err error) {
			err = l.srv.NetNS.Do(func() (err error) { as, err = proxy.InterfaceAddrs(); return err })
			return as, err
		}, IsLocal: func(ip netip.Addr) (local bool, err error) {
			err = l.srv.NetNS.Do(func() (err error) { local, err = proxy.IsLocalRoute(ip); return err })
			return local, err
		}},
		Logger: l.logger(t, "server"),
	}
}

// startServer runs s on serverAddr in the srv namespace until the test ends
// (or stop is called); it returns stop, which waits for Serve to return.
func (l *lab) startServer(t *testing.T, s *proxy.Server) (stop func() error) {
	t.Helper()
	var ln net.Listener
	l.srv.Do(t, func() (err error) { ln, err = proxy.Listen(context.Background(), serverAddr); return err })
	return serve(t, func(ctx context.Context) error { return s.Serve(ctx, ln) })
}

func (l *lab) clientConfig(t *testing.T, mode proxy.Mode) *proxy.Client {
	to, _ := handshake.ParseDestination(destAddr)
	return &proxy.Client{
		Server: serverAddr, PSK: []byte(testKey), Mode: mode, To: to,
		DrainTimeout: 2 * time.Second,
		Dial:         dialer(l.cli, true),
		Logger:       l.logger(t, "client"),
	}
}

// startClient runs c on addr in the cli namespace.
func (l *lab) startClient(t *testing.T, c *proxy.Client, addr string, transparent bool) (stop func() error) {
	t.Helper()
	var ln net.Listener
	l.cli.Do(t, func() (err error) { ln, err = proxy.ListenTCP(context.Background(), addr, transparent); return err })
	return serve(t, func(ctx context.Context) error { return c.Serve(ctx, ln) })
}

func serve(t *testing.T, run func(context.Context) error) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				err = errors.New("Serve did not return 20 s after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return stop
}

// destApp is the plain-TCP destination program (MPTCP off). Per connection
// it reads a command byte:
//
//	'U'  read to EOF, then answer sha256 of what it read + 1 MiB, close
//	'E'  echo until EOF, then half-close
//	'R'  reset the connection
//	'S'  read and discard until EOF
type destApp struct {
	accepted atomic.Int64
	received atomic.Int64 // bytes read by 'U' connections
	ln       net.Listener
}

const responseSize = 1 << 20

func startDest(t *testing.T, ns *nstest.NS, addr string) *destApp {
	return startDestMPTCP(t, ns, addr, false)
}

// startDestMPTCP is startDest with an MPTCP listener when mptcp is true
// (the direct-MPTCP comparison in the benchmarks).
func startDestMPTCP(t *testing.T, ns *nstest.NS, addr string, mptcp bool) *destApp {
	t.Helper()
	d := &destApp{}
	ns.Do(t, func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(mptcp)
		d.ln, err = lc.Listen(context.Background(), "tcp", addr)
		return err
	})
	var wg sync.WaitGroup
	t.Cleanup(func() { d.ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := d.ln.Accept()
			if err != nil {
				return
			}
			d.accepted.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				var cmd [1]byte
				if _, err := io.ReadFull(c, cmd[:]); err != nil {
					return
				}
				switch cmd[0] {
				case 'U':
					h := sha256.New()
					if _, err := io.Copy(counter{h, &d.received}, c); err != nil {
						return
					}
					c.Write(h.Sum(nil))
					c.Write(pattern(responseSize))
				case 'E':
					io.Copy(c, c)
					c.(*net.TCPConn).CloseWrite()
				case 'R':
					c.(*net.TCPConn).SetLinger(0) // reset
				case 'S':
					io.Copy(io.Discard, c) // sink, never answers
				}
			}()
		}
	}()
	return d
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// upload is the plain-TCP client program: it sends 'U' and random data
// (size bytes, or for dur), half-closes, and checks the destination's
// sha256 and the whole response. It returns the bytes sent and the goodput.
func upload(t *testing.T, c *net.TCPConn, size int64, dur time.Duration) (int64, float64) {
	t.Helper()
	defer c.Close()
	c.SetDeadline(time.Now().Add(dur + 60*time.Second))
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 128<<10)
	start := time.Now()
	if _, err := c.Write([]byte{'U'}); err != nil {
		t.Fatal(err)
	}
	var sent int64
	for (size > 0 && sent < size) || (dur > 0 && time.Since(start) < dur) {
		n := len(buf)
		if size > 0 && size-sent < int64(n) {
			n = int(size - sent)
		}
		rng.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := c.Write(buf[:n]); err != nil {
			t.Fatalf("upload after %d bytes: %v", sent, err)
		}
		sent += int64(n)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("reading the response after half-close: %v (got %d bytes)", err, len(got))
	}
	if len(got) != sha256.Size+responseSize {
		t.Fatalf("response after half-close: %d bytes, want %d", len(got), sha256.Size+responseSize)
	}
	if !bytes.Equal(got[:sha256.Size], h.Sum(nil)) {
		t.Fatalf("sha256 mismatch: destination got other bytes than sent (%d sent)", sent)
	}
	if !bytes.Equal(got[sha256.Size:], pattern(responseSize)) {
		t.Fatal("response corrupted")
	}
	return sent, float64(sent) * 8 / elapsed.Seconds()
}

// echo checks one round trip through c.
func echo(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := []byte("Ehello through the proxy")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg)-1)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("echo: %v", err)
	}
	if string(got) != string(msg[1:]) {
		t.Fatalf("echo = %q", got)
	}
}

// syncBuffer is where the code under test logs; the test reads it as it goes.
type syncBuffer = nstest.Buffer

// waitLog waits until the logs contain all of words on one line.
func (l *lab) waitLog(t *testing.T, words ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(l.logs.String(), "\n") {
			ok := true
			for _, w := range words {
				ok = ok && strings.Contains(line, w)
			}
			if ok {
				return line
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log line with %q", words)
	return ""
}

func mbit(bps float64) string { return fmt.Sprintf("%.1f Mbit/s", bps/1e6) }

type counter struct {
	w io.Writer
	n *atomic.Int64
}

func (c counter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// steadyGoodput uploads through c for dur and returns the goodput the
// destination saw from min(1.2 s, dur/3) to the end (after slow start and
// the subflows' joins; the same for every path layout).
func (l *lab) steadyGoodput(t *testing.T, c *net.TCPConn, dur time.Duration) float64 {
	t.Helper()
	return steadyGoodput(t, l.dest, c, dur)
}

func steadyGoodput(t *testing.T, dest *destApp, c *net.TCPConn, dur time.Duration) float64 {
	t.Helper()
	type sample struct {
		at time.Time
		n  int64
	}
	var s0, s1 sample
	done := make(chan struct{})
	go func() {
		defer close(done)
		skip := min(1200*time.Millisecond, dur/3)
		time.Sleep(skip)
		s0 = sample{time.Now(), dest.received.Load()}
		time.Sleep(dur - skip - 100*time.Millisecond)
		s1 = sample{time.Now(), dest.received.Load()}
	}()
	upload(t, c, 0, dur)
	<-done
	return float64(s1.n-s0.n) * 8 / s1.at.Sub(s0.at).Seconds()
}
