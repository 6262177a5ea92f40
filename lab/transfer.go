package lab

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/mptcpkit/mptcpkit/bench"
	"github.com/mptcpkit/mptcpkit/mptcp"
)

// TransferPort is where Transfer's receiver listens in the server namespace.
const TransferPort = 5399

// LinkEvent sets a path's link down or up at a time into a transfer.
type LinkEvent struct {
	At   time.Duration `json:"-"` // JSON: at_us
	Path int           `json:"path"`
	Up   bool          `json:"up"`
	// Server sets the server-side interface instead of the client's.
	Server bool `json:"server_side,omitempty"`
}

// TransferConfig describes one checked MPTCP transfer client -> server.
type TransferConfig struct {
	// Duration the client sends for (default 10 s), or Bytes to send
	// exactly (if > 0; Duration then only bounds it).
	Duration time.Duration
	Bytes    int64
	// Events happen at their times (fault injection).
	Events []LinkEvent
	// Sample is how often per-path counters are read (default 100 ms).
	Sample time.Duration
	// MPTCP false sends over plain TCP.
	TCP bool
}

// TransferReport is what a checked transfer saw.
type TransferReport struct {
	CC        string  `json:"congestion_control"`
	Seconds   float64 `json:"seconds"`
	SentBytes int64   `json:"sent_bytes"`
	RecvBytes int64   `json:"received_bytes"`
	// Completed: the receiver read everything the sender wrote, up to EOF.
	Completed      bool    `json:"completed"`
	SHA256Sent     string  `json:"sha256_sent"`
	SHA256Received string  `json:"sha256_received"`
	ChecksumMatch  bool    `json:"checksum_match"`
	Mbps           float64 `json:"-"` // JSON: goodput_bps
	// LongestStall is the longest time the receiver got no data, and when
	// it started (seconds into the transfer).
	LongestStall   time.Duration `json:"-"` // JSON: longest_stall_us
	LongestStallAt float64       `json:"longest_stall_at_s"`
	Events         []LinkEvent   `json:"events"`
	// SampleTimes are the times (seconds into the transfer) of the
	// per-path Timeline samples.
	SampleTimes []float64      `json:"sample_times_s,omitempty"`
	Paths       []PathTransfer `json:"paths"`
	// Subflows at the end, from the sender's socket (package mptcp).
	Subflows []mptcp.Subflow `json:"-"` // JSON: subflows, as subflowJSON
}

// PathTransfer is one path's share of a transfer.
type PathTransfer struct {
	Path int `json:"path"`
	// SubflowBytes: bytes acknowledged on this path's subflows (package
	// mptcp, summed over the subflows seen); WireBytes: what the client
	// interface sent.
	SubflowBytes uint64 `json:"subflow_bytes"`
	WireBytes    uint64 `json:"wire_bytes"`
	Retransmits  uint32 `json:"retransmits"`
	// ReturnedAfter is, for a path set up again during the transfer, how
	// long after that its subflows carried data again (-1: never).
	ReturnedAfter time.Duration `json:"-"` // JSON: returned_after_us
	// Timeline holds the path's subflow bytes per sample.
	Timeline []uint64 `json:"timeline_bytes,omitempty"`
}

// Transfer sends pseudo-random data over one MPTCP connection from the
// client namespace to the server namespace, hashing it at both ends, while
// applying cfg.Events, and reports stalls and per-path traffic.
func Transfer(ctx context.Context, st *Testbed, cfg TransferConfig) (*TransferReport, error) {
	if cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Sample == 0 {
		cfg.Sample = 100 * time.Millisecond
	}
	server, client, err := st.openNetNS()
	if err != nil {
		return nil, err
	}
	defer server.Close()
	defer client.Close()
	addr := net.JoinHostPort(st.Paths[0].ServerAddr.String(), strconv.Itoa(TransferPort))
	ln, err := mptcp.ListenWith(ctx, "tcp", addr, mptcp.ListenOptions{NetNS: server})
	if err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, st.Server, err)
	}
	defer ln.Close()

	rep := &TransferReport{CC: st.CCEffect, Events: cfg.Events}
	recvc := make(chan received, 1)
	t0 := time.Now()
	go func() { recvc <- receiveTransfer(ln, cfg.Duration+60*time.Second) }()
	network := "mptcp"
	if cfg.TCP {
		network = "tcp"
	}
	conn, err := bench.NetNSDialer(client)(ctx, network, addr)
	if err != nil {
		ln.Close()
		<-recvc
		return nil, err
	}
	defer conn.Close()

	// Fault injection and sampling.
	sctx, stop := context.WithCancel(ctx)
	w := watchTransfer(sctx, st, cfg, conn, t0, rep)
	before, _ := Counters(st)

	ack, sendErr := sendAndConfirm(ctx, conn, cfg, t0, rep, w.smp)
	stop()
	w.wg.Wait()
	ln.Close()
	if sendErr != nil {
		conn.Close()
	}
	r := <-recvc
	rep.Seconds = time.Since(t0).Seconds()
	after, _ := Counters(st)
	if sendErr != nil {
		return rep, sendErr
	}
	if r.err != nil {
		return rep, r.err
	}
	if w.evErr != nil {
		return rep, fmt.Errorf("link event: %w", w.evErr)
	}
	rep.addReceived(r, ack, t0)
	rep.addPaths(st, w.smp, cfg.Events, before, after)
	return rep, nil
}

