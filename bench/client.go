package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrMismatch is wrapped by Run's error when the sender's and the receiver's
// byte counts differ.
var ErrMismatch = errors.New("byte counts differ between sender and receiver")

// ServerError is the server's explanation of why it did not run or
// finish a run (e.g. "server busy").
type ServerError struct{ Msg string }

func (e *ServerError) Error() string { return "server: " + e.Msg }

// clientStream is one data connection on the client.
type clientStream struct {
	c    net.Conn
	sc   streamCount
	hist *histogram
	// At the last interval:
	retr, lastBytes, lastTrans int64
	// The server's cumulative retransmissions (its ticks, reverse runs).
	serverRetr atomic.Int64
	// Each subflow's byte count at the last interval, by its addresses.
	lastSub map[[2]netip.AddrPort]uint64
}

// Run runs one measurement against the server at cfg.Addr. progress, if
// not nil, is called after every cfg.Interval with the figures of that
// interval (from one goroutine, in order). The Result is returned with an
// error wrapping ErrMismatch if the two ends' byte counts disagree.
func Run(ctx context.Context, cfg Config, progress func(Interval)) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &clientRun{cfg: cfg, ctx: ctx, log: cfg.Logger.With("server", cfg.Addr, "mode", cfg.Mode)}
	rand.Read(r.ck[:])
	defer r.closeConns()
	// Cancelling ctx unblocks every call on every connection.
	stop := context.AfterFunc(ctx, r.expireConns)
	defer stop()
	res, mismatch, err := r.run(progress)
	if err != nil {
		if cerr := r.ctxErr(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	if mismatch != nil {
		return res, fmt.Errorf("%w: %w", ErrMismatch, mismatch)
	}
	return res, nil
}

// clientRun is one Run in progress.
type clientRun struct {
	cfg Config
	ctx context.Context
	log *slog.Logger
	ck  cookie

	mu   sync.Mutex
	open []net.Conn // every connection of the run, closed at its end
}

// track adds c to the connections the run closes (and cancels).
func (r *clientRun) track(c net.Conn) {
	r.mu.Lock()
	r.open = append(r.open, c)
	r.mu.Unlock()
}

func (r *clientRun) closeConns() {
	r.mu.Lock()
	for _, c := range r.open {
		c.Close()
	}
	r.mu.Unlock()
}

// expireConns sets every connection's deadline to now.
func (r *clientRun) expireConns() {
	r.mu.Lock()
	for _, c := range r.open {
		c.SetDeadline(time.Now())
	}
	r.mu.Unlock()
}

// run does the steps of Run. An error that the cancelled context caused is
// replaced by Run; mismatch is the byte counts' disagreement.
func (r *clientRun) run(progress func(Interval)) (res *Result, mismatch, err error) {
	cc, err := r.dialControl()
	if err != nil {
		return nil, nil, err
	}
	k := newCtrl(r.ctx, cc, maxServerLine)
	ready, err := r.start(cc, k)
	if err != nil {
		return nil, nil, err
	}
	res = &Result{
		Server:                  r.cfg.Addr,
		Mode:                    r.cfg.Mode,
		Reverse:                 r.cfg.Reverse,
		ServerCongestionControl: ready.CongestionControl,
		ClientCongestionControl: congestion(cc),
	}
	streams, err := r.openStreams()
	if err != nil {
		return nil, nil, err
	}
	if _, err := expect(k, "go", attachTimeout+10*time.Second); err != nil {
		return nil, nil, err
	}
	t0 := time.Now()
	end := t0.Add(r.cfg.Duration)
	r.log.Debug("bench: run started", "streams", r.cfg.Streams)
	answer := r.readControl(k, streams)
	r.setTransferDeadlines(streams, end)
	if err := r.ctx.Err(); err != nil {
		return nil, nil, err
	}
	var clientSeconds float64
	res.Intervals, clientSeconds, err = r.transfer(streams, t0, end, progress)
	if err != nil {
		return nil, nil, err
	}
	result, err := r.finish(k, streams, answer)
	if err != nil {
		return nil, nil, err
	}
	finalPaths, mismatches := r.collectStreams(res, streams, result.Report)
	switch {
	case r.cfg.Reverse || r.cfg.RRSize > 0:
		res.Seconds = clientSeconds
	default:
		res.Seconds = result.Seconds
	}
	if res.Seconds > 0 {
		res.BitsPerSecond = float64(res.Bytes) * 8 / res.Seconds
	}
	settleLastInterval(res, finalPaths)
	if r.cfg.RRSize > 0 {
		res.Latency = latencyOf(streams, r.cfg.RRSize, res.Seconds)
	}
	// The server keeps the data connections open until now.
	k.send(&msg{Type: "bye"}, time.Second)
	return res, errors.Join(mismatches...), nil
}

// ctxErr is r.ctx's error, or context.DeadlineExceeded once its deadline
// has passed: the dial's own timer for that deadline can fire a moment
// before the context's, and then the dial fails while ctx.Err() is nil.
func (r *clientRun) ctxErr() error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if dl, ok := r.ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// dialControl opens the control connection.
func (r *clientRun) dialControl() (net.Conn, error) {
	cc, err := r.cfg.Dialer(r.ctx, "tcp", r.cfg.Addr)
	if err != nil {
		var re *RefusedError
		if errors.As(err, &re) {
			return nil, err
		}
		if cerr := r.ctxErr(); cerr != nil {
			// The net package reports a context deadline met during the
			// dial as a plain i/o timeout; the caller asked about ctx.
			err = cerr
		}
		return nil, fmt.Errorf("control connection to %s: %w", r.cfg.Addr, err)
	}
	r.track(cc)
	return cc, nil
}

// start sends the hello and the start message on the control connection
// and returns the server's ready.
func (r *clientRun) start(cc net.Conn, k *ctrl) (*msg, error) {
	cc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := cc.Write(hello{Kind: kindControl, Cookie: r.ck}.marshal()); err != nil {
		return nil, r.notBench(err)
	}
	start := msg{Type: "start", Mode: r.cfg.Mode, Streams: r.cfg.Streams, Reverse: r.cfg.Reverse,
		DurationMS: max(1, r.cfg.Duration.Milliseconds()), RRSize: r.cfg.RRSize, CongestionControl: r.cfg.CongestionControl}
	if r.cfg.Reverse && r.cfg.Interval > 0 {
		start.IntervalMS = max(1, r.cfg.Interval.Milliseconds())
	}
	if err := k.send(&start, 10*time.Second); err != nil {
		return nil, r.notBench(err)
	}
	ready, err := expect(k, "ready", readyTimeout)
	if err != nil {
		var se *ServerError
		if errors.As(err, &se) {
			return nil, err // the server's own refusal
		}
		return nil, r.notBench(err)
	}
	return ready, nil
}

// notBench explains an error of the first exchange, which tells whether a
// bench server is there at all.
func (r *clientRun) notBench(err error) error {
	var pe *protoError
	if errors.As(err, &pe) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%s %w (is that what listens there?): %w", r.cfg.Addr, ErrNotBenchServer, err)
	}
	return fmt.Errorf("control connection to %s: %w", r.cfg.Addr, err)
}

