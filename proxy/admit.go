package proxy

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults for the handshake limits of a Server.
const (
	// DefaultMaxHandshakes is how many connections may be in their
	// handshake (not yet authenticated) at once; never more than MaxConns.
	DefaultMaxHandshakes = 256
	// DefaultMaxHandshakesPerSource is how many of those may come from one
	// source address (an IPv6 /64 counts as one address).
	DefaultMaxHandshakesPerSource = 32
)

// gate admits accepted connections. A connection that must first
// authenticate (Server) holds a handshake slot — out of a smaller pool, and
// at most perSource per source address — and swaps it for a connection slot
// once authenticated, so clients that never finish their handshake cannot
// take the slots of those that do. Without a handshake pool (Client,
// Converter) a connection takes its connection slot at once.
type gate struct {
	conns     chan struct{}
	hs        chan struct{} // nil: no handshake stage
	perSource int
	mu        sync.Mutex
	bySource  map[netip.Addr]int
}

func newGate(maxConns, maxHandshakes, perSource int) *gate {
	g := &gate{conns: make(chan struct{}, maxConns)}
	if maxHandshakes > 0 {
		g.hs = make(chan struct{}, maxHandshakes)
		g.perSource = perSource
		g.bySource = map[netip.Addr]int{}
	}
	return g
}

// source is the key of the per-source limit: the address, or its /64 for
// IPv6 (one host usually owns a whole /64).
func source(a net.Addr) netip.Addr {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip := ta.AddrPort().Addr().Unmap()
	if ip.Is6() {
		ip = netip.PrefixFrom(ip, 64).Masked().Addr()
	}
	return ip
}

// ticket is one admitted connection's slot; release it when done.
type ticket struct {
	g      *gate
	src    netip.Addr
	inHS   bool
	inConn bool
}

// admit takes a slot for a connection from src, or says why not.
func (g *gate) admit(src netip.Addr) (*ticket, string) {
	if g.hs == nil {
		select {
		case g.conns <- struct{}{}:
			return &ticket{g: g, inConn: true}, ""
		default:
			return nil, "connection limit reached"
		}
	}
	if len(g.conns) == cap(g.conns) {
		return nil, "connection limit reached"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.bySource[src] >= g.perSource {
		return nil, "too many handshakes in progress from this address"
	}
	select {
	case g.hs <- struct{}{}:
	default:
		return nil, "too many handshakes in progress"
	}
	g.bySource[src]++
	return &ticket{g: g, src: src, inHS: true}, ""
}

// established swaps the handshake slot for a connection slot; false means
// the connection limit is reached (the ticket then holds nothing).
func (t *ticket) established() bool {
	if t.inConn {
		return true
	}
	t.releaseHS()
	select {
	case t.g.conns <- struct{}{}:
		t.inConn = true
		return true
	default:
		return false
	}
}

func (t *ticket) releaseHS() {
	if !t.inHS {
		return
	}
	t.inHS = false
	<-t.g.hs
	t.g.mu.Lock()
	if t.g.bySource[t.src]--; t.g.bySource[t.src] <= 0 {
		delete(t.g.bySource, t.src)
	}
	t.g.mu.Unlock()
}

func (t *ticket) release() {
	t.releaseHS()
	if t.inConn {
		t.inConn = false
		<-t.g.conns
	}
}

// Defaults of the refusal log's rate limit: at most refusalBurst lines per
// refusalWindow; the rest are counted and reported in one line.
const (
	refusalBurst  = 20
	refusalWindow = 5 * time.Second
)

// rateLog writes refusal lines at WARN, at most burst per window; what it
// drops it counts, and it reports the count once the window ends ("refusal
// log lines suppressed", suppressed=N). An attacker must not be able to fill
// the disk or drown the other lines.
type rateLog struct {
	log    *slog.Logger
	burst  int
	window time.Duration

	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
	flush      *time.Timer
}

func newRateLog(log *slog.Logger, burst int, window time.Duration) *rateLog {
	return &rateLog{log: log, burst: burst, window: window}
}

// Warn logs msg with args on log (which may carry more attributes than
// r.log), unless this window's burst is used up.
func (r *rateLog) Warn(log *slog.Logger, msg string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	if now.Sub(r.start) >= r.window {
		r.start, r.n = now, 0
	}
	if r.n < r.burst {
		r.n++
		r.mu.Unlock()
		log.Warn(msg, args...)
		return
	}
	r.suppressed++
	if r.flush == nil {
		r.flush = time.AfterFunc(r.start.Add(r.window).Sub(now), r.report)
	}
	r.mu.Unlock()
}

// report logs how many lines were suppressed since the last report.
func (r *rateLog) report() {
	r.mu.Lock()
	n := r.suppressed
	r.suppressed, r.flush = 0, nil
	r.mu.Unlock()
	if n > 0 {
		r.log.Warn(fmt.Sprintf("refusal log lines suppressed: %d in the last %v", n, r.window),
			"suppressed", n, "limit", fmt.Sprintf("%d per %v", r.burst, r.window))
	}
}

// stop reports what is still counted (at shutdown).
func (r *rateLog) stop() {
	r.mu.Lock()
	if r.flush != nil {
		r.flush.Stop()
	}
	r.mu.Unlock()
	r.report()
}
