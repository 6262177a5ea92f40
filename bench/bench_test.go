package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/pm"
)

// pair is a client and a server namespace joined by one veth pair
// (10.0.1.1 client, 10.0.1.2 server) with a bench server running.
type pair struct {
	client, server *nstest.NS
	srv            *Server
	addr           string
	counted        *countingListener
	log            *syncBuffer
}

// syncBuffer is where the code under test logs; the test reads it as it goes.
type syncBuffer = nstest.Buffer

type serverOpt struct {
	tcpOnly   bool // listen without MPTCP
	handshake time.Duration
	maxRuns   int
}

// newPair builds the namespaces and starts a server listening on
// 10.0.1.2:DefaultPort inside the server namespace.
func newPair(t testing.TB, o serverOpt) *pair {
	t.Helper()
	p := &pair{client: nstest.New(t, "cli"), server: nstest.New(t, "srv"), log: new(syncBuffer)}
	nstest.Link(t, p.client, "veth1", "10.0.1.1/24", p.server, "veth1", "10.0.1.2/24")
	p.serve(t, o, "10.0.1.2:5301")
	return p
}

func (p *pair) serve(t testing.TB, o serverOpt, addr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var ln net.Listener
	var err error
	if o.tcpOnly {
		err = p.server.NetNS.Do(func() error {
			var lc net.ListenConfig
			lc.SetMultipathTCP(false)
			ln, err = lc.Listen(ctx, "tcp", addr)
			return err
		})
	} else {
		ln, err = mptcp.ListenWith(ctx, "tcp", addr, mptcp.ListenOptions{NetNS: p.server.NetNS})
	}
	if err != nil {
		cancel()
		t.Fatalf("listen: %v", err)
	}
	p.counted = &countingListener{Listener: ln}
	p.srv = &Server{HandshakeTimeout: o.handshake, MaxRuns: o.maxRuns}
	p.srv.Logger = slog.New(slog.NewTextHandler(p.log, nil))
	p.addr = addr
	done := make(chan error, 1)
	go func() { done <- p.srv.Serve(ctx, p.counted) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return 10 s after its context ended")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", p.log.String())
		}
	})
}

func (p *pair) config(cfg Config) Config {
	cfg.Addr = p.addr
	cfg.Dialer = NetNSDialer(p.client.NetNS)
	if cfg.Duration == 0 {
		cfg.Duration = 2 * time.Second
	}
	if cfg.Interval == 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	return cfg
}

// countingListener hands out connections that count their payload bytes
// independently of the bench code: what the server read and wrote on data
// connections, hellos excluded.
type countingListener struct {
	net.Listener
	read, written atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l    *countingListener
	head []byte // the first bytes read: the hello
	data bool
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	b := p[:n]
	if len(c.head) < helloLen {
		k := min(helloLen-len(c.head), len(b))
		c.head = append(c.head, b[:k]...)
		b = b[k:]
		if len(c.head) == helloLen {
			c.data = c.head[5] == kindData
		}
	}
	if c.data {
		c.l.read.Add(int64(len(b)))
	}
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.data {
		c.l.written.Add(int64(n))
	}
	return n, err
}

func (c *countingConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }
func (c *countingConn) NetConn() net.Conn { return c.Conn }

// countingDialer counts what the client reads on data connections.
type countingDialer struct {
	next DialFunc
	read atomic.Int64
}

func (d *countingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.next(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &clientCounting{Conn: c, n: &d.read}, nil
}

type clientCounting struct {
	net.Conn
	n       *atomic.Int64
	started bool // the hello was written
	data    bool // it was a data hello
}

func (c *clientCounting) Write(p []byte) (int, error) {
	if !c.started && len(p) >= helloLen {
		c.started, c.data = true, p[5] == kindData
	}
	return c.Conn.Write(p)
}

func (c *clientCounting) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.data {
		c.n.Add(int64(n))
	}
	return n, err
}
func (c *clientCounting) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }
func (c *clientCounting) NetConn() net.Conn { return c.Conn }