// openStreams dials the data connections and sends each its hello.
func (r *clientRun) openStreams() ([]*clientStream, error) {
	network := "tcp"
	if r.cfg.Mode == ModeMPTCP {
		network = "mptcp"
	}
	streams := make([]*clientStream, r.cfg.Streams)
	for i := range streams {
		c, err := r.cfg.Dialer(r.ctx, network, r.cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("data connection %d to %s: %w", i, r.cfg.Addr, err)
		}
		r.track(c)
		if r.cfg.CongestionControl != "" {
			if err := setCongestion(c, r.cfg.CongestionControl); err != nil {
				return nil, fmt.Errorf("client: %w", err)
			}
		}
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(hello{Kind: kindData, Stream: uint16(i), Cookie: r.ck}.marshal()); err != nil {
			return nil, fmt.Errorf("data connection %d to %s: %w", i, r.cfg.Addr, err)
		}
		c.SetWriteDeadline(time.Time{})
		streams[i] = &clientStream{c: c, lastSub: map[[2]netip.AddrPort]uint64{}}
		if r.cfg.RRSize > 0 {
			streams[i].hist = new(histogram)
		}
	}
	return streams, nil
}

// readControl reads the control connection from now on, in a goroutine:
// the server's ticks (reverse runs) update the streams' sender
// retransmissions, and the next other message is the answer to "done".
func (r *clientRun) readControl(k *ctrl, streams []*clientStream) <-chan ctrlAnswer {
	answer := make(chan ctrlAnswer, 1)
	go func() {
		for {
			m, err := k.recv(r.cfg.Duration + 2*grace)
			if err == nil && m.Type == "tick" {
				for i, rt := range m.Retransmits {
					if i < len(streams) {
						streams[i].serverRetr.Store(rt)
					}
				}
				continue
			}
			answer <- ctrlAnswer{m, err}
			return
		}
	}()
	return answer
}

