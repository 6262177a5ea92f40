package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Server answers bench clients. The zero value is ready to use; set the
// fields before calling Serve.
type Server struct {
	// Logger gets a line per run and per rejected connection (nil: none).
	Logger *slog.Logger
	// HandshakeTimeout bounds how long a new connection may take to send
	// its hello and first control message (default 5 s).
	HandshakeTimeout time.Duration
	// MaxRuns bounds the runs served at the same time (default 16).
	MaxRuns int
	// MaxPending bounds connections still in their handshake (default 256);
	// more are closed at once.
	MaxPending int
	// AttachTimeout bounds how long a run waits for its data connections
	// (default 10 s).
	AttachTimeout time.Duration

	mu       sync.Mutex
	sessions map[cookie]*session
	runs     int
}

// attachTimeout is the default of Server.AttachTimeout.
const attachTimeout = 10 * time.Second

func (s *Server) attachTimeout() time.Duration {
	if s.AttachTimeout <= 0 {
		return attachTimeout
	}
	return s.AttachTimeout
}

// grace is added to a run's duration for every deadline that must outlast it.
const grace = 30 * time.Second

func (s *Server) handshakeTimeout() time.Duration {
	if s.HandshakeTimeout <= 0 {
		return 5 * time.Second
	}
	return s.HandshakeTimeout
}

func (s *Server) maxRuns() int {
	if s.MaxRuns <= 0 {
		return 16
	}
	return s.MaxRuns
}

func (s *Server) maxPending() int {
	if s.MaxPending <= 0 {
		return 256
	}
	return s.MaxPending
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Serve accepts connections on ln until ctx is done (then it closes ln and
// returns nil) or Accept fails for good. Use Listen for an MPTCP listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.sessions == nil {
		s.sessions = make(map[cookie]*session)
	}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	pending := make(chan struct{}, s.maxPending())
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) ||
				isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log().Warn("bench server: accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("bench server: accept: %w", err)
		}
		backoff = 0
		select {
		case pending <- struct{}{}:
		default:
			s.log().Warn("bench server: too many connections in handshake, closing", "peer", c.RemoteAddr())
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handle(ctx, c, pending)
		}()
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// handle reads the hello of a new connection and passes it on.
func (s *Server) handle(ctx context.Context, c net.Conn, pending chan struct{}) {
	released := false
	release := func() {
		if !released {
			released = true
			<-pending
		}
	}
	defer release()
	defer func() {
		if r := recover(); r != nil {
			s.log().Error("bench server: internal error, connection dropped", "peer", c.RemoteAddr(), "panic", r)
			c.Close()
		}
	}()
	peer := c.RemoteAddr()
	c.SetReadDeadline(time.Now().Add(s.handshakeTimeout()))
	// Shutting down cuts the wait for a hello short.
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	var b [helloLen]byte
	_, err := io.ReadFull(c, b[:])
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		s.log().Info("bench server: dropped connection without a hello", "peer", peer, "err", err)
		c.Close()
		return
	}
	h, err := parseHello(b[:])
	if err != nil {
		s.log().Info("bench server: dropped connection", "peer", peer, "err", err)
		c.Close()
		return
	}
	switch h.Kind {
	case kindData:
		s.mu.Lock()
		ss := s.sessions[h.Cookie]
		s.mu.Unlock()
		if ss == nil || !ss.attach(int(h.Stream), c) {
			s.log().Info("bench server: dropped data connection of no run", "peer", peer, "stream", h.Stream)
			c.Close()
		}
	case kindControl:
		release()
		s.control(ctx, c, h.Cookie)
	}
}

// session is one run on the server.
type session struct {
	srv    *Server
	ck     cookie // the run's cookie, its key in srv.sessions
	freed  bool   // the run's slot is given back (srv.mu)
	start  msg
	mu     sync.Mutex
	conns  []net.Conn
	n      int
	full   chan struct{} // closed when every stream is attached
	closed bool          // the run is over: attach no more
}

