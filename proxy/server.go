package proxy

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

// Defaults for the Server and Client timeouts.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultDialTimeout      = 5 * time.Second // below DefaultHandshakeTimeout: a timed-out dial is still answered
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultDrainTimeout     = 30 * time.Second
	DefaultMaxConns         = 4096
)

// Server is the far end of the proxy: it accepts MPTCP connections from
// Clients, authenticates them, and connects to the destination they ask for
// over plain TCP. Set exactly one of PSK and TLS.
type Server struct {
	PSK []byte      // pre-shared key (see handshake.ParseKey)
	TLS *tls.Config // or TLS 1.3 with client certificates (see ServerTLSConfig)

	Policy *Policy // nil: only the always-denied classes are refused

	MaxConns         int           // concurrent relayed connections; 0 = DefaultMaxConns; excess refused at once
	HandshakeTimeout time.Duration // whole handshake, from accept; 0 = default
	DialTimeout      time.Duration // connecting to the destination; 0 = default; capped to leave time for the reply

	// Connections not yet authenticated are limited apart from MaxConns,
	// so silent or slow clients cannot take the slots of real ones: at
	// most MaxHandshakes at once (0 = DefaultMaxHandshakes, never more than
	// MaxConns), and MaxHandshakesPerSource from one address or IPv6 /64
	// (0 = DefaultMaxHandshakesPerSource). Over a limit a connection is
	// refused at once ("busy").
	MaxHandshakes          int
	MaxHandshakesPerSource int
	IdleTimeout            time.Duration // no byte either way; 0 = default, <0 = none
	DrainTimeout           time.Duration // on shutdown, how long live connections may finish; 0 = default

	// Dial connects to a checked destination (an IP:port, never a name).
	// nil: a net.Dialer with MPTCP off, in the caller's namespace.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// LookupNetIP resolves destination names; nil: net.DefaultResolver.
	LookupNetIP func(ctx context.Context, host string) ([]netip.Addr, error)

	Logger *slog.Logger // nil: slog.Default()
}

// ServerTLSConfig returns a TLS 1.3 server configuration that requires a
// client certificate signed by one of clientCAs.
func ServerTLSConfig(cert tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// tracker holds the live connections of one Serve call.
type tracker struct {
	mu    sync.Mutex
	pipes map[*pipe]struct{}
	wg    sync.WaitGroup
}

// relay runs p while tracking it (so drain can abort it), then logs how the
// connection that began at start ended.
func (t *tracker) relay(log *slog.Logger, p *pipe, start time.Time) {
	t.mu.Lock()
	t.pipes[p] = struct{}{}
	t.mu.Unlock()
	r := p.run()
	t.mu.Lock()
	delete(t.pipes, p)
	t.mu.Unlock()
	log.Info("connection ended", "up_bytes", r.Up, "down_bytes", r.Down,
		"duration", time.Since(start).Round(time.Millisecond), "end", r.End)
}

func (t *tracker) abortAll(why string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p := range t.pipes {
		p.abort(why)
	}
	return len(t.pipes)
}

// drain waits for live connections after the listener closed, aborting
// those still open after timeout.
func drain(log *slog.Logger, t *tracker, timeout time.Duration) {
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	t.mu.Lock()
	n := len(t.pipes)
	t.mu.Unlock()
	if n > 0 {
		log.Info("draining live connections", "live", n, "timeout", timeout)
	}
	select {
	case <-done:
	case <-time.After(timeout):
		n := t.abortAll("shut down (drain timeout)")
		log.Warn("drain timeout: reset the connections still open", "reset", n)
		<-done
	}
}

// maxConns is n, or DefaultMaxConns when n is not positive.
func maxConns(n int) int {
	if n <= 0 {
		return DefaultMaxConns
	}
	return n
}

// limits are the admission limits and the drain timeout of one serve call.
type limits struct {
	maxConns      int
	maxHandshakes int // 0: no handshake stage (connections take a connection slot at accept)
	perSource     int // handshakes in progress per source address
	drain         time.Duration
}

// session is what serve gives the handler of one connection.
type session struct {
	ln       net.Listener
	t        *tracker
	pool     *bufferPool
	ticket   *ticket  // its slot; the handler calls ticket.established() after authenticating
	refusals *rateLog // for refusal lines (rate-limited)
}

// serve is the accept loop of Server, Client and Converter. It accepts on ln
// until ctx is done (then closes ln), running handle for each connection in
// its own goroutine, admitted by the gate lim makes; a connection refused
// there is logged (rate-limited) and given to refuse, which must close it.
// Timeouts and running out of file descriptors are retried after 50 ms. When
// ctx is done, or Accept fails otherwise, it lets live connections finish
// for up to lim.drain (see drain). It returns nil after a shutdown by ctx.
func serve(ctx context.Context, ln net.Listener, log *slog.Logger, lim limits,
	handle func(c net.Conn, s *session), refuse func(net.Conn)) error {
	g := newGate(lim.maxConns, lim.maxHandshakes, lim.perSource)
	t := &tracker{pipes: map[*pipe]struct{}{}}
	pool := newBufferPool()
	refusals := newRateLog(log, refusalBurst, refusalWindow)
	defer refusals.stop()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				drain(log, t, lim.drain)
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				refusals.Warn(log, "accept failed; retrying", "err", err)
				time.Sleep(50 * time.Millisecond)
				continue
			}
			drain(log, t, lim.drain)
			return err
		}
		tk, why := g.admit(source(c.RemoteAddr()))
		if tk == nil {
			refusals.Warn(log, "refused: "+why, "from", c.RemoteAddr().String())
			refuse(c)
			continue
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			defer tk.release()
			handle(c, &session{ln: ln, t: t, pool: pool, ticket: tk, refusals: refusals})
		}()
	}
}