// setTransferDeadlines sets the transfer's deadlines. The caller checks ctx
// after: once ctx is done, the deadlines set on cancellation are the last
// word.
func (r *clientRun) setTransferDeadlines(streams []*clientStream, end time.Time) {
	for _, s := range streams {
		switch {
		case r.cfg.RRSize > 0:
			s.c.SetDeadline(end.Add(grace))
		case r.cfg.Reverse:
			s.c.SetReadDeadline(end.Add(grace))
		default:
			s.c.SetWriteDeadline(end)
		}
	}
}

// transfer moves the data on every stream, reporting progress meanwhile,
// and returns the intervals and the seconds until the last stream ended.
func (r *clientRun) transfer(streams []*clientStream, t0, end time.Time, progress func(Interval)) ([]Interval, float64, error) {
	var wg sync.WaitGroup
	var lastEnd atomic.Int64
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch {
			case r.cfg.RRSize > 0:
				s.sc.err = request(s.c, r.cfg.RRSize, end, &s.sc, s.hist)
			case r.cfg.Reverse:
				s.sc.err = receive(s.c, make([]byte, bufSize), &s.sc.read)
			default:
				s.sc.err = send(s.c, make([]byte, bufSize), &s.sc.written)
			}
			storeMax(&lastEnd, int64(time.Since(t0)))
		}()
	}
	streamsDone := make(chan struct{})
	go func() { wg.Wait(); close(streamsDone) }()
	ivs := intervals(r.cfg, t0, streams, streamsDone, progress)
	<-streamsDone
	var errs []error
	for i, s := range streams {
		if s.sc.err != nil {
			errs = append(errs, fmt.Errorf("stream %d: %w", i, s.sc.err))
		}
	}
	if err := r.ctx.Err(); err != nil {
		// Cancelling set deadlines that ended the streams early.
		return nil, 0, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}
	return ivs, time.Duration(lastEnd.Load()).Seconds(), nil
}

// storeMax raises v to n if n is larger.
func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// finish tells the server what the client counted and returns its result.
func (r *clientRun) finish(k *ctrl, streams []*clientStream, answer <-chan ctrlAnswer) (*msg, error) {
	counts := make([]int64, len(streams))
	for i, s := range streams {
		counts[i] = s.sc.read.Load() + s.sc.written.Load()
	}
	if err := k.send(&msg{Type: "done", Counts: counts}, 10*time.Second); err != nil {
		return nil, fmt.Errorf("control connection: %w", err)
	}
	var a ctrlAnswer
	select {
	case a = <-answer:
	case <-time.After(grace):
		a.err = fmt.Errorf("no %q from the server within %v", "result", grace)
	}
	result, err := check(k, a.m, a.err, "result", r.cfg.Duration+2*grace)
	if err != nil {
		return nil, err
	}
	if len(result.Report) != len(streams) {
		return nil, fmt.Errorf("server reported %d streams, want %d", len(result.Report), len(streams))
	}
	if result.Error != "" {
		return nil, &ServerError{result.Error}
	}
	return result, nil
}