// addPaths fills in the sample times and each path's share, from the
// samples and the client interfaces' counters before and after.
func (rep *TransferReport) addPaths(st *Testbed, smp *sampler, events []LinkEvent, before, after []PathCounters) {
	for _, s := range smp.samples {
		rep.SampleTimes = append(rep.SampleTimes, s.t.Seconds())
	}
	for i, p := range st.Paths {
		pt := smp.pathTransfer(i, p.Index, events)
		if before != nil && after != nil {
			pt.WireBytes = after[i].TxBytes - before[i].TxBytes
		}
		rep.Paths = append(rep.Paths, pt)
	}
}

// transferWatch is what runs beside a transfer's sender until its context
// is done: the link events and the sampler.
type transferWatch struct {
	wg    sync.WaitGroup
	evErr error // the link events' error, once wg is done
	smp   *sampler
}

// watchTransfer starts applying cfg.Events and sampling conn's subflows
// every cfg.Sample, until ctx is done; wait for them with wg.
func watchTransfer(ctx context.Context, st *Testbed, cfg TransferConfig, conn net.Conn, t0 time.Time, rep *TransferReport) *transferWatch {
	w := &transferWatch{smp: &sampler{st: st, conn: conn, t0: t0, rep: rep,
		seen: map[netip.AddrPort]uint64{}, retrans: map[netip.AddrPort]uint32{}}}
	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		w.evErr = applyEvents(ctx, st, cfg.Events, t0)
	}()
	go func() {
		defer w.wg.Done()
		w.smp.run(ctx, cfg.Sample)
	}()
	return w
}

// sendAndConfirm sends the data (sendTransfer), takes a last sample,
// half-closes conn and reads the receiver's count and hash.
func sendAndConfirm(ctx context.Context, conn net.Conn, cfg TransferConfig, t0 time.Time, rep *TransferReport, smp *sampler) (ack [40]byte, err error) {
	if err = sendTransfer(ctx, conn, cfg, t0, rep); err != nil {
		return ack, err
	}
	smp.take()
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		if err = cw.CloseWrite(); err != nil {
			return ack, err
		}
	}
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	_, err = io.ReadFull(conn, ack[:])
	return ack, err
}

// received is what the receiving end of a transfer saw.
type received struct {
	n     int64
	sum   string
	stall time.Duration // the longest gap between two reads
	at    time.Time     // when it began
	err   error
}

// receiveTransfer accepts one connection from ln and reads it to EOF,
// hashing what arrives and timing the gaps, each read within idle; then it
// tells the sender what arrived: the count and the hash.
func receiveTransfer(ln net.Listener, idle time.Duration) (r received) {
	c, err := ln.Accept()
	if err != nil {
		r.err = err
		return r
	}
	defer c.Close()
	h := sha256.New()
	buf := make([]byte, 256<<10)
	last := time.Now()
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		n, err := c.Read(buf)
		now := time.Now()
		if n > 0 {
			if r.n > 0 && now.Sub(last) > r.stall {
				r.stall, r.at = now.Sub(last), last
			}
			last = now
			h.Write(buf[:n])
			r.n += int64(n)
		}
		if err == io.EOF {
			r.sum = hex.EncodeToString(h.Sum(nil))
			var msg [8 + 32]byte
			binary.BigEndian.PutUint64(msg[:8], uint64(r.n))
			copy(msg[8:], h.Sum(nil))
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			c.Write(msg[:])
			return r
		}
		if err != nil {
			r.err = fmt.Errorf("receiver: %w", err)
			return r
		}
	}
}

// applyEvents sets links down and up at the events' times after t0, until
// ctx is done.
func applyEvents(ctx context.Context, st *Testbed, events []LinkEvent, t0 time.Time) error {
	for i := range events {
		ev := &events[i]
		select {
		case <-time.After(time.Until(t0.Add(ev.At))):
		case <-ctx.Done():
			return nil
		}
		if err := SetLinkSide(st, ev.Path, ev.Server, ev.Up); err != nil {
			return err
		}
	}
	return nil
}