// checkResult checks the invariants every bulk result must hold.
func checkResult(t *testing.T, r *Result, cfg Config) {
	t.Helper()
	if r.Bytes <= 0 || r.Bytes != r.SenderBytes {
		t.Errorf("bytes: receiver %d, sender %d; want equal and > 0", r.Bytes, r.SenderBytes)
	}
	if len(r.Streams) != cfg.Streams {
		t.Fatalf("%d streams reported, want %d", len(r.Streams), cfg.Streams)
	}
	var sum int64
	subflows := 0
	for _, s := range r.Streams {
		sum += s.Bytes
		subflows += len(s.Subflows)
		if len(s.Subflows) == 0 {
			t.Errorf("stream %d: no subflows reported", s.ID)
			continue
		}
		// Each subflow's acknowledged bytes add up to the stream's payload
		// plus its hello (and SYN/FIN, and what was sent twice).
		var acked uint64
		for _, sf := range s.Subflows {
			acked += sf.BytesAcked
		}
		want := uint64(s.SenderBytes)
		if !cfg.Reverse {
			want += helloLen
		}
		slack := want/50 + 4096
		if acked < want || acked > want+slack {
			t.Errorf("stream %d: subflows carried %d bytes in all, want %d (+ at most %d for SYN/FIN and retransmissions); subflows %+v",
				s.ID, acked, want, slack, s.Subflows)
		}
	}
	if sum != r.Bytes {
		t.Errorf("streams add up to %d bytes, total says %d", sum, r.Bytes)
	}
	if subflows != r.Subflows {
		t.Errorf("streams have %d subflows, total says %d", subflows, r.Subflows)
	}
	if r.Seconds < cfg.Duration.Seconds()*0.9 || r.Seconds > cfg.Duration.Seconds()+5 {
		t.Errorf("seconds = %.3f for a %v run", r.Seconds, cfg.Duration)
	}
	if got := float64(r.Bytes) * 8 / r.Seconds; got != r.BitsPerSecond {
		t.Errorf("bits/s = %v, want bytes*8/seconds = %v", r.BitsPerSecond, got)
	}
	for _, cc := range []string{r.CongestionControl, r.ClientCongestionControl, r.ServerCongestionControl} {
		if cc == "" {
			t.Errorf("congestion control missing: %q %q %q", r.CongestionControl, r.ClientCongestionControl, r.ServerCongestionControl)
			break
		}
	}
	if len(r.Intervals) < int(cfg.Duration/cfg.Interval)-1 {
		t.Errorf("%d intervals for a %v run every %v", len(r.Intervals), cfg.Duration, cfg.Interval)
	}
	var ivBytes int64
	for _, iv := range r.Intervals {
		ivBytes += iv.Bytes
		if iv.End <= iv.Start {
			t.Errorf("interval %+v ends before it starts", iv)
		}
	}
	if ivBytes != r.Bytes {
		t.Errorf("intervals add up to %d bytes, total %d", ivBytes, r.Bytes)
	}
	var ivRetr int64
	for _, iv := range r.Intervals {
		ivRetr += iv.Retransmits
	}
	if ivRetr != r.Retransmits {
		t.Errorf("intervals add up to %d retransmits, total %d", ivRetr, r.Retransmits)
	}
	if cfg.Streams > 1 {
		perStream := make([]int64, cfg.Streams)
		for _, iv := range r.Intervals {
			if len(iv.Streams) != cfg.Streams {
				t.Fatalf("interval %.2f-%.2f has %d streams, want %d", iv.Start, iv.End, len(iv.Streams), cfg.Streams)
			}
			var sum int64
			subflows := 0
			for i, s := range iv.Streams {
				sum += s.Bytes
				subflows += s.Subflows
				perStream[i] += s.Bytes
			}
			if sum != iv.Bytes || subflows != iv.Subflows {
				t.Errorf("interval %.2f-%.2f: streams add up to %d bytes, %d subflows; the interval says %d, %d", iv.Start, iv.End, sum, subflows, iv.Bytes, iv.Subflows)
			}
		}
		for i, s := range r.Streams {
			if perStream[i] != s.Bytes {
				t.Errorf("stream %d: intervals add up to %d bytes, the stream carried %d", i, perStream[i], s.Bytes)
			}
		}
	}
}