// collectStreams adds each stream's figures, with the sender's per-subflow
// figures (ours in forward and rr mode, after the last acknowledgements
// arrived; the server's in reverse mode), to res. It returns what the
// client's kernel counted per path at the end, in the intervals' terms,
// and the streams whose two ends disagree.
func (r *clientRun) collectStreams(res *Result, streams []*clientStream, reports []streamReport) (map[[2]string]int64, []error) {
	var mismatch []error
	finalPaths := map[[2]string]int64{}
	for i, s := range streams {
		rep := reports[i]
		str, st, errs := r.streamResult(i, s, rep)
		mismatch = append(mismatch, errs...)
		if r.cfg.Reverse {
			res.CongestionControl = rep.CongestionControl
		} else {
			res.CongestionControl = st.CongestionControl
		}
		if i == 0 && st.CongestionControl != "" {
			res.ClientCongestionControl = st.CongestionControl
		}
		if i == 0 && rep.CongestionControl != "" {
			res.ServerCongestionControl = rep.CongestionControl
		}
		for _, sf := range st.Subflows {
			b := sf.BytesAcked
			if r.cfg.Reverse {
				b = sf.BytesReceived
			}
			finalPaths[pathKey(sf.Local, sf.Remote)] += int64(b)
		}
		res.Streams = append(res.Streams, str)
		res.Bytes += str.Bytes
		res.SenderBytes += str.SenderBytes
		res.Retransmits += str.Retransmits
		res.Subflows += len(str.Subflows)
		if str.State == stateFallback {
			res.Fallback = true
		}
	}
	return finalPaths, mismatch
}

// streamResult is stream i's figures, from the client's socket s and the
// server's report rep, with the client's view of the socket and where the
// two ends' counts disagree.
func (r *clientRun) streamResult(i int, s *clientStream, rep streamReport) (Stream, connStat, []error) {
	var st connStat
	if !r.cfg.Reverse {
		st = settledStat(s.c, s.sc.written.Load()+helloLen)
	} else {
		st = stat(s.c)
	}
	state := st.word()
	if r.cfg.Mode == ModeMPTCP && state == stateTCP {
		// An MPTCP dial that the stack turned into TCP.
		state = stateFallback
	}
	str := Stream{
		ID: i, Local: s.c.LocalAddr().String(), Remote: s.c.RemoteAddr().String(),
		State: state, ServerState: rep.State, Reason: st.reason(),
	}
	var mismatch []error
	switch {
	case r.cfg.RRSize > 0:
		str.Bytes, str.SenderBytes = rep.Read, s.sc.written.Load()
		str.Transactions = s.sc.trans.Load()
		if rep.Transactions != str.Transactions {
			mismatch = append(mismatch, fmt.Errorf("stream %d: client completed %d transactions, server answered %d", i, str.Transactions, rep.Transactions))
		}
		if got := s.sc.read.Load(); got != rep.Written {
			mismatch = append(mismatch, fmt.Errorf("stream %d: client read %d response bytes, server wrote %d", i, got, rep.Written))
		}
	case r.cfg.Reverse:
		str.Bytes, str.SenderBytes = s.sc.read.Load(), rep.Written
	default:
		str.Bytes, str.SenderBytes = rep.Read, s.sc.written.Load()
	}
	if str.Bytes != str.SenderBytes {
		mismatch = append(mismatch, fmt.Errorf("stream %d: receiver counted %d bytes, sender %d", i, str.Bytes, str.SenderBytes))
	}
	if r.cfg.Reverse {
		str.Retransmits, str.Subflows = rep.Retransmits, rep.Subflows
	} else {
		str.Retransmits, str.Subflows = st.Retransmits, st.Subflows
	}
	return str, st, mismatch
}

