package sockdiag

import (
	"net/netip"
	"time"
)

// Filter selects connections, like ss's sport/dport/src/dst filters. A
// connection matches if its MPTCP socket or any of its subflows does. Zero
// fields match everything.
type Filter struct {
	Port       uint16       // local or remote port
	LocalPort  uint16       // sport
	RemotePort uint16       // dport
	Addr       netip.Prefix // local or remote address within the prefix
}

// Match reports whether c passes the filter.
func (f Filter) Match(c *Connection) bool {
	if f.matchSock(c.Socket) {
		return true
	}
	for _, s := range c.Subflows {
		if f.matchSock(s.Socket) {
			return true
		}
	}
	return false
}

func (f Filter) matchSock(s Socket) bool {
	if f.Port != 0 && s.Local.Port() != f.Port && s.Remote.Port() != f.Port {
		return false
	}
	if f.LocalPort != 0 && s.Local.Port() != f.LocalPort {
		return false
	}
	if f.RemotePort != 0 && s.Remote.Port() != f.RemotePort {
		return false
	}
	if f.Addr.IsValid() && !f.Addr.Contains(s.Local.Addr()) && !f.Addr.Contains(s.Remote.Addr()) {
		return false
	}
	return true
}

// Apply returns the connections that match.
func (f Filter) Apply(conns []Connection) []Connection {
	var out []Connection
	for i := range conns {
		if f.Match(&conns[i]) {
			out = append(out, conns[i])
		}
	}
	return out
}

// SubflowKey identifies a subflow across two dumps.
type SubflowKey struct {
	Local, Remote netip.AddrPort
	Cookie        uint64
}

// Key returns the subflow's key.
func (s *TCPSocket) Key() SubflowKey {
	return SubflowKey{s.Local, s.Remote, s.Cookie}
}

// Rate is a subflow's throughput between two snapshots, in bytes/s.
type Rate struct {
	Sent, Received float64
}

// ByteCounts remembers the byte counters of every subflow at a moment, to
// compute per-subflow throughput at the next one.
type ByteCounts struct {
	At    time.Time
	bytes map[SubflowKey][2]uint64
}

// NewByteCounts records the counters of conns taken at time at.
func NewByteCounts(conns []Connection, at time.Time) *ByteCounts {
	s := &ByteCounts{At: at, bytes: map[SubflowKey][2]uint64{}}
	for _, c := range conns {
		for i := range c.Subflows {
			sf := &c.Subflows[i]
			if sf.TCP != nil {
				s.bytes[sf.Key()] = [2]uint64{sf.TCP.BytesSent, sf.TCP.BytesReceived}
			}
		}
	}
	return s
}

// Rates returns the throughput of each subflow of next since prev
// (counters that went down or subflows new in next are left out).
func Rates(prev, next *ByteCounts) map[SubflowKey]Rate {
	out := map[SubflowKey]Rate{}
	if prev == nil || next == nil {
		return out
	}
	dt := next.At.Sub(prev.At).Seconds()
	if dt <= 0 {
		return out
	}
	for k, b := range next.bytes {
		a, ok := prev.bytes[k]
		if !ok || b[0] < a[0] || b[1] < a[1] {
			continue
		}
		out[k] = Rate{Sent: float64(b[0]-a[0]) / dt, Received: float64(b[1]-a[1]) / dt}
	}
	return out
}

// OwnerFilter selects sockets by the process holding them (zero fields
// match everything).
type OwnerFilter struct {
	PID  int
	Comm string
}

// Active reports whether the filter selects anything.
func (f OwnerFilter) Active() bool { return f.PID != 0 || f.Comm != "" }

// Match reports whether one of procs passes the filter.
func (f OwnerFilter) Match(procs []Process) bool {
	if !f.Active() {
		return true
	}
	for _, p := range procs {
		if (f.PID == 0 || p.PID == f.PID) && (f.Comm == "" || p.Comm == f.Comm) {
			return true
		}
	}
	return false
}

// MatchSocket reports whether a single socket passes the address and port
// filters.
func (f Filter) MatchSocket(s Socket) bool { return f.matchSock(s) }