func (ss *session) attach(i int, c net.Conn) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed || i < 0 || i >= len(ss.conns) || ss.conns[i] != nil {
		return false
	}
	c.SetReadDeadline(time.Time{})
	ss.conns[i] = c
	ss.n++
	if ss.n == len(ss.conns) {
		close(ss.full)
	}
	return true
}

func validateStart(m *msg) error {
	switch {
	case m.Type != "start":
		return fmt.Errorf("expected a start message, got %q", m.Type)
	case m.Mode != ModeTCP && m.Mode != ModeMPTCP:
		return fmt.Errorf("unknown mode %d", int(m.Mode))
	case m.Streams < 1 || m.Streams > MaxStreams:
		return fmt.Errorf("%d streams out of range 1..%d", m.Streams, MaxStreams)
	case m.DurationMS <= 0 || m.DurationMS > MaxDuration.Milliseconds():
		return fmt.Errorf("duration %d ms out of range", m.DurationMS)
	case m.RRSize < 0 || m.RRSize > MaxRRSize:
		return fmt.Errorf("request/response size %d out of range 0..%d", m.RRSize, MaxRRSize)
	case m.RRSize > 0 && m.Reverse:
		return errors.New("request/response mode has no reverse direction")
	}
	return validCC(m.CongestionControl)
}

// control runs one client's run from its control connection.
func (s *Server) control(ctx context.Context, c net.Conn, ck cookie) {
	defer c.Close()
	log := s.log().With("peer", c.RemoteAddr())
	k := newCtrl(ctx, c, maxClientLine)
	ss, err := s.admit(k, ck)
	if err != nil {
		log.Info("bench server: rejected run", "err", err)
		k.send(&msg{Type: "error", Error: err.Error()}, s.handshakeTimeout())
		return
	}
	defer s.end(ss)
	// Server shutdown cuts every blocked call short.
	stop := context.AfterFunc(ctx, func() {
		c.SetDeadline(time.Now())
		ss.expireConns()
	})
	defer stop()

	start := &ss.start
	log = log.With("mode", start.Mode, "streams", start.Streams, "reverse", start.Reverse, "rr_size", start.RRSize)
	if err := k.send(&msg{Type: "ready", CongestionControl: congestion(c)}, s.handshakeTimeout()); err != nil {
		log.Info("bench server: client went away", "err", err)
		return
	}
	if !s.awaitStreams(ctx, k, ss, log) {
		return
	}
	if err := ss.setCongestion(); err != nil {
		log.Info("bench server: run failed", "err", err)
		k.send(&msg{Type: "error", Error: err.Error()}, s.handshakeTimeout())
		return
	}
	log.Debug("bench server: run starting")
	if err := k.send(&msg{Type: "go"}, s.handshakeTimeout()); err != nil {
		log.Info("bench server: client went away", "err", err)
		return
	}
	counts, seconds, ok := s.transfer(ctx, k, ss)
	if !ok {
		return
	}
	s.report(k, ss, counts, seconds, log)
}

// report logs the streams that failed, waits for the client's done, sends
// it the result and keeps the data connections until its bye.
func (s *Server) report(k *ctrl, ss *session, counts []streamCount, seconds float64, log *slog.Logger) {
	for i := range counts {
		if err := counts[i].err; err != nil {
			log.Info("bench server: stream failed", "stream", i, "err", err)
		}
	}
	// The client says when it has read everything (or stopped sending).
	dur := time.Duration(ss.start.DurationMS) * time.Millisecond
	done, err := k.recv(dur + grace)
	if err != nil || done.Type != "done" {
		log.Info("bench server: no done message from client", "err", err)
		return
	}
	res := ss.result(counts, seconds)
	ss.free() // before the result: a client that has it may start its next run
	if err := k.send(res, s.handshakeTimeout()); err != nil {
		log.Info("bench server: client went away before the result", "err", err)
		return
	}
	// Keep the data connections open until the client has read its own
	// figures: closing them would end the subflows (an MPTCP socket forgets
	// a closed subflow's counters).
	if m, err := k.recv(s.handshakeTimeout()); err != nil || m.Type != "bye" {
		log.Debug("bench server: no bye from client", "err", err)
	}
	var total int64
	for i := range counts {
		total += counts[i].read.Load() + counts[i].written.Load()
	}
	log.Info("bench server: run done", "bytes", total, "seconds", seconds)
}