// settleLastInterval makes the intervals add up to the final figures: the
// last interval was measured before them (and the server's last tick may
// predate its last retransmissions), and bytes still in flight then were
// acknowledged since.
func settleLastInterval(res *Result, finalPaths map[[2]string]int64) {
	if len(res.Intervals) == 0 {
		return
	}
	last := &res.Intervals[len(res.Intervals)-1]
	var sum int64
	for _, iv := range res.Intervals {
		sum += iv.Retransmits
	}
	if d := res.Retransmits - sum; d > 0 {
		last.Retransmits += d
	}
	seen := map[[2]string]int64{}
	for _, iv := range res.Intervals {
		for _, p := range iv.Paths {
			seen[[2]string{p.Local, p.Remote}] += p.Bytes
		}
	}
	extra := map[[2]string]int64{}
	for _, p := range last.Paths {
		extra[[2]string{p.Local, p.Remote}] += p.Bytes
	}
	for k, b := range finalPaths {
		if d := b - seen[k]; d > 0 {
			extra[k] += d
		}
	}
	last.Paths = pathIntervals(extra, last.End-last.Start)
	for i := range last.Streams {
		var sum int64
		for _, iv := range res.Intervals {
			sum += iv.Streams[i].Retransmits
		}
		if d := res.Streams[i].Retransmits - sum; d > 0 {
			last.Streams[i].Retransmits += d
		}
	}
}

// latencyOf summarises the request/response round trips of every stream.
func latencyOf(streams []*clientStream, size int, seconds float64) *Latency {
	var h histogram
	for _, s := range streams {
		h.merge(s.hist)
	}
	return h.latency(size, seconds)
}

// expect reads the next control message and wants it of type typ.
func expect(k *ctrl, typ string, timeout time.Duration) (*msg, error) {
	m, err := k.recv(timeout)
	return check(k, m, err, typ, timeout)
}

type ctrlAnswer struct {
	m   *msg
	err error
}

// check is expect for a message already read.
func check(k *ctrl, m *msg, err error, typ string, timeout time.Duration) (*msg, error) {
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("server closed the control connection (waiting for %q): %w", typ, io.EOF)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("no %q from the server within %v: %w", typ, timeout, err)
		}
		if k.ctx.Err() != nil {
			return nil, k.ctx.Err()
		}
		var pe *protoError
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, fmt.Errorf("control connection: %w", err)
	}
	if m.Type == "error" {
		return nil, &ServerError{m.Error}
	}
	if m.Type != typ {
		return nil, &protoError{fmt.Sprintf("server sent %q, want %q", m.Type, typ)}
	}
	return m, nil
}

// readyTimeout bounds the wait for the server's first answer.
const readyTimeout = 10 * time.Second

