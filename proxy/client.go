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
	"time"

	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

// Mode says where a Client takes each connection's destination from.
type Mode int

// Client modes.
const (
	ModeFixed       Mode = iota // every connection goes to Client.To
	ModeSOCKS5                  // the application asks with SOCKS5 CONNECT (no authentication)
	ModeTransparent             // redirected by nftables: SO_ORIGINAL_DST (REDIRECT) or the local address (TPROXY)
)

func (m Mode) String() string {
	switch m {
	case ModeFixed:
		return "fixed"
	case ModeSOCKS5:
		return "socks5"
	case ModeTransparent:
		return "transparent"
	}
	return fmt.Sprintf("mode %d", int(m))
}

// Client is the near end of the proxy: it accepts plain TCP and carries each
// connection as one MPTCP connection to Server. Set exactly one of PSK and
// TLS.
type Client struct {
	Server string      // host:port of the proxy server
	PSK    []byte      // pre-shared key
	TLS    *tls.Config // or TLS 1.3 with a client certificate (see ClientTLSConfig)

	Mode Mode
	To   handshake.Destination // ModeFixed: the destination

	// AllowFrom, when not empty, lists the application addresses served;
	// a connection from any other source is reset before it is read.
	AllowFrom []netip.Prefix

	MaxConns         int           // concurrent connections; 0 = DefaultMaxConns
	HandshakeTimeout time.Duration // connect + handshake with the server (and SOCKS5); 0 = default
	IdleTimeout      time.Duration // 0 = default, <0 = none
	DrainTimeout     time.Duration // 0 = default

	// Dial opens the MPTCP connection to Server; nil: a net.Dialer with
	// MPTCP on, in the caller's namespace.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)

	Logger *slog.Logger
}

// ClientTLSConfig returns a TLS 1.3 client configuration presenting cert and
// trusting serverCAs for the server's certificate (serverName, or the host
// of Client.Server when empty).
func ClientTLSConfig(cert tls.Certificate, serverCAs *x509.CertPool, serverName string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      serverCAs,
		ServerName:   serverName,
	}
}

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// Connect opens an MPTCP connection to the server and asks it to connect to
// dest. It returns the connection ready to carry data, or a
// *handshake.Error when the server refused.
func (c *Client) Connect(ctx context.Context, dest handshake.Destination) (net.Conn, error) {
	if (c.PSK == nil) == (c.TLS == nil) {
		return nil, errors.New("proxy client: set exactly one of PSK and TLS")
	}
	ctx, cancel := context.WithTimeout(ctx, orDefault(c.HandshakeTimeout, DefaultHandshakeTimeout))
	defer cancel()
	dial := c.Dial
	if dial == nil {
		dial = mptcp.Dialer().DialContext
	}
	raw, err := dial(ctx, "tcp", c.Server)
	if err != nil {
		return nil, fmt.Errorf("connect to proxy server %s: %w", c.Server, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	conn, err := c.handshake(ctx, raw, dest)
	if err != nil {
		raw.Close()
		return nil, err
	}
	raw.SetDeadline(time.Time{})
	return conn, nil
}

func (c *Client) handshake(ctx context.Context, raw net.Conn, dest handshake.Destination) (net.Conn, error) {
	conn := raw
	if c.TLS != nil {
		cfg := c.TLS
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(c.Server)
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("TLS handshake with proxy server %s: %w", c.Server, err)
		}
		conn = tc
	}
	hello, err := handshake.ReadHello(conn)
	if err != nil {
		return nil, fmt.Errorf("proxy server %s: reading its hello: %w", c.Server, err)
	}
	if hello.Status != handshake.StatusOK {
		return nil, &handshake.Error{Status: hello.Status}
	}
	req := handshake.Request{Dest: dest}
	rand.Read(req.Nonce[:])
	if c.PSK != nil {
		if req.MAC, err = handshake.ClientMAC(c.PSK, hello.Nonce, req.Nonce, dest); err != nil {
			return nil, err
		}
	}
	b, err := req.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(b); err != nil {
		return nil, fmt.Errorf("proxy server %s: %w", c.Server, err)
	}
	reply, err := handshake.ReadReply(conn)
	if err != nil {
		return nil, fmt.Errorf("proxy server %s: reading its reply: %w", c.Server, err)
	}
	if c.PSK != nil && reply.Status != handshake.StatusAuthFailed && reply.Status != handshake.StatusBadRequest {
		want, _ := handshake.ServerMAC(c.PSK, hello.Nonce, req.Nonce, dest, reply.Status)
		if !handshake.Equal(want, reply.MAC) {
			return nil, fmt.Errorf("proxy server %s %w", c.Server, ErrServerNotProven)
		}
	}
	if reply.Status != handshake.StatusOK {
		return nil, &handshake.Error{Status: reply.Status}
	}
	return conn, nil
}

// ErrServerNotProven is returned (wrapped) when the server's reply lacks the
// proof that it knows the pre-shared key.
var ErrServerNotProven = errors.New("did not prove it knows the key: not our server, or a different key")

// checkDest is the destination of Client.Check: the unspecified address,
// which every Server refuses after authenticating the client, so a check
// never reaches a destination.
var checkDest = handshake.Destination{Addr: netip.IPv4Unspecified(), Port: 9}

// isCheck reports whether d is the destination of a Client.Check.
func isCheck(d handshake.Destination) bool { return d == checkDest }

// Check runs one real handshake with the server, for a destination every
// server refuses (0.0.0.0:9): it returns nil when the server answered and
// proved it shares the key (or accepted the client certificate), with the
// MPTCP state of the connection to it. An error says what failed: the
// connection (server down, no route), the TLS handshake, or the
// authentication (a *handshake.Error with StatusAuthFailed, or
// ErrServerNotProven) — see IsAuthError.
func (c *Client) Check(ctx context.Context) (mptcp.State, error) {
	cc := *c
	dial := c.Dial
	if dial == nil {
		dial = mptcp.Dialer().DialContext
	}
	st, stErr := mptcp.Unknown, error(nil)
	cc.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := dial(ctx, network, address)
		if err == nil {
			st, stErr = mptcp.StateOf(conn)
		}
		return conn, err
	}
	conn, err := cc.Connect(ctx, checkDest)
	if err == nil {
		conn.Close()
		return st, fmt.Errorf("proxy server %s accepted the check destination %s; it must refuse it", c.Server, checkDest)
	}
	var he *handshake.Error
	if errors.As(err, &he) && he.Status == handshake.StatusDenied {
		return st, stErr
	}
	return st, err
}

