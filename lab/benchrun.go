package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/mptcpkit/mptcpkit/bench"
	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/netns"
)

// BenchPort is where the lab's bench server listens in the server namespace.
const BenchPort = bench.DefaultPort

// Bencher runs bench between a lab's client and server namespaces: the
// server on the server's path-1 address, the client dialing from inside
// the client namespace.
type Bencher struct {
	st     *Testbed
	client *netns.NetNS
	cancel context.CancelFunc
	done   chan error
	ln     net.Listener
}

// StartBench starts a bench server inside st's server namespace.
func StartBench(ctx context.Context, st *Testbed, log *slog.Logger) (*Bencher, error) {
	server, client, err := st.openNetNS()
	if err != nil {
		return nil, err
	}
	defer server.Close()
	addr := net.JoinHostPort(st.Paths[0].ServerAddr.String(), strconv.Itoa(BenchPort))
	ln, err := mptcp.ListenWith(ctx, "tcp", addr, mptcp.ListenOptions{NetNS: server})
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("bench server on %s in %s: %w", addr, st.Server, err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	b := &Bencher{st: st, client: client, cancel: cancel, done: make(chan error, 1), ln: ln}
	srv := &bench.Server{Logger: log}
	go func() { b.done <- srv.Serve(sctx, ln) }()
	return b, nil
}

// Close stops the server.
func (b *Bencher) Close() error {
	b.cancel()
	b.ln.Close()
	err := <-b.done
	b.client.Close()
	if errors.Is(err, context.Canceled) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Measurement is one bench run over a lab, with what each path carried.
type Measurement struct {
	Mode   string        `json:"mode"`
	Mbps   float64       `json:"-"` // goodput at the receiver, Mbit/s; JSON: goodput_bps
	Result *bench.Result `json:"result"`
	Paths  []PathBytes   `json:"paths"`
}

// PathBytes is what one path carried during a run.
type PathBytes struct {
	Path int `json:"path"`
	// WireBytes is what the client-side interface sent (headers included).
	WireBytes uint64 `json:"wire_bytes"`
	// SubflowBytes is what bench says the subflows on this path carried
	// (acknowledged payload), Retransmits their retransmissions.
	SubflowBytes uint64 `json:"subflow_bytes"`
	Retransmits  uint32 `json:"retransmits"`
	Subflows     int    `json:"subflows"`
}

// Run runs one bench transfer client -> server.
func (b *Bencher) Run(ctx context.Context, mode bench.Mode, d time.Duration, progress func(bench.Interval)) (*Measurement, error) {
	before, err := Counters(b.st)
	if err != nil {
		return nil, err
	}
	cfg := bench.Config{
		Addr:     net.JoinHostPort(b.st.Paths[0].ServerAddr.String(), strconv.Itoa(BenchPort)),
		Mode:     mode,
		Duration: d,
		Streams:  1,
		Interval: time.Second,
		Dialer:   bench.NetNSDialer(b.client),
	}
	if progress == nil {
		cfg.Interval = -1
	}
	r, err := bench.Run(ctx, cfg, progress)
	if err != nil {
		return nil, err
	}
	after, err := Counters(b.st)
	if err != nil {
		return nil, err
	}
	m := &Measurement{Mode: mode.String(), Mbps: r.BitsPerSecond / 1e6, Result: r}
	for i, p := range b.st.Paths {
		pb := PathBytes{Path: p.Index, WireBytes: after[i].TxBytes - before[i].TxBytes}
		for _, s := range r.Streams {
			for _, sf := range s.Subflows {
				if sf.Local.Addr().Unmap() != p.ClientAddr {
					continue
				}
				pb.SubflowBytes += sf.BytesAcked
				pb.Retransmits += sf.TotalRetrans
				pb.Subflows++
			}
		}
		m.Paths = append(m.Paths, pb)
	}
	return m, nil
}