// Serve accepts connections on ln (an MPTCP listener, see Listen) until ctx
// is done, then stops accepting and lets live connections finish for up to
// DrainTimeout. It returns nil after a shutdown by ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if (s.PSK == nil) == (s.TLS == nil) {
		return errors.New("proxy server: set exactly one of PSK and TLS")
	}
	log := s.logger()
	max := maxConns(s.MaxConns)
	checkNoFile(log, max)
	lim := limits{maxConns: max, drain: orDefault(s.DrainTimeout, DefaultDrainTimeout),
		maxHandshakes: min(orDefaultInt(s.MaxHandshakes, DefaultMaxHandshakes), max),
		perSource:     orDefaultInt(s.MaxHandshakesPerSource, DefaultMaxHandshakesPerSource)}
	log.Info("proxy server listening", "addr", ln.Addr().String(), "auth", s.authName(), "max_conns", max,
		"max_handshakes", lim.maxHandshakes, "max_handshakes_per_source", lim.perSource)
	err := serve(ctx, ln, log, lim, func(c net.Conn, ss *session) { s.handle(ctx, c, ss) }, s.refuseBusy)
	if err == nil {
		log.Info("proxy server stopped")
	}
	return err
}

func orDefaultInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

func (s *Server) authName() string {
	if s.TLS != nil {
		return "tls"
	}
	return "psk"
}

// refuseBusy answers a connection over the limit at once and closes it.
func (s *Server) refuseBusy(c net.Conn) {
	if s.TLS == nil {
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		b, _ := (&handshake.Hello{Status: handshake.StatusBusy}).MarshalBinary()
		c.Write(b)
	} else if tc, err := mptcp.TCPConn(c); err == nil {
		tc.SetLinger(0) // a TLS client cannot read our Hello before its handshake
	}
	c.Close()
}

