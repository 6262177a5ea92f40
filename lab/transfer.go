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
	"github.com/mptcpkit/mptcpkit/netns"
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
func Transfer(ctx context.Context, st *State, cfg TransferConfig) (*TransferReport, error) {
	if cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Sample == 0 {
		cfg.Sample = 100 * time.Millisecond
	}
	server, err := netns.Open(st.Server)
	if err != nil {
		return nil, err
	}
	defer server.Close()
	client, err := netns.Open(st.Client)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	addr := net.JoinHostPort(st.Paths[0].ServerAddr.String(), strconv.Itoa(TransferPort))
	ln, err := bench.ListenNetNS(ctx, server, addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, st.Server, err)
	}
	defer ln.Close()

	rep := &TransferReport{CC: st.CCEffect, Events: cfg.Events}
	type recvResult struct {
		n     int64
		sum   string
		stall time.Duration
		at    time.Time
		err   error
	}
	recvc := make(chan recvResult, 1)
	t0 := time.Now()
	go func() {
		var r recvResult
		defer func() { recvc <- r }()
		c, err := ln.Accept()
		if err != nil {
			r.err = err
			return
		}
		defer c.Close()
		h := sha256.New()
		buf := make([]byte, 256<<10)
		last := time.Now()
		for {
			c.SetReadDeadline(time.Now().Add(cfg.Duration + 60*time.Second))
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
				// Tell the sender what arrived: count and hash.
				var msg [8 + 32]byte
				binary.BigEndian.PutUint64(msg[:8], uint64(r.n))
				copy(msg[8:], h.Sum(nil))
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				c.Write(msg[:])
				return
			}
			if err != nil {
				r.err = fmt.Errorf("receiver: %w", err)
				return
			}
		}
	}()

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
	var wg sync.WaitGroup
	var evErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range cfg.Events {
			ev := &cfg.Events[i]
			select {
			case <-time.After(time.Until(t0.Add(ev.At))):
			case <-sctx.Done():
				return
			}
			if err := SetLinkSide(st, ev.Path, ev.Server, ev.Up); err != nil {
				evErr = err
				return
			}
		}
	}()
	type sample struct {
		t    time.Duration
		path []uint64 // per path: acked bytes (sum over its subflows, monotonic)
	}
	var samples []sample
	seen := map[netip.AddrPort]uint64{} // per subflow (local address): max acked
	retrans := map[netip.AddrPort]uint32{}
	var sampleMu sync.Mutex
	takeSample := func() {
		sfs, err := mptcp.Subflows(conn)
		if err != nil {
			return
		}
		sampleMu.Lock()
		defer sampleMu.Unlock()
		for _, sf := range sfs {
			if sf.BytesAcked > seen[sf.Local] {
				seen[sf.Local] = sf.BytesAcked
			}
			retrans[sf.Local] = max(retrans[sf.Local], sf.TotalRetrans)
		}
		s := sample{t: time.Since(t0), path: make([]uint64, len(st.Paths))}
		for local, b := range seen {
			if i := pathOf(st, local.Addr()); i >= 0 {
				s.path[i] += b
			}
		}
		samples = append(samples, s)
		rep.Subflows = sfs
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(cfg.Sample)
		defer tk.Stop()
		for {
			select {
			case <-tk.C:
				takeSample()
			case <-sctx.Done():
				return
			}
		}
	}()
	before, _ := Counters(st)

	// Send.
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{'m', 'p', 't', 'c', 'p', 'k', 'i', 't'})
	buf := make([]byte, 128<<10)
	deadline := t0.Add(cfg.Duration)
	var sendErr error
	for {
		if cfg.Bytes > 0 && rep.SentBytes >= cfg.Bytes {
			break
		}
		if cfg.Bytes <= 0 && time.Now().After(deadline) {
			break
		}
		if cfg.Bytes > 0 && time.Now().After(deadline.Add(60*time.Second)) {
			sendErr = fmt.Errorf("sent %d of %d bytes in %v: too slow", rep.SentBytes, cfg.Bytes, time.Since(t0))
			break
		}
		if err := ctx.Err(); err != nil {
			sendErr = err
			break
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
			sendErr = fmt.Errorf("sender: %w", err)
			break
		}
	}
	rep.SHA256Sent = hex.EncodeToString(h.Sum(nil))
	if sendErr == nil {
		takeSample()
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			sendErr = cw.CloseWrite()
		}
	}
	var ack [40]byte
	if sendErr == nil {
		conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		_, sendErr = io.ReadFull(conn, ack[:])
	}
	stop()
	wg.Wait()
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
	if evErr != nil {
		return rep, fmt.Errorf("link event: %w", evErr)
	}
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
	for _, s := range samples {
		rep.SampleTimes = append(rep.SampleTimes, s.t.Seconds())
	}
	for i, p := range st.Paths {
		pt := PathTransfer{Path: p.Index}
		if before != nil && after != nil {
			pt.WireBytes = after[i].TxBytes - before[i].TxBytes
		}
		for local, b := range seen {
			if pathOf(st, local.Addr()) == i {
				pt.SubflowBytes += b
				pt.Retransmits += retrans[local]
			}
		}
		for _, s := range samples {
			pt.Timeline = append(pt.Timeline, s.path[i])
		}
		// When did the path carry data again after its last "up"?
		for _, ev := range cfg.Events {
			if ev.Path != p.Index || !ev.Up {
				continue
			}
			pt.ReturnedAfter = -1
			var base uint64
			baseSet := false
			for _, s := range samples {
				if s.t < ev.At {
					continue
				}
				if !baseSet {
					base, baseSet = s.path[i], true
					continue
				}
				if s.path[i] > base+64<<10 {
					pt.ReturnedAfter = s.t - ev.At
					break
				}
			}
		}
		rep.Paths = append(rep.Paths, pt)
	}
	return rep, nil
}

func pathOf(st *State, a netip.Addr) int {
	for i, p := range st.Paths {
		if p.ClientAddr == a.Unmap() {
			return i
		}
	}
	return -1
}

// ErrIncomplete is returned by callers that need a transfer to complete.
var ErrIncomplete = errors.New("transfer incomplete")