// IsAuthError reports whether err (from Check or Connect) means the two
// ends do not trust each other: a wrong key, or a certificate refused by
// either side. Retrying does not help; the configuration must change.
func IsAuthError(err error) bool {
	var he *handshake.Error
	if errors.As(err, &he) && he.Status == handshake.StatusAuthFailed || errors.Is(err, ErrServerNotProven) {
		return true
	}
	var cv *tls.CertificateVerificationError
	var ae tls.AlertError
	return errors.As(err, &cv) || errors.As(err, &ae)
}

// Serve accepts plain TCP connections on ln (see ListenTCP) until ctx is
// done, then lets live connections finish for up to DrainTimeout.
func (c *Client) Serve(ctx context.Context, ln net.Listener) error {
	if (c.PSK == nil) == (c.TLS == nil) {
		return errors.New("proxy client: set exactly one of PSK and TLS")
	}
	if c.Mode == ModeFixed && c.To.Port == 0 {
		return errors.New("proxy client: fixed mode needs a destination (To)")
	}
	log := c.logger()
	max := maxConns(c.MaxConns)
	checkNoFile(log, max)
	listenPort := uint16(0)
	if ta, ok := ln.Addr().(*net.TCPAddr); ok {
		listenPort = uint16(ta.Port)
	}
	log.Info("proxy client listening", "addr", ln.Addr().String(), "mode", c.Mode.String(), "server", c.Server)
	lim := limits{maxConns: max, drain: orDefault(c.DrainTimeout, DefaultDrainTimeout)}
	err := serve(ctx, ln, log, lim,
		func(conn net.Conn, ss *session) { c.handle(ctx, conn, listenPort, ss) },
		resetClose)
	if err == nil {
		log.Info("proxy client stopped")
	}
	return err
}

// containsAddr reports whether one of ps contains the IP of a.
func containsAddr(ps []netip.Prefix, a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip := ta.AddrPort().Addr().Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// resetClose closes conn with a reset (SO_LINGER 0), so its peer sees a
// refused connection rather than an empty answer.
func resetClose(conn net.Conn) {
	if tc, err := mptcp.TCPConn(conn); err == nil {
		tc.SetLinger(0)
	}
	conn.Close()
}

func (c *Client) handle(ctx context.Context, app net.Conn, listenPort uint16, ss *session) {
	log := c.logger().With("from", app.RemoteAddr().String())
	start := time.Now()
	if len(c.AllowFrom) > 0 && !containsAddr(c.AllowFrom, app.RemoteAddr()) {
		ss.refusals.Warn(log, "refused: source not in --socks-allow-from")
		resetClose(app)
		return
	}
	var dest handshake.Destination
	var err error
	switch c.Mode {
	case ModeFixed:
		dest = c.To
	case ModeSOCKS5:
		app.SetDeadline(start.Add(orDefault(c.HandshakeTimeout, DefaultHandshakeTimeout)))
		dest, err = socksRequest(app)
		if err != nil {
			log.Warn("refused: SOCKS5 request", "err", err)
			app.Close()
			return
		}
	case ModeTransparent:
		var ap netip.AddrPort
		ap, err = originalDestination(app, listenPort)
		if err != nil {
			log.Warn("refused: no original destination", "err", err)
			app.Close()
			return
		}
		dest = handshake.Destination{Addr: ap.Addr(), Port: ap.Port()}
	}
	log = log.With("to", dest.String())
	up, err := c.Connect(ctx, dest)
	if err != nil {
		log.Warn("refused", "err", err)
		if c.Mode == ModeSOCKS5 {
			// The handshake deadline may have passed: the answer must
			// still reach the application.
			app.SetWriteDeadline(time.Now().Add(time.Second))
			socksReply(app, socksCode(err))
			app.Close()
			return
		}
		resetClose(app)
		return
	}
	if c.Mode == ModeSOCKS5 {
		if err := socksReply(app, socksSucceeded); err != nil {
			up.Close()
			app.Close()
			return
		}
		app.SetDeadline(time.Time{})
	}
	log = log.With(mptcp.LogAttrs(mptcp.StateOf(up))...)
	log.Info("relaying", "via", up.LocalAddr().String(), "setup", time.Since(start).Round(time.Microsecond))
	idle := orDefault(c.IdleTimeout, DefaultIdleTimeout)
	p := &pipe{a: app, b: up, watch: app, pool: ss.pool, idle: max(idle, 0)}
	ss.t.relay(log, p, start)
}