// handle runs one connection: handshake, dial, relay.
func (s *Server) handle(ctx context.Context, raw net.Conn, ss *session) {
	log := s.logger().With("from", raw.RemoteAddr().String())
	refused := func(msg string, args ...any) { ss.refusals.Warn(log, msg, args...) }
	start := time.Now()
	hsTimeout := orDefault(s.HandshakeTimeout, DefaultHandshakeTimeout)
	deadline := start.Add(hsTimeout)
	raw.SetDeadline(deadline)
	c := raw
	var who string
	if s.TLS != nil {
		tc := tls.Server(raw, s.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			refused("refused: TLS handshake failed", "err", err)
			raw.Close()
			return
		}
		if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
			who = pc[0].Subject.String()
		}
		c = tc
	}
	var hello handshake.Hello
	if _, err := rand.Read(hello.Nonce[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux (getrandom)
	}
	hb, _ := hello.MarshalBinary()
	if _, err := c.Write(hb); err != nil {
		log.Debug("client gone before the handshake", "err", err)
		c.Close()
		return
	}
	req, err := handshake.ReadRequest(c)
	if err != nil {
		refused("refused: bad handshake", "err", err)
		s.reply(c, hello, req, handshake.StatusBadRequest, false)
		c.Close()
		return
	}
	if s.PSK != nil {
		want, err := handshake.ClientMAC(s.PSK, hello.Nonce, req.Nonce, req.Dest)
		if err != nil || !handshake.Equal(want, req.MAC) {
			refused("refused: authentication failed (wrong key or replayed handshake)", "to", req.Dest.String())
			s.reply(c, hello, req, handshake.StatusAuthFailed, false)
			c.Close()
			return
		}
	}
	if who != "" {
		log = log.With("client", who)
	}
	if isCheck(req.Dest) {
		// A client checking at start that we are up and share its key.
		log.Info("client check: authenticated")
		s.reply(c, hello, req, handshake.StatusDenied, true)
		c.Close()
		return
	}
	log = log.With("to", req.Dest.String())
	if !ss.ticket.established() {
		refused("refused: connection limit reached")
		s.reply(c, hello, req, handshake.StatusBusy, true)
		c.Close()
		return
	}
	if ctx.Err() != nil {
		s.reply(c, hello, req, handshake.StatusShuttingDown, true)
		c.Close()
		return
	}
	// The dial must end early enough for the reply to reach the client
	// before either side's handshake deadline.
	dst, status, err := s.connect(ctx, req.Dest, deadline.Add(-hsTimeout/5))
	if err != nil {
		log.Warn("refused: "+status.String(), "err", err)
		s.reply(c, hello, req, status, true)
		c.Close()
		return
	}
	raw.SetDeadline(time.Now().Add(hsTimeout)) // the dial may have used it up
	if err := s.reply(c, hello, req, handshake.StatusOK, true); err != nil {
		log.Info("client gone during the handshake", "err", err)
		dst.Close()
		c.Close()
		return
	}
	raw.SetDeadline(time.Time{})
	setup := time.Since(start)
	log = log.With(mptcp.LogAttrs(mptcp.StateOfAccepted(ss.ln, raw))...)
	log.Info("relaying", "dest_ip", dst.RemoteAddr().String(), "setup", setup.Round(time.Microsecond))
	idle := orDefault(s.IdleTimeout, DefaultIdleTimeout)
	p := &pipe{a: c, b: dst, watch: dst, pool: ss.pool, idle: max(idle, 0)}
	ss.t.relay(log, p, start)
}

// reply sends a Reply; withProof adds the server's MAC (only once the client
// proved it knows the key).
func (s *Server) reply(c net.Conn, hello handshake.Hello, req handshake.Request, st handshake.Status, withProof bool) error {
	r := handshake.Reply{Status: st}
	if withProof && s.PSK != nil {
		r.MAC, _ = handshake.ServerMAC(s.PSK, hello.Nonce, req.Nonce, req.Dest, st)
	}
	b, _ := r.MarshalBinary()
	_, err := c.Write(b)
	return err
}

// connect resolves dest, checks every address against the policy and dials
// the first that works — the checked address itself, so a second DNS answer
// cannot slip another address in.
func (s *Server) connect(ctx context.Context, dest handshake.Destination, notAfter time.Time) (net.Conn, handshake.Status, error) {
	dl := time.Now().Add(orDefault(s.DialTimeout, DefaultDialTimeout))
	if !notAfter.IsZero() && notAfter.Before(dl) {
		dl = notAfter
	}
	ctx, cancel := context.WithDeadline(ctx, dl)
	defer cancel()
	addrs := []netip.Addr{dest.Addr}
	if dest.Host != "" {
		lookup := s.LookupNetIP
		if lookup == nil {
			lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
				return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			}
		}
		var err error
		addrs, err = lookup(ctx, dest.Host)
		if err != nil || len(addrs) == 0 {
			return nil, handshake.StatusNotResolved, fmt.Errorf("resolve %s: %v", dest.Host, err)
		}
	}
	for _, a := range addrs {
		if err := s.Policy.Check(a); err != nil {
			// Any denied address denies the name: a name that resolves to
			// loopback as well as a public address is suspect.
			return nil, handshake.StatusDenied, err
		}
	}
	dial := s.Dial
	if dial == nil {
		dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			return mptcp.DialWith(ctx, network, address, mptcp.DialOptions{TCP: true})
		}
	}
	var lastErr error
	for _, a := range addrs {
		c, err := dial(ctx, "tcp", net.JoinHostPort(a.Unmap().String(), strconv.Itoa(int(dest.Port))))
		if err == nil {
			return c, handshake.StatusOK, nil
		}
		lastErr = err
	}
	return nil, dialStatus(lastErr), lastErr
}

func dialStatus(err error) handshake.Status {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return handshake.StatusRefused
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT):
		return handshake.StatusTimeout
	default:
		return handshake.StatusUnreachable
	}
}