// settledStat waits (up to a second) until the sender's subflows report
// want bytes acknowledged, so per-subflow figures are final.
func settledStat(c net.Conn, want int64) connStat {
	deadline := time.Now().Add(time.Second)
	for {
		st := stat(c)
		var acked int64
		for _, sf := range st.Subflows {
			acked += int64(sf.BytesAcked)
		}
		if acked >= want || time.Now().After(deadline) {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// request sends size-byte requests and reads size-byte answers until end.
func request(c net.Conn, size int, end time.Time, sc *streamCount, h *histogram) error {
	buf := make([]byte, size)
	for time.Now().Before(end) {
		t := time.Now()
		m, err := c.Write(buf)
		sc.written.Add(int64(m))
		if err != nil {
			return fmt.Errorf("writing a request: %w", err)
		}
		m, err = io.ReadFull(c, buf)
		sc.read.Add(int64(m))
		if err != nil {
			return fmt.Errorf("reading a response: %w", err)
		}
		h.record(time.Since(t))
		sc.trans.Add(1)
	}
	return closeWrite(c)
}

// intervals reports progress every cfg.Interval until done is closed and
// returns the reports.
func intervals(cfg Config, t0 time.Time, streams []*clientStream, done <-chan struct{}, progress func(Interval)) []Interval {
	if cfg.Interval < 0 {
		return nil
	}
	var out []Interval
	last := t0
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	emit := func(now time.Time, final bool) {
		iv := Interval{Start: last.Sub(t0).Seconds(), End: now.Sub(t0).Seconds()}
		d := now.Sub(last).Seconds()
		paths := map[[2]string]int64{}
		if len(streams) > 1 {
			iv.Streams = make([]StreamInterval, len(streams))
		}
		for i, s := range streams {
			var bytes int64
			if cfg.Reverse {
				bytes = s.sc.read.Load()
			} else {
				bytes = s.sc.written.Load()
			}
			trans := s.sc.trans.Load()
			sfs := subflowsOf(s.c)
			n := len(sfs)
			var r int64
			for _, sf := range sfs {
				r += int64(sf.TotalRetrans)
				cur := sf.BytesAcked
				if cfg.Reverse {
					cur = sf.BytesReceived
				}
				key := [2]netip.AddrPort{sf.Local, sf.Remote}
				prev, ok := s.lastSub[key]
				if !ok || cur < prev {
					prev = 0
				}
				s.lastSub[key] = cur
				paths[pathKey(sf.Local, sf.Remote)] += int64(cur - prev)
			}
			si := StreamInterval{ID: i, Bytes: bytes - s.lastBytes, Transactions: trans - s.lastTrans, Subflows: n, Retransmits: -1}
			if cfg.Reverse {
				r = s.serverRetr.Load()
			}
			si.Retransmits = r - s.retr
			s.retr = r
			iv.Retransmits += si.Retransmits
			if d > 0 {
				si.BitsPerSecond = float64(si.Bytes) * 8 / d
			}
			s.lastBytes, s.lastTrans = bytes, trans
			iv.Bytes += si.Bytes
			iv.Transactions += si.Transactions
			iv.Subflows += n
			if iv.Streams != nil {
				iv.Streams[i] = si
			}
		}
		if d > 0 {
			iv.BitsPerSecond = float64(iv.Bytes) * 8 / d
		}
		iv.Paths = pathIntervals(paths, d)
		last = now
		if final && len(out) > 0 && iv.End-iv.Start < cfg.Interval.Seconds()/10 {
			// Too short for a line of its own: fold it into the last one
			// so that the intervals still add up.
			p := &out[len(out)-1]
			p.fold(iv)
			p.foldPaths(iv.Paths)
			for i := range p.Streams {
				p.Streams[i].fold(iv.Streams[i], p.End-p.Start)
			}
			return
		}
		out = append(out, iv)
		if progress != nil {
			progress(iv)
		}
	}
	for {
		select {
		case now := <-tick.C:
			emit(now, false)
		case <-done:
			// The last, partial interval, so that the intervals add up.
			emit(time.Now(), true)
			return out
		}
	}
}

// fold adds the figures of a short interval that follows iv.
func (iv *Interval) fold(next Interval) {
	iv.Bytes += next.Bytes
	iv.Transactions += next.Transactions
	if iv.Retransmits >= 0 {
		iv.Retransmits += next.Retransmits
	}
	iv.End, iv.Subflows = next.End, next.Subflows
	iv.BitsPerSecond = float64(iv.Bytes) * 8 / (iv.End - iv.Start)
}

func (si *StreamInterval) fold(next StreamInterval, seconds float64) {
	si.Bytes += next.Bytes
	si.Transactions += next.Transactions
	if si.Retransmits >= 0 {
		si.Retransmits += next.Retransmits
	}
	si.Subflows = next.Subflows
	si.BitsPerSecond = float64(si.Bytes) * 8 / seconds
}

// pathKey names the path of a subflow: its two addresses without ports.
func pathKey(local, remote netip.AddrPort) [2]string {
	host := func(a netip.AddrPort) string {
		if !a.IsValid() {
			return ""
		}
		return a.Addr().String()
	}
	return [2]string{host(local), host(remote)}
}

func pathIntervals(paths map[[2]string]int64, seconds float64) []PathInterval {
	out := make([]PathInterval, 0, len(paths))
	for k, b := range paths {
		p := PathInterval{Local: k[0], Remote: k[1], Bytes: b}
		if seconds > 0 {
			p.BitsPerSecond = float64(b) * 8 / seconds
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b PathInterval) int {
		return cmp.Or(strings.Compare(a.Local, b.Local), strings.Compare(a.Remote, b.Remote))
	})
	return out
}

// foldPaths adds a short following interval's path bytes to iv's.
func (iv *Interval) foldPaths(next []PathInterval) {
	m := map[[2]string]int64{}
	for _, p := range iv.Paths {
		m[[2]string{p.Local, p.Remote}] += p.Bytes
	}
	for _, p := range next {
		m[[2]string{p.Local, p.Remote}] += p.Bytes
	}
	iv.Paths = pathIntervals(m, iv.End-iv.Start)
}