// admit reads and checks the client's start message and registers its run
// under cookie ck, unless the server is busy or the cookie taken.
func (s *Server) admit(k *ctrl, ck cookie) (*session, error) {
	start, err := k.recv(s.handshakeTimeout())
	if err == nil {
		err = validateStart(start)
	}
	if err != nil {
		return nil, err
	}
	ss := &session{srv: s, ck: ck, start: *start, conns: make([]net.Conn, start.Streams), full: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.runs >= s.maxRuns():
		return nil, fmt.Errorf("server busy: %d runs in progress, try again later", s.runs)
	case s.sessions[ck] != nil:
		return nil, errors.New("a run with this cookie is in progress")
	}
	s.runs++
	s.sessions[ck] = ss
	return ss, nil
}

// free gives back the run's slot, once: when the result goes out (or the
// run failed); the data connections may linger until the client's bye.
func (ss *session) free() {
	s := ss.srv
	s.mu.Lock()
	if !ss.freed {
		ss.freed = true
		s.runs--
	}
	if s.sessions[ss.ck] == ss {
		delete(s.sessions, ss.ck)
	}
	s.mu.Unlock()
}

// end frees the run's slot and closes its data connections.
func (s *Server) end(ss *session) {
	ss.free()
	ss.mu.Lock()
	ss.closed = true
	for _, dc := range ss.conns {
		if dc != nil {
			dc.Close()
		}
	}
	ss.mu.Unlock()
}

// expireConns sets the deadline of every attached data connection to now.
func (ss *session) expireConns() {
	ss.mu.Lock()
	for _, dc := range ss.conns {
		if dc != nil {
			dc.SetDeadline(time.Now())
		}
	}
	ss.mu.Unlock()
}

// awaitStreams waits for every data connection of the run; on failure it
// tells the client (unless the server is shutting down) and returns false.
func (s *Server) awaitStreams(ctx context.Context, k *ctrl, ss *session, log *slog.Logger) bool {
	select {
	case <-ss.full:
	case <-time.After(s.attachTimeout()):
		ss.mu.Lock()
		n := ss.n
		ss.mu.Unlock()
		err := fmt.Errorf("only %d of %d data connections arrived within %v", n, ss.start.Streams, s.attachTimeout())
		log.Info("bench server: run failed", "err", err)
		k.send(&msg{Type: "error", Error: err.Error()}, s.handshakeTimeout())
		return false
	case <-ctx.Done():
		return false
	}
	s.mu.Lock()
	delete(s.sessions, ss.ck) // no more data connections for this run
	s.mu.Unlock()
	return true
}

// setCongestion sets the congestion control the client asked for on every
// data connection.
func (ss *session) setCongestion() error {
	if cc := ss.start.CongestionControl; cc != "" {
		for _, dc := range ss.conns {
			if err := setCongestion(dc, cc); err != nil {
				return err
			}
		}
	}
	return nil
}