func TestRunVeth(t *testing.T) {
	p := newPair(t, serverOpt{})
	for _, tc := range []struct {
		name      string
		cfg       Config
		wantState string
	}{
		{"tcp", Config{Mode: ModeTCP}, stateTCP},
		{"mptcp", Config{Mode: ModeMPTCP}, stateMPTCP},
		{"mptcp-reverse-2-streams", Config{Mode: ModeMPTCP, Reverse: true, Streams: 2}, stateMPTCP},
		{"tcp-reverse", Config{Mode: ModeTCP, Reverse: true}, stateTCP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := p.config(tc.cfg)
			cd := &countingDialer{next: cfg.Dialer}
			cfg.Dialer = cd.dial
			read0, written0 := p.counted.read.Load(), p.counted.written.Load()
			var progress []Interval
			r, err := Run(context.Background(), cfg, func(iv Interval) { progress = append(progress, iv) })
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			cfg, _ = cfg.withDefaults()
			checkResult(t, r, cfg)
			// The receiver's independent count.
			var independent int64
			if cfg.Reverse {
				independent = cd.read.Load()
				if w := p.counted.written.Load() - written0; w != independent {
					t.Errorf("server connections wrote %d bytes, client connections read %d", w, independent)
				}
			} else {
				independent = p.counted.read.Load() - read0
			}
			if r.Bytes != independent {
				t.Errorf("reported %d bytes, the receiver's connections counted %d", r.Bytes, independent)
			}
			// The last interval may have absorbed a short remainder.
			if len(progress) != len(r.Intervals) && len(progress) != len(r.Intervals)-1 {
				t.Errorf("progress called %d times, %d intervals in the result", len(progress), len(r.Intervals))
			}
			for i := range min(len(progress), len(r.Intervals)) - 1 {
				if diff := cmp.Diff(r.Intervals[i], progress[i]); diff != "" {
					t.Errorf("progress %d differs from the result's interval (-result +progress):\n%s", i, diff)
				}
			}
			for _, s := range r.Streams {
				if s.State != tc.wantState || s.ServerState != tc.wantState {
					t.Errorf("stream %d: state %q, server state %q; want %q", s.ID, s.State, s.ServerState, tc.wantState)
				}
			}
			if r.Fallback {
				t.Errorf("fallback reported on a %v run against an MPTCP listener", cfg.Mode)
			}
			if r.Mode != cfg.Mode || r.Reverse != cfg.Reverse {
				t.Errorf("result says mode %v reverse %v", r.Mode, r.Reverse)
			}
			t.Logf("%v: %.0f Mbit/s, %d subflows, %d retransmits, cc %s", cfg.Mode, r.BitsPerSecond/1e6, r.Subflows, r.Retransmits, r.CongestionControl)
		})
	}
}

