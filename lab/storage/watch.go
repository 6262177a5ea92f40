package storage

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/mptcpkit/mptcpkit/lab"
	"github.com/mptcpkit/mptcpkit/netns"
	"github.com/mptcpkit/mptcpkit/sockdiag"
)

// Conns is what socket diagnostics in the client namespace saw of the NBD
// connections during one run.
type Conns struct {
	// TCP counts plain TCP connections to the server's NBD port (no
	// MPTCP ULP), MPTCP the MPTCP connections; only those that carried
	// at least 64 KiB (not the NBD handshakes of fio's size probe).
	TCP   int `json:"tcp_connections"`
	MPTCP int `json:"mptcp_connections"`
	// Subflows is the smallest number of subflows any MPTCP connection
	// reached (so 2 means every connection had 2); 0 without MPTCP.
	Subflows int `json:"subflows_per_connection"`
	// Fallback is set if any MPTCP connection fell back to TCP.
	Fallback bool `json:"fallback"`
	// PathPayload is the payload the connections' subflows (or TCP
	// sockets) on each path carried, both directions (tcp_info
	// bytes_received + bytes_acked, last seen before the socket closed).
	PathPayload []uint64 `json:"path_payload_bytes"`
	// Samples is how many socket dumps were taken.
	Samples int `json:"samples"`
}

type sockKey struct{ local, remote netip.AddrPort }

type connSeen struct {
	subflows int
	fallback bool
	keys     map[sockKey]bool
}

// minData is what a connection must carry to count: the NBD handshake and
// fio's size probe move a few hundred bytes.
const minData = 64 << 10

// watcher samples socket diagnostics in a namespace until stopped.
type watcher struct {
	st     *lab.Testbed
	port   uint16
	cancel context.CancelFunc
	done   chan error

	mu      sync.Mutex
	samples int
	base    map[sockKey]uint64   // payload of sockets there before the run
	conns   map[uint32]*connSeen // MPTCP, by token
	tcp     map[sockKey]bool     // plain TCP sockets
	bytes   map[sockKey]uint64   // payload per socket (subflow or TCP)
}

func startWatch(st *lab.Testbed, port uint16, every time.Duration) (*watcher, error) {
	ns, err := netns.Open(st.Client)
	if err != nil {
		return nil, err
	}
	c, err := sockdiag.Dial(&sockdiag.Config{NetNS: ns.FD()})
	ns.Close()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{st: st, port: port, cancel: cancel, done: make(chan error, 1),
		base:  map[sockKey]uint64{},
		conns: map[uint32]*connSeen{}, tcp: map[sockKey]bool{}, bytes: map[sockKey]uint64{}}
	// The first dump, before the run starts, records the sockets already
	// there (the kernel client's, which live across rows, or an earlier
	// run's, still closing): only what they carry from now on counts.
	if err := w.sample(c, true); err != nil {
		c.Close()
		cancel()
		return nil, err
	}
	go func() {
		defer c.Close()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				w.done <- nil
				return
			case <-t.C:
			}
			if err := w.sample(c, false); err != nil {
				w.done <- err
				return
			}
		}
	}()
	return w, nil
}

func (w *watcher) sample(c *sockdiag.Client, baseline bool) error {
	msks, err := c.MPTCPSockets()
	if err != nil {
		return err
	}
	tcps, err := c.TCPSockets()
	if err != nil {
		return err
	}
	conns, err := sockdiag.Join(msks, tcps)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if baseline {
		for _, s := range tcps {
			if s.TCP != nil {
				w.base[sockKey{s.Local, s.Remote}] = s.TCP.BytesReceived + s.TCP.BytesAcked
			}
		}
		return nil
	}
	w.samples++
	for _, cn := range conns {
		if cn.Remote.Port() != w.port || cn.Info == nil {
			continue
		}
		seen := w.conns[cn.Token()]
		if seen == nil {
			seen = &connSeen{keys: map[sockKey]bool{}}
			w.conns[cn.Token()] = seen
		}
		seen.subflows = max(seen.subflows, cn.Info.TotalSubflows(), len(cn.Subflows))
		seen.fallback = seen.fallback || cn.Fallback()
		for _, sf := range cn.Subflows {
			seen.keys[sockKey{sf.Local, sf.Remote}] = true
		}
	}
	for _, s := range tcps {
		k := sockKey{s.Local, s.Remote}
		if s.Remote.Port() != w.port || s.TCP == nil {
			continue
		}
		if s.ULP != "mptcp" && s.MPTCP == nil {
			w.tcp[k] = true
		}
		if b := s.TCP.BytesReceived + s.TCP.BytesAcked; b >= w.base[k] {
			w.bytes[k] = max(w.bytes[k], b-w.base[k])
		}
	}
	return nil
}

// stop ends the sampling and returns what was seen: connections that
// carried less than minData (handshakes, probes) are not counted.
func (w *watcher) stop() (Conns, error) {
	w.cancel()
	err := <-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	out := Conns{Samples: w.samples, PathPayload: make([]uint64, len(w.st.Paths))}
	for k := range w.tcp {
		if w.bytes[k] >= minData {
			out.TCP++
		}
	}
	for _, c := range w.conns {
		var b uint64
		for k := range c.keys {
			b += w.bytes[k]
		}
		if b < minData {
			continue
		}
		out.MPTCP++
		if out.Subflows == 0 || c.subflows < out.Subflows {
			out.Subflows = c.subflows
		}
		out.Fallback = out.Fallback || c.fallback
	}
	for k, b := range w.bytes {
		for i, p := range w.st.Paths {
			if k.local.Addr() == p.ClientAddr {
				out.PathPayload[i] += b
			}
		}
	}
	return out, err
}

// carrying returns how many MPTCP connections have carried data so far.
func (w *watcher) carrying() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.conns {
		for k := range c.keys {
			if w.bytes[k] > 0 {
				n++
				break
			}
		}
	}
	return n
}