// transfer moves the data on every data connection (and, in reverse runs,
// sends the client ticks meanwhile). It returns each stream's counts and
// the seconds until the last one ended; ok is false if the server is
// shutting down.
func (s *Server) transfer(ctx context.Context, k *ctrl, ss *session) (counts []streamCount, seconds float64, ok bool) {
	start, conns := &ss.start, ss.conns
	dur := time.Duration(start.DurationMS) * time.Millisecond
	t0 := time.Now()
	counts = make([]streamCount, len(conns))
	for _, dc := range conns {
		switch {
		case start.RRSize > 0:
			dc.SetDeadline(t0.Add(dur + grace))
		case start.Reverse:
			dc.SetWriteDeadline(t0.Add(dur))
		default:
			dc.SetReadDeadline(t0.Add(dur + grace))
		}
	}
	if ctx.Err() != nil { // after the deadlines: see context.AfterFunc in control
		return nil, 0, false
	}
	var wg sync.WaitGroup
	var lastEnd atomic.Int64
	for i, dc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &counts[i]
			switch {
			case start.RRSize > 0:
				sc.err = echo(dc, start.RRSize, sc)
			case start.Reverse:
				sc.err = send(dc, make([]byte, bufSize), &sc.written)
			default:
				sc.err = receive(dc, make([]byte, bufSize), &sc.read)
			}
			storeMax(&lastEnd, int64(time.Since(t0)))
		}()
	}
	stopTicks := make(chan struct{})
	ticksDone := make(chan struct{})
	go func() {
		defer close(ticksDone)
		s.sendTicks(k, ss, stopTicks)
	}()
	wg.Wait()
	close(stopTicks)
	<-ticksDone
	return counts, time.Duration(lastEnd.Load()).Seconds(), true
}

// sendTicks sends the client, in reverse runs, the sender's retransmissions
// per stream every interval, until stop is closed.
func (s *Server) sendTicks(k *ctrl, ss *session, stop <-chan struct{}) {
	start, conns := &ss.start, ss.conns
	if !start.Reverse || start.IntervalMS <= 0 {
		return
	}
	tick := time.NewTicker(time.Duration(max(start.IntervalMS, 10)) * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			m := msg{Type: "tick", Retransmits: make([]int64, len(conns))}
			for i, dc := range conns {
				for _, sf := range subflowsOf(dc) {
					m.Retransmits[i] += int64(sf.TotalRetrans)
				}
			}
			if err := k.send(&m, s.handshakeTimeout()); err != nil {
				return
			}
		}
	}
}

// result is the server's report of the run: its view of every data
// connection.
func (ss *session) result(counts []streamCount, seconds float64) *msg {
	res := &msg{Type: "result", Seconds: seconds, Report: make([]streamReport, len(ss.conns))}
	for i, dc := range ss.conns {
		var st connStat
		if ss.start.Reverse {
			// As the sender, wait for the last acknowledgements so that
			// the per-subflow figures are final.
			st = settledStat(dc, counts[i].written.Load())
		} else {
			st = stat(dc)
		}
		res.Report[i] = streamReport{
			State:             st.word(),
			Read:              counts[i].read.Load(),
			Written:           counts[i].written.Load(),
			Transactions:      counts[i].trans.Load(),
			Retransmits:       st.Retransmits,
			CongestionControl: st.CongestionControl,
			Subflows:          st.Subflows,
			Local:             dc.LocalAddr().String(),
			Remote:            dc.RemoteAddr().String(),
		}
		if counts[i].err != nil {
			res.Error = fmt.Sprintf("stream %d: %v", i, counts[i].err)
		}
	}
	return res
}

type streamCount struct {
	read, written, trans atomic.Int64
	err                  error
}

// bufSize is the size of every read and write of bulk data.
const bufSize = 128 << 10

// send writes buf to c until the write deadline passes, counting into n,
// then half-closes c. Reaching the deadline is success.
func send(c net.Conn, buf []byte, n *atomic.Int64) error {
	for {
		m, err := c.Write(buf)
		n.Add(int64(m))
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			return err
		}
	}
	return closeWrite(c)
}

func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// receive reads c to EOF, counting into n.
func receive(c net.Conn, buf []byte, n *atomic.Int64) error {
	for {
		m, err := c.Read(buf)
		n.Add(int64(m))
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// echo answers size-byte requests with size-byte responses until EOF.
func echo(c net.Conn, size int, sc *streamCount) error {
	buf := make([]byte, size)
	for {
		m, err := io.ReadFull(c, buf)
		sc.read.Add(int64(m))
		if err == io.EOF {
			return closeWrite(c)
		}
		if err != nil {
			return fmt.Errorf("reading a request: %w", err)
		}
		m, err = c.Write(buf)
		sc.written.Add(int64(m))
		if err != nil {
			return fmt.Errorf("writing a response: %w", err)
		}
		sc.trans.Add(1)
	}
}