// TestRunTwoPaths runs MPTCP over two shaped paths with a client subflow
// endpoint: both subflows carry data and add up to the total.
func TestRunTwoPaths(t *testing.T) {
	p := newPair(t, serverOpt{})
	nstest.Link(t, p.client, "veth2", "10.0.2.1/24", p.server, "veth2", "10.0.2.2/24")
	for _, ns := range []*nstest.NS{p.client, p.server} {
		// 50 Mbit/s each way on both paths: neither path alone can carry
		// the transfer, so the scheduler must use both.
		for _, dev := range []string{"veth1", "veth2"} {
			ns.Run(t, "tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10", "r2q", "100")
			ns.Run(t, "tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", "50mbit", "ceil", "50mbit")
		}
	}
	subflows := uint32(2)
	for _, ns := range []*nstest.NS{p.client, p.server} {
		c, err := pm.Dial(&pm.Config{NetNS: ns.FD()})
		if err != nil {
			t.Fatalf("pm.Dial: %v", err)
		}
		defer c.Close()
		if err := c.SetLimits(pm.LimitsUpdate{Subflows: &subflows, AddAddrAccepted: &subflows}); err != nil {
			t.Fatalf("set limits in %s: %v", ns.Name, err)
		}
		if ns == p.client {
			l, _ := p.client.Handle().LinkByName("veth2")
			if err := c.AddEndpoint(pm.Endpoint{Addr: netip.MustParseAddr("10.0.2.1"), Flags: pm.FlagSubflow, IfIndex: l.Attrs().Index}); err != nil {
				t.Fatalf("add endpoint: %v", err)
			}
		}
	}
	cfg := p.config(Config{Mode: ModeMPTCP, Duration: 3 * time.Second})
	r, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	cfg, _ = cfg.withDefaults()
	checkResult(t, r, cfg)
	if r.Subflows != 2 {
		t.Fatalf("%d subflows, want 2: %+v", r.Subflows, r.Streams[0].Subflows)
	}
	paths := map[string]uint64{}
	for _, sf := range r.Streams[0].Subflows {
		paths[sf.Local.Addr().String()] += sf.BytesAcked
	}
	for _, a := range []string{"10.0.1.1", "10.0.2.1"} {
		// At least a fifth of the total on each 50 Mbit path.
		if paths[a] < uint64(r.Bytes/5) {
			t.Errorf("path from %s carried %d of %d bytes", a, paths[a], r.Bytes)
		}
	}
	// The per-interval path figures tell the same story.
	perPath := map[string]int64{}
	for _, iv := range r.Intervals {
		for _, p := range iv.Paths {
			if p.Remote != "10.0.1.2" {
				t.Errorf("interval %.1f: path %s -> %s, want the server's 10.0.1.2", iv.Start, p.Local, p.Remote)
			}
			perPath[p.Local] += p.Bytes
		}
	}
	for _, a := range []string{"10.0.1.1", "10.0.2.1"} {
		if got, want := perPath[a], int64(paths[a]); got != want {
			t.Errorf("intervals say path %s carried %d bytes, its subflows at the end %d", a, got, want)
		}
	}
	if mid := r.Intervals[len(r.Intervals)/2]; len(mid.Paths) != 2 {
		t.Errorf("interval %.1f-%.1f shows %d paths, want 2: %+v", mid.Start, mid.End, len(mid.Paths), mid.Paths)
	}
	// One 50 Mbit/s path alone caps TCP at ~48 Mbit/s.
	if r.BitsPerSecond < 60e6 {
		t.Errorf("MPTCP over 2 x 50 Mbit/s: %.1f Mbit/s, want > 60", r.BitsPerSecond/1e6)
	}
	t.Logf("2 paths: %.1f Mbit/s, per path %v", r.BitsPerSecond/1e6, paths)
}

func TestFallbackAgainstTCPListener(t *testing.T) {
	p := newPair(t, serverOpt{tcpOnly: true})
	cfg := p.config(Config{Mode: ModeMPTCP, Duration: time.Second})
	r, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !r.Fallback {
		t.Errorf("Fallback = false for MPTCP against a TCP-only listener")
	}
	if s := r.Streams[0]; s.State != stateFallback || s.ServerState != stateTCP || s.Reason == "" {
		t.Errorf("state %q, server state %q, reason %q; want fallback, tcp and a reason", s.State, s.ServerState, s.Reason)
	}
	var text strings.Builder
	r.WriteText(&text)
	for _, want := range []string{"not MPTCP: ", "fallback YES"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
	cfg, _ = cfg.withDefaults()
	checkResult(t, r, cfg)
	if r.Subflows != 1 {
		t.Errorf("%d subflows for a fallen-back connection, want 1", r.Subflows)
	}
}

func TestClosedPort(t *testing.T) {
	p := newPair(t, serverOpt{})
	cfg := p.config(Config{})
	cfg.Addr = "10.0.1.2:5999"
	_, err := Run(context.Background(), cfg, nil)
	want := "connection refused: is a bench server running on 10.0.1.2:5999?"
	if err == nil || err.Error() != want {
		t.Fatalf("Run against a closed port: %v, want %q", err, want)
	}
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Errorf("error %T is not a *RefusedError", err)
	}
}

