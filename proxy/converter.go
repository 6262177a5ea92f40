package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/proxy/convert"
	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

// Converter is an RFC 8803 Transport Converter (server mode): it accepts
// MPTCP connections whose stream starts with a Convert message — in the SYN
// with TCP Fast Open — connects to the destination of its Connect TLV over
// plain TCP, answers with a Convert message (an Error TLV for what it
// refuses or does not support) and relays. The Convert protocol has no
// authentication, so a Converter only serves clients from AllowFrom, and its
// Policy applies as for Server.
type Converter struct {
	AllowFrom []netip.Prefix // client source prefixes; empty serves nobody
	Policy    *Policy

	MaxConns         int
	HandshakeTimeout time.Duration
	DialTimeout      time.Duration
	IdleTimeout      time.Duration
	DrainTimeout     time.Duration

	Dial   func(ctx context.Context, network, address string) (net.Conn, error)
	Logger *slog.Logger
}

// ListenConvert opens an MPTCP listener with TCP Fast Open (queue tfoQueue)
// for a Converter. TFO also needs net.ipv4.tcp_fastopen with the server
// bit (0x2; 0x200 to accept data without a cookie).
func ListenConvert(ctx context.Context, address string, tfoQueue int) (net.Listener, error) {
	control := func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN, tfoQueue)
		}); err != nil {
			return err
		}
		return serr
	}
	ln, err := listenMPTCP(ctx, control, address)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOPROTOOPT) {
		return nil, fmt.Errorf("%w: %v", ErrNoTFO, err)
	}
	return ln, err
}

// ErrNoTFO is returned (wrapped) by ListenConvert when the kernel refuses
// TCP Fast Open on an MPTCP listener.
var ErrNoTFO = errors.New("TCP Fast Open on MPTCP sockets unsupported by this kernel (it refused TCP_FASTOPEN on an MPTCP socket)")

// Serve accepts Convert clients on ln until ctx is done, then drains.
func (cv *Converter) Serve(ctx context.Context, ln net.Listener) error {
	log := cv.Logger
	if log == nil {
		log = slog.Default()
	}
	if len(cv.AllowFrom) == 0 {
		log.Warn("converter: no --allow-from prefixes: every client will be refused (the Convert protocol has no authentication)")
	}
	log.Info("RFC 8803 converter listening", "addr", ln.Addr().String(), "allow_from", len(cv.AllowFrom))
	lim := limits{maxConns: maxConns(cv.MaxConns), drain: orDefault(cv.DrainTimeout, DefaultDrainTimeout)}
	return serve(ctx, ln, log, lim,
		func(c net.Conn, ss *session) { cv.handle(ctx, log, c, ss) },
		func(c net.Conn) {
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			c.Write(convert.AppendError(nil, convert.ErrResourceExceeded))
			c.Close()
		})
}

func (cv *Converter) refuse(ss *session, log *slog.Logger, c net.Conn, code convert.ErrorCode, msg string, args ...any) {
	ss.refusals.Warn(log, "refused: "+msg, append(args, "code", code.String())...)
	c.Write(convert.AppendError(nil, code))
	c.Close()
}

func (cv *Converter) handle(ctx context.Context, log *slog.Logger, c net.Conn, ss *session) {
	start := time.Now()
	log = log.With("from", c.RemoteAddr().String())
	c.SetDeadline(start.Add(orDefault(cv.HandshakeTimeout, DefaultHandshakeTimeout)))
	src := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	allowed := false
	for _, p := range cv.AllowFrom {
		allowed = allowed || p.Contains(src)
	}
	if !allowed {
		cv.refuse(ss, log, c, convert.ErrNotAuthorized, "client not in --allow-from")
		return
	}
	req, err := convert.ReadRequest(c)
	if err != nil {
		var ce *convert.Error
		if errors.As(err, &ce) {
			cv.refuse(ss, log, c, ce.Code, "bad Convert message", "err", err)
		} else {
			log.Debug("client gone before its Convert message", "err", err)
			c.Close()
		}
		return
	}
	if !req.Connect.IsValid() { // Info only: say what we support, close
		c.Write(convert.AppendOK(nil, true))
		c.Close()
		return
	}
	log = log.With("to", req.Connect.String())
	s := &Server{Policy: cv.Policy, Dial: cv.Dial, DialTimeout: cv.DialTimeout}
	dst, status, err := s.connect(ctx, handshake.Destination{Addr: req.Connect.Addr(), Port: req.Connect.Port()}, time.Time{})
	if err != nil {
		code := convert.ErrDestinationUnreachable
		switch status {
		case handshake.StatusDenied:
			code = convert.ErrNotAuthorized
		case handshake.StatusRefused:
			code = convert.ErrConnectionReset
		}
		cv.refuse(ss, log, c, code, status.String(), "err", err)
		return
	}
	if _, err := c.Write(convert.AppendOK(nil, req.Info)); err != nil {
		dst.Close()
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	log = log.With(mptcp.LogAttrs(mptcp.StateOfAccepted(ss.ln, c))...)
	log.Info("relaying (convert)", "setup", time.Since(start).Round(time.Microsecond))
	p := &pipe{a: c, b: dst, watch: dst, pool: ss.pool, idle: max(orDefault(cv.IdleTimeout, DefaultIdleTimeout), 0)}
	ss.t.relay(log, p, start)
}