// sendTransfer writes pseudo-random data to conn for cfg.Duration (or
// cfg.Bytes of it), counting and hashing it into rep.
func sendTransfer(ctx context.Context, conn net.Conn, cfg TransferConfig, t0 time.Time, rep *TransferReport) error {
	h := sha256.New()
	defer func() { rep.SHA256Sent = hex.EncodeToString(h.Sum(nil)) }()
	rng := rand.NewChaCha8([32]byte{'m', 'p', 't', 'c', 'p', 'k', 'i', 't'})
	buf := make([]byte, 128<<10)
	deadline := t0.Add(cfg.Duration)
	for {
		if cfg.Bytes > 0 && rep.SentBytes >= cfg.Bytes {
			return nil
		}
		if cfg.Bytes <= 0 && time.Now().After(deadline) {
			return nil
		}
		if cfg.Bytes > 0 && time.Now().After(deadline.Add(60*time.Second)) {
			return fmt.Errorf("sent %d of %d bytes in %v: too slow", rep.SentBytes, cfg.Bytes, time.Since(t0))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		b := buf
		if cfg.Bytes > 0 && int64(len(b)) > cfg.Bytes-rep.SentBytes {
			b = b[:cfg.Bytes-rep.SentBytes]
		}
		rng.Read(b)
		conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		n, err := conn.Write(b)
		h.Write(b[:n])
		rep.SentBytes += int64(n)
		if err != nil {
			return fmt.Errorf("sender: %w", err)
		}
	}
}

// addReceived fills in what the receiver saw, and whether it got all that
// was sent, intact (ack is the receiver's count and hash).
func (rep *TransferReport) addReceived(r received, ack [40]byte, t0 time.Time) {
	rep.RecvBytes = r.n
	rep.SHA256Received = r.sum
	rep.Completed = int64(binary.BigEndian.Uint64(ack[:8])) == rep.SentBytes && r.n == rep.SentBytes
	rep.ChecksumMatch = rep.SHA256Sent == rep.SHA256Received && hex.EncodeToString(ack[8:]) == rep.SHA256Sent
	rep.LongestStall = r.stall
	if !r.at.IsZero() {
		rep.LongestStallAt = r.at.Sub(t0).Seconds()
	}
	if rep.Seconds > 0 {
		rep.Mbps = float64(r.n) * 8 / rep.Seconds / 1e6
	}
}

// sampler reads the sender's subflows now and then: per path, the bytes
// acknowledged so far.
type sampler struct {
	st   *Testbed
	conn net.Conn
	t0   time.Time
	rep  *TransferReport // its Subflows are the last sample's

	mu      sync.Mutex
	samples []sample
	seen    map[netip.AddrPort]uint64 // per subflow (local address): max acked
	retrans map[netip.AddrPort]uint32
}

type sample struct {
	t    time.Duration
	path []uint64 // per path: acked bytes (sum over its subflows, monotonic)
}

// run takes a sample every interval until ctx is done.
func (smp *sampler) run(ctx context.Context, interval time.Duration) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-tk.C:
			smp.take()
		case <-ctx.Done():
			return
		}
	}
}

// take reads the subflows once.
func (smp *sampler) take() {
	sfs, err := mptcp.Subflows(smp.conn)
	if err != nil {
		return
	}
	smp.mu.Lock()
	defer smp.mu.Unlock()
	for _, sf := range sfs {
		if sf.BytesAcked > smp.seen[sf.Local] {
			smp.seen[sf.Local] = sf.BytesAcked
		}
		smp.retrans[sf.Local] = max(smp.retrans[sf.Local], sf.TotalRetrans)
	}
	s := sample{t: time.Since(smp.t0), path: make([]uint64, len(smp.st.Paths))}
	for local, b := range smp.seen {
		if i := pathOf(smp.st, local.Addr()); i >= 0 {
			s.path[i] += b
		}
	}
	smp.samples = append(smp.samples, s)
	smp.rep.Subflows = sfs
}

// pathTransfer is path i's share of the transfer (index is its Path.Index),
// as the samples saw it; the caller adds its WireBytes.
func (smp *sampler) pathTransfer(i, index int, events []LinkEvent) PathTransfer {
	pt := PathTransfer{Path: index}
	for local, b := range smp.seen {
		if pathOf(smp.st, local.Addr()) == i {
			pt.SubflowBytes += b
			pt.Retransmits += smp.retrans[local]
		}
	}
	for _, s := range smp.samples {
		pt.Timeline = append(pt.Timeline, s.path[i])
	}
	// When did the path carry data again after its last "up"?
	for _, ev := range events {
		if ev.Path != index || !ev.Up {
			continue
		}
		pt.ReturnedAfter = smp.returnedAfter(i, ev.At)
	}
	return pt
}

// returnedAfter is how long after at path i carried data again (more than
// 64 KiB over the first sample from at on), or -1.
func (smp *sampler) returnedAfter(i int, at time.Duration) time.Duration {
	var base uint64
	baseSet := false
	for _, s := range smp.samples {
		if s.t < at {
			continue
		}
		if !baseSet {
			base, baseSet = s.path[i], true
			continue
		}
		if s.path[i] > base+64<<10 {
			return s.t - at
		}
	}
	return -1
}

func pathOf(st *Testbed, a netip.Addr) int {
	for i, p := range st.Paths {
		if p.ClientAddr == a.Unmap() {
			return i
		}
	}
	return -1
}

// ErrIncomplete is returned by callers that need a transfer to complete.
var ErrIncomplete = errors.New("transfer incomplete")