// TestHostilePeers throws garbage, silence and protocol abuse at the server
// and checks that a real client is served afterwards and meanwhile.
func TestHostilePeers(t *testing.T) {
	p := newPair(t, serverOpt{handshake: 500 * time.Millisecond})
	dial := func() net.Conn {
		c, err := NetNSDialer(p.client.NetNS)(context.Background(), "tcp", p.addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		return c
	}
	var ck cookie
	ck[0] = 1
	ctl := hello{Kind: kindControl, Cookie: ck}.marshal()
	for _, tc := range []struct {
		name string
		send []byte
		log  string
	}{
		{"random", bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x17}, 2000), "bad magic"},
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "bad magic"},
		{"short", []byte("MKB"), "without a hello"},
		{"silent", nil, "without a hello"},
		{"bad-version", append([]byte{'M', 'K', 'B', 1, 9}, make([]byte, 27)...), "protocol version 9"},
		{"data-no-run", hello{Kind: kindData, Cookie: cookie{9}}.marshal(), "no run"},
		{"bad-json", append(append([]byte{}, ctl...), "{nope\n"...), "malformed"},
		{"huge-line", append(append([]byte{}, ctl...), bytes.Repeat([]byte("x"), 64<<10)...), "longer than"},
		{"no-newline", append(append([]byte{}, ctl...), `{"type":"start"`...), "rejected run"},
		{"too-many-streams", append(append([]byte{}, ctl...), `{"type":"start","mode":"tcp","streams":100000,"duration_ms":1000}`+"\n"...), "out of range"},
		{"never-attach", append(append([]byte{}, ctl...), `{"type":"start","mode":"tcp","streams":1,"duration_ms":1000}`+"\n"...), ""},
	} {
		c := dial()
		defer c.Close()
		if tc.send != nil {
			c.Write(tc.send)
		}
		if tc.log == "" {
			continue
		}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(p.log.String(), tc.log) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no %q in the server log:\n%s", tc.name, tc.log, p.log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// A real client, while a silent connection is still open.
	silent := dial()
	defer silent.Close()
	r, err := Run(context.Background(), p.config(Config{Mode: ModeTCP, Duration: time.Second}), nil)
	if err != nil {
		t.Fatalf("Run after hostile peers: %v", err)
	}
	if r.Bytes == 0 || r.Bytes != r.SenderBytes {
		t.Errorf("bytes %d/%d", r.Bytes, r.SenderBytes)
	}
}

func TestConcurrentClients(t *testing.T) {
	p := newPair(t, serverOpt{})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := p.config(Config{Mode: []Mode{ModeTCP, ModeMPTCP, ModeMPTCP}[i], Duration: 1500 * time.Millisecond, RRSize: []int{0, 0, 100}[i]})
			_, errs[i] = Run(context.Background(), cfg, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("client %d: %v", i, err)
		}
	}
}

func TestRequestResponse(t *testing.T) {
	p := newPair(t, serverOpt{})
	for _, size := range []int{1, 1000, 100000} {
		cfg := p.config(Config{Mode: ModeMPTCP, RRSize: size, Streams: 2, Duration: time.Second})
		r, err := Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatalf("rr %d: %v", size, err)
		}
		l := r.Latency
		if l == nil {
			t.Fatalf("rr %d: no latency", size)
		}
		var trans int64
		for _, s := range r.Streams {
			trans += s.Transactions
		}
		if l.Transactions <= 0 || l.Transactions != trans {
			t.Errorf("rr %d: %d transactions, streams say %d", size, l.Transactions, trans)
		}
		if !(0 < l.Min && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
			t.Errorf("rr %d: percentiles out of order: %+v", size, l)
		}
		if l.Mean < l.Min || l.Mean > l.Max {
			t.Errorf("rr %d: mean %v outside [%v, %v]", size, l.Mean, l.Min, l.Max)
		}
		if got := float64(l.Transactions) / r.Seconds; got != l.Rate {
			t.Errorf("rr %d: rate %v, want %v", size, l.Rate, got)
		}
		if r.Bytes != trans*int64(size) || r.Bytes != r.SenderBytes {
			t.Errorf("rr %d: bytes %d (sender %d), want %d transactions x %d", size, r.Bytes, r.SenderBytes, trans, size)
		}
		// Every transaction takes at least its share of the run.
		if mean := time.Duration(float64(cfg.Duration) * float64(cfg.Streams) / float64(trans)); l.Mean > mean*2 {
			t.Errorf("rr %d: mean latency %v but %d transactions in %v over %d streams", size, l.Mean, trans, cfg.Duration, cfg.Streams)
		}
	}
}

func TestCancel(t *testing.T) {
	p := newPair(t, serverOpt{})
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, p.config(Config{Duration: 30 * time.Second}), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run with an expiring context: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v to notice its context", d)
	}
	// The server serves the next client.
	if _, err := Run(context.Background(), p.config(Config{Duration: 500 * time.Millisecond}), nil); err != nil {
		t.Errorf("Run after a cancelled run: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Addr is empty"},
		{Config{Addr: "nohost"}, "want host:port"},
		{Config{Addr: "a:1", Mode: 7}, "invalid Config.Mode"},
		{Config{Addr: "a:1", Streams: 129}, "streams out of range"},
		{Config{Addr: "a:1", Duration: -1}, "duration"},
		{Config{Addr: "a:1", RRSize: MaxRRSize + 1}, "out of range"},
		{Config{Addr: "a:1", RRSize: 10, Reverse: true}, "no reverse"},
	} {
		_, err := Run(context.Background(), tc.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

var _ io.Writer = (*syncBuffer)(nil)

// Benchmarks of bench's own sender and receiver loops end to end: one
// b.N iteration is a 1-second run; the figure is the goodput in Gbit/s.
// The loops must never be the bottleneck (goal: >= 5 Gbit/s unshaped).
//
//	go test -run '^$' -bench . -benchtime 3x ./bench
func BenchmarkRun(b *testing.B) {
	for _, tc := range []struct {
		name    string
		veth    bool
		mode    Mode
		cc      string
		streams int
		reverse bool
	}{
		{"loopback/tcp", false, ModeTCP, "", 1, false},
		{"loopback/mptcp-reno", false, ModeMPTCP, "reno", 1, false},
		{"veth/tcp", true, ModeTCP, "", 1, false},
		{"veth/tcp-reverse", true, ModeTCP, "", 1, true},
		{"veth/mptcp-reno", true, ModeMPTCP, "reno", 1, false},
		{"veth/mptcp-reno-reverse", true, ModeMPTCP, "reno", 1, true},
		{"veth/mptcp-bbr", true, ModeMPTCP, "bbr", 1, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var p *pair
			if tc.veth {
				p = newPair(b, serverOpt{})
			} else {
				// Client and server on lo of one namespace.
				ns := nstest.New(b, "lo")
				p = &pair{client: ns, server: ns, log: new(syncBuffer)}
				p.serve(b, serverOpt{}, "127.0.0.1:5301")
			}
			if tc.cc != "" {
				p.client.Sysctl(b, "net.ipv4.tcp_congestion_control", tc.cc)
				p.server.Sysctl(b, "net.ipv4.tcp_congestion_control", tc.cc)
			}
			cfg := p.config(Config{Mode: tc.mode, Streams: tc.streams, Reverse: tc.reverse, Duration: time.Second, Interval: -1})
			var bits, secs float64
			for b.Loop() {
				r, err := Run(context.Background(), cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				bits += float64(r.Bytes) * 8
				secs += r.Seconds
			}
			b.ReportMetric(bits/secs/1e9, "Gbit/s")
		})
	}
}

// BenchmarkHistogram measures recording one latency.
func BenchmarkHistogram(b *testing.B) {
	var h histogram
	d := time.Duration(1)
	for b.Loop() {
		h.record(d)
		d = d*7%time.Second + 1
	}
}

// TestLoopsDoNotAllocate checks that reading and writing bulk data
// allocates nothing per call.
func TestLoopsDoNotAllocate(t *testing.T) {
	ns := nstest.New(t, "lo")
	var ln net.Listener
	ns.Do(t, func() (err error) { ln, err = Listen(context.Background(), "127.0.0.1:0"); return err })
	defer ln.Close()
	var c net.Conn
	ns.Do(t, func() (err error) { c, err = Dial(context.Background(), "mptcp", ln.Addr().String()); return err })
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, bufSize)
	var n atomic.Int64
	// Writes, while the other end drains.
	go receive(s, make([]byte, bufSize), &n)
	if a := testing.AllocsPerRun(200, func() {
		m, _ := c.Write(buf)
		n.Add(int64(m))
	}); a != 0 {
		t.Errorf("%v allocations per write", a)
	}
	// Reads, while the other end fills.
	c.(*net.TCPConn).CloseWrite()
	go func() {
		out := make([]byte, bufSize)
		for {
			if _, err := s.Write(out); err != nil {
				return
			}
		}
	}()
	if a := testing.AllocsPerRun(200, func() {
		m, _ := c.Read(buf)
		n.Add(int64(m))
	}); a != 0 {
		t.Errorf("%v allocations per read", a)
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	// 1..10000 µs, uniformly: the q-quantile is q*10 ms.
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 1} {
		want := time.Duration(q * 10000 * float64(time.Microsecond))
		got := h.quantile(q)
		if d := got - want; d < -want/100 || d > want/100 {
			t.Errorf("quantile(%v) = %v, want %v ± 1%%", q, got, want)
		}
	}
	l := h.latency(10, 2)
	if l.Min != time.Microsecond || l.Max != 10*time.Millisecond || l.Transactions != 10000 || l.Rate != 5000 {
		t.Errorf("latency = %+v", l)
	}
	if l.Mean < 5000*time.Microsecond || l.Mean > 5001*time.Microsecond {
		t.Errorf("mean = %v, want 5000.5 µs", l.Mean)
	}
	// Every bucket bound maps back to its bucket; buckets are ordered.
	for i := 0; i < histBuckets; i++ {
		if got := histIndex(histUpper(i)); got != i {
			t.Fatalf("histIndex(histUpper(%d) = %d) = %d", i, histUpper(i), got)
		}
		if i > 0 && histUpper(i) <= histUpper(i-1) {
			t.Fatalf("bucket %d bound %d not above bucket %d's %d", i, histUpper(i), i-1, histUpper(i-1))
		}
	}
	// Extremes are clamped, not out of range.
	var x histogram
	x.record(-5)
	x.record(1 << 62)
	if x.max != histMax || x.min != 0 || x.quantile(1) != histMax || x.quantile(0.5) != 0 {
		t.Errorf("clamping: min %v max %v q1 %v", x.min, x.max, x.quantile(1))
	}
	var empty histogram
	if l := empty.latency(1, 1); l.P99 != 0 || l.Transactions != 0 {
		t.Errorf("empty latency = %+v", l)
	}
}

// TestServerShutdownMidRun stops a server during a long run: Serve returns
// promptly and the client gets an error, not a hang.
func TestServerShutdownMidRun(t *testing.T) {
	cli, srv := nstest.Pair(t, nstest.Paths(1, "10.0", "veth", "veth"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := mptcp.ListenWith(ctx, "tcp", "10.0.1.2:5301", mptcp.ListenOptions{NetNS: srv.NetNS})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- (&Server{}).Serve(ctx, ln) }()
	for _, reverse := range []bool{false, true} {
		ran := make(chan error, 1)
		go func() {
			_, err := Run(context.Background(), Config{Addr: "10.0.1.2:5301", Dialer: NetNSDialer(cli.NetNS),
				Duration: 30 * time.Second, Reverse: reverse, Interval: -1}, nil)
			ran <- err
		}()
		time.Sleep(700 * time.Millisecond)
		if !reverse {
			continue // the server stops during the second, reverse, run
		}
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve still running 5 s after its context ended")
		}
		select {
		case err := <-ran:
			if err == nil {
				t.Error("Run succeeded although the server stopped mid-run")
			}
			t.Logf("client: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("Run still running 5 s after the server stopped")
		}
	}
}

// TestNotABenchServer points the client at servers that speak something
// else: the error says so.
func TestNotABenchServer(t *testing.T) {
	cli, srv := nstest.Pair(t, nstest.Paths(1, "10.0", "veth", "veth"))
	for _, tc := range []struct {
		name  string
		serve func(net.Conn)
	}{
		{"ssh-banner", func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n")); time.Sleep(2 * time.Second) }},
		{"closes", func(c net.Conn) {}},
		{"wrong-message", func(c net.Conn) { c.Write([]byte(`{"type":"go"}` + "\n")); time.Sleep(2 * time.Second) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ln net.Listener
			srv.Do(t, func() (err error) { ln, err = net.Listen("tcp", "10.0.1.2:7000"); return err })
			defer ln.Close()
			nstest.Serve(ln, tc.serve)
			start := time.Now()
			_, err := Run(context.Background(), Config{Addr: "10.0.1.2:7000", Dialer: NetNSDialer(cli.NetNS), Duration: time.Second}, nil)
			want := "10.0.1.2:7000 does not answer like a bench server"
			if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrNotBenchServer) {
				t.Errorf("Run: %v, want an error containing %q", err, want)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Run took %v to give up", d)
			}
		})
	}
}

func TestServerBusy(t *testing.T) {
	p := newPair(t, serverOpt{maxRuns: 1})
	first := make(chan error, 1)
	running := make(chan struct{})
	var once sync.Once
	go func() {
		_, err := Run(context.Background(), p.config(Config{Duration: 1500 * time.Millisecond, Interval: 100 * time.Millisecond}),
			func(Interval) { once.Do(func() { close(running) }) })
		first <- err
	}()
	select {
	case <-running:
	case err := <-first:
		t.Fatalf("first run: %v", err)
	}
	_, err := Run(context.Background(), p.config(Config{Duration: time.Second}), nil)
	var se *ServerError
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "server busy") {
		t.Errorf("second run while the first runs: %v, want a *ServerError saying server busy", err)
	}
	if err := <-first; err != nil {
		t.Errorf("first run: %v", err)
	}
	// Free again.
	if _, err := Run(context.Background(), p.config(Config{Duration: 500 * time.Millisecond}), nil); err != nil {
		t.Errorf("run after the busy period: %v", err)
	}
}

// TestCongestionControl picks the congestion control per run: both ends
// use it, whatever the namespaces' default, and a missing one is named.
func TestCongestionControl(t *testing.T) {
	p := newPair(t, serverOpt{})
	def := p.client.ReadSysctl(t, "net.ipv4.tcp_congestion_control")
	other := "reno"
	if def == "reno" {
		other = "bbr"
	}
	for _, reverse := range []bool{false, true} {
		cfg := p.config(Config{Mode: ModeMPTCP, Duration: 500 * time.Millisecond, CongestionControl: other, Reverse: reverse})
		r, err := Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatalf("Run with %s: %v", other, err)
		}
		if r.CongestionControl != other {
			t.Errorf("reverse %v: congestion control %q, want %q (namespace default %q)", reverse, r.CongestionControl, other, def)
		}
		if r.ServerCongestionControl != other || r.ClientCongestionControl != other {
			t.Errorf("reverse %v: client uses %q, server %q; want %q", reverse, r.ClientCongestionControl, r.ServerCongestionControl, other)
		}
	}
	cfg := p.config(Config{Duration: 500 * time.Millisecond, CongestionControl: "nosuchcc"})
	if _, err := Run(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), `congestion control "nosuchcc" is not available`) {
		t.Errorf("Run with nosuchcc: %v", err)
	}
	cfg.CongestionControl = "Bad Name"
	if _, err := Run(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "has a character other than") {
		t.Errorf("Run with a bad name: %v", err)
	}
}
