package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/mptcpkit/mptcpkit/mptcp"
)

// DefaultPort is the port `mptcpkit bench server` listens on unless told
// otherwise. It differs from iperf3's 5201 so both can run side by side.
const DefaultPort = 5301

// Mode selects the protocol of the data connections.
type Mode int

const (
	// ModeMPTCP opens the data connections as MPTCP (IPPROTO_MPTCP).
	ModeMPTCP Mode = iota + 1
	// ModeTCP opens them as plain TCP.
	ModeTCP
)

func (m Mode) String() string {
	switch m {
	case ModeMPTCP:
		return "mptcp"
	case ModeTCP:
		return "tcp"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// MarshalText makes a Mode "tcp" or "mptcp" in JSON.
func (m Mode) MarshalText() ([]byte, error) {
	if m != ModeTCP && m != ModeMPTCP {
		return nil, fmt.Errorf("bench: invalid mode %d", int(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText parses "tcp" or "mptcp".
func (m *Mode) UnmarshalText(b []byte) error {
	p, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = p
	return nil
}

// ParseMode parses "tcp" or "mptcp".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "mptcp":
		return ModeMPTCP, nil
	case "tcp":
		return ModeTCP, nil
	}
	return 0, fmt.Errorf("bench: unknown mode %q (want tcp or mptcp)", s)
}

// Limits of a run; the server enforces them too.
const (
	MaxStreams = 128
	MaxRRSize  = 1 << 20
	// MaxDuration bounds one run.
	MaxDuration = 24 * time.Hour
)

// A DialFunc opens a connection. network is "tcp" for the control
// connection and for TCP data connections and "mptcp" for MPTCP data
// connections (Dial understands both).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Config describes one client run.
type Config struct {
	// Addr is the server's host:port.
	Addr string
	// Mode is the protocol of the data connections (default ModeMPTCP).
	Mode Mode
	// Duration of the transfer (default 10 s).
	Duration time.Duration
	// Streams is the number of parallel data connections (default 1).
	Streams int
	// Reverse makes the server send and the client receive.
	Reverse bool
	// Interval between progress reports (default 1 s; negative: none).
	Interval time.Duration
	// RRSize > 0 selects the request/response latency mode: each stream
	// sends RRSize bytes and waits for RRSize bytes back, one transaction
	// outstanding at a time.
	RRSize int
	// CongestionControl, if set, is the congestion control algorithm both
	// ends use on the data connections (TCP_CONGESTION, e.g. "reno" or
	// "bbr"); empty: each namespace's default
	// (net.ipv4.tcp_congestion_control).
	CongestionControl string
	// Dialer opens every connection of the run (nil: Dial, in the caller's
	// namespace). NetNSDialer returns one that dials inside a namespace.
	Dialer DialFunc
	// Logger receives debug messages (nil: none).
	Logger *slog.Logger
}

// Validate reports what is wrong with c, as Run would, without running.
func (c *Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	if cfg.Addr == "" {
		return cfg, errors.New("bench: Config.Addr is empty: give the server's host:port")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return cfg, fmt.Errorf("bench: Config.Addr %q: %v (want host:port)", cfg.Addr, err)
	}
	if cfg.Mode == 0 {
		cfg.Mode = ModeMPTCP
	}
	if cfg.Mode != ModeTCP && cfg.Mode != ModeMPTCP {
		return cfg, fmt.Errorf("bench: invalid Config.Mode %d", int(cfg.Mode))
	}
	if cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Duration < 0 || cfg.Duration > MaxDuration {
		return cfg, fmt.Errorf("bench: duration %v out of range (0, %v]", cfg.Duration, MaxDuration)
	}
	if cfg.Streams == 0 {
		cfg.Streams = 1
	}
	if cfg.Streams < 1 || cfg.Streams > MaxStreams {
		return cfg, fmt.Errorf("bench: %d streams out of range 1..%d", cfg.Streams, MaxStreams)
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.RRSize < 0 || cfg.RRSize > MaxRRSize {
		return cfg, fmt.Errorf("bench: request/response size %d out of range 1..%d", cfg.RRSize, MaxRRSize)
	}
	if cfg.RRSize > 0 && cfg.Reverse {
		return cfg, errors.New("bench: request/response mode has no reverse direction (the client always asks)")
	}
	if err := validCC(cfg.CongestionControl); err != nil {
		return cfg, err
	}
	if cfg.Dialer == nil {
		cfg.Dialer = Dial
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// Result is everything one run measured. It marshals to JSON as is.
type Result struct {
	Server  string `json:"server"`
	Mode    Mode   `json:"mode"`
	Reverse bool   `json:"reverse"`
	// Streams lists each data connection.
	Streams []Stream `json:"streams"`
	// Seconds is the receiver's time from the start to the last byte.
	Seconds float64 `json:"seconds"`
	// Bytes is what the receiver counted (the payload, hellos excluded);
	// SenderBytes what the sender wrote. Run fails if they differ.
	Bytes       int64 `json:"bytes"`
	SenderBytes int64 `json:"sender_bytes"`
	// BitsPerSecond is the goodput: Bytes*8/Seconds.
	BitsPerSecond float64 `json:"bits_per_second"`
	// Fallback is true if any MPTCP data connection fell back to TCP
	// (the peer or a middlebox did not negotiate MPTCP).
	Fallback bool `json:"fallback"`
	// Retransmits at the sender (sum over subflows and streams).
	Retransmits int64 `json:"retransmits"`
	// Subflows is the number of subflows over all streams at the end
	// (1 per stream for TCP).
	Subflows int `json:"subflows"`
	// CongestionControl used by the sending side's data sockets.
	CongestionControl string `json:"congestion_control"`
	// ClientCongestionControl and ServerCongestionControl are both ends'.
	ClientCongestionControl string `json:"client_congestion_control"`
	ServerCongestionControl string `json:"server_congestion_control"`
	// Intervals are the progress reports, as passed to the progress func.
	Intervals []Interval `json:"intervals,omitempty"`
	// Latency is set in request/response mode.
	Latency *Latency `json:"latency,omitempty"`
}

// Stream is one data connection.
type Stream struct {
	ID     int    `json:"id"`
	Local  string `json:"local"`  // client side
	Remote string `json:"remote"` // server side
	// State of the client's socket: "mptcp", "fallback" (asked for MPTCP,
	// got TCP) or "tcp" (asked for TCP). ServerState is the server's view.
	State       string `json:"state"`
	ServerState string `json:"server_state"`
	// Reason says why State is not "mptcp" (the kernel's reason), if known.
	Reason      string `json:"reason,omitempty"`
	Bytes       int64  `json:"bytes"`        // receiver's count
	SenderBytes int64  `json:"sender_bytes"` // sender's count
	Retransmits int64  `json:"retransmits"`  // at the sender
	// Subflows as seen by the sender at the end of the transfer (for TCP
	// and fallback connections: the one TCP connection).
	Subflows Subflows `json:"subflows"`
	// RRSize > 0: transactions completed on this stream.
	Transactions int64 `json:"transactions,omitempty"`
}

// Subflows are what each path of a data connection carried, as the
// sending side's kernel saw it: mptcp.Subflow, with IPv4-mapped addresses
// unmapped. For a TCP (or fallen-back) connection it is the one TCP
// connection, with ID 0. Their JSON (Stream.Subflows and the server's
// report) holds the fields bench measures: id, local, remote, bytes
// (BytesAcked), bytes_sent, bytes_received, retransmits (TotalRetrans),
// backup and rtt_us.
type Subflows []mptcp.Subflow

// Interval is one progress report: what happened between Start and End
// seconds after the transfer began, over all streams.
type Interval struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	// Bytes moved in the interval, as counted by the client (written in
	// forward and request/response mode, read in reverse mode).
	Bytes         int64   `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	// Retransmits in the interval at the sender: the client's sockets, or
	// in reverse mode the server's as it last reported them (its reports
	// may lag by up to one interval). The last interval makes up the
	// difference to the run's total.
	Retransmits int64 `json:"retransmits"`
	// Subflows open at End over all streams.
	Subflows int `json:"subflows"`
	// Transactions completed in the interval (request/response mode).
	Transactions int64 `json:"transactions,omitempty"`
	// Streams has the same figures per stream when there are several.
	Streams []StreamInterval `json:"streams,omitempty"`
	// Paths says what each path (pair of addresses, over all streams)
	// carried in the interval, as the client's kernel counted it: bytes
	// acknowledged when the client sends, received when it receives. The
	// last interval also holds what was acknowledged after the transfer
	// ended (data still queued then), so the paths add up to the final
	// per-subflow figures.
	Paths []PathInterval `json:"paths,omitempty"`
}

// PathInterval is one path's share of an Interval.
type PathInterval struct {
	Local         string  `json:"local"`
	Remote        string  `json:"remote"`
	Bytes         int64   `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
}

// StreamInterval is one stream's share of an Interval.
type StreamInterval struct {
	ID            int     `json:"id"`
	Bytes         int64   `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Retransmits   int64   `json:"retransmits"`
	Subflows      int     `json:"subflows"`
	Transactions  int64   `json:"transactions,omitempty"`
}

// Stream returns stream i's figures as an Interval of their own (for
// FormatInterval).
func (iv Interval) Stream(i int) Interval {
	s := iv.Streams[i]
	return Interval{Start: iv.Start, End: iv.End, Bytes: s.Bytes, BitsPerSecond: s.BitsPerSecond,
		Retransmits: s.Retransmits, Subflows: s.Subflows, Transactions: s.Transactions}
}

// Latency summarises request/response round trips. Percentiles come from a
// log-linear histogram (relative error under 1%) and never exceed Max.
type Latency struct {
	Size         int           `json:"size"`
	Transactions int64         `json:"transactions"`
	Rate         float64       `json:"transactions_per_second"`
	Min          time.Duration `json:"-"`
	Mean         time.Duration `json:"-"`
	P50          time.Duration `json:"-"`
	P90          time.Duration `json:"-"`
	P99          time.Duration `json:"-"`
	Max          time.Duration `json:"-"`
}

// JSON carries durations in microseconds, with the unit in the key, as
// every mptcpkit -j output does.

// subflowJSON is one subflow in bench's JSON.
type subflowJSON struct {
	ID     uint8  `json:"id"`
	Local  string `json:"local"`
	Remote string `json:"remote"`
	// Bytes acknowledged by the peer on this subflow (tcpi_bytes_acked).
	Bytes         uint64 `json:"bytes"`
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
	Retransmits   uint32 `json:"retransmits"`
	Backup        bool   `json:"backup,omitempty"`
	RTTMicros     int64  `json:"rtt_us"`
}

// MarshalJSON writes the fields bench measures, the RTT as rtt_us.
func (s Subflows) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	out := make([]subflowJSON, len(s))
	for i, sf := range s {
		out[i] = subflowJSON{
			ID: sf.ID, Local: addrString(sf.Local), Remote: addrString(sf.Remote),
			Bytes: sf.BytesAcked, BytesSent: sf.BytesSent, BytesReceived: sf.BytesReceived,
			Retransmits: sf.TotalRetrans, Backup: sf.Backup, RTTMicros: sf.RTT.Microseconds(),
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Subflows) UnmarshalJSON(b []byte) error {
	var in []subflowJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if in == nil {
		*s = nil
		return nil
	}
	out := make(Subflows, len(in))
	for i, w := range in {
		local, err := parseAddr(w.Local)
		if err != nil {
			return err
		}
		remote, err := parseAddr(w.Remote)
		if err != nil {
			return err
		}
		out[i] = mptcp.Subflow{
			ID: w.ID, Local: local, Remote: remote,
			BytesAcked: w.Bytes, BytesSent: w.BytesSent, BytesReceived: w.BytesReceived,
			TotalRetrans: w.Retransmits, Backup: w.Backup, RTT: time.Duration(w.RTTMicros) * time.Microsecond,
		}
	}
	*s = out
	return nil
}

// addrString is a as JSON has it: "" for no address.
func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func parseAddr(s string) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, nil
	}
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		return a, fmt.Errorf("bench: subflow address: %w", err)
	}
	return a, nil
}

type latencyJSON Latency

// MarshalJSON writes the durations as min_us, mean_us, p50_us, p90_us,
// p99_us and max_us (fractional microseconds).
func (l Latency) MarshalJSON() ([]byte, error) {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return json.Marshal(struct {
		latencyJSON
		Min  float64 `json:"min_us"`
		Mean float64 `json:"mean_us"`
		P50  float64 `json:"p50_us"`
		P90  float64 `json:"p90_us"`
		P99  float64 `json:"p99_us"`
		Max  float64 `json:"max_us"`
	}{latencyJSON(l), us(l.Min), us(l.Mean), us(l.P50), us(l.P90), us(l.P99), us(l.Max)})
}

// Comparison is a TCP run and an MPTCP run against the same server.
type Comparison struct {
	TCP   *Result `json:"tcp"`
	MPTCP *Result `json:"mptcp"`
	// Ratio is MPTCP goodput / TCP goodput (in request/response mode:
	// MPTCP transactions/s / TCP transactions/s).
	Ratio float64 `json:"ratio"`
}

// Compare runs cfg over TCP, then over MPTCP, and returns both.
func Compare(ctx context.Context, cfg Config, progress func(Mode, Interval)) (*Comparison, error) {
	var cmp Comparison
	for _, m := range []Mode{ModeTCP, ModeMPTCP} {
		c := cfg
		c.Mode = m
		var p func(Interval)
		if progress != nil {
			p = func(iv Interval) { progress(m, iv) }
		}
		r, err := Run(ctx, c, p)
		if err != nil {
			return nil, fmt.Errorf("%v run: %w", m, err)
		}
		if m == ModeTCP {
			cmp.TCP = r
		} else {
			cmp.MPTCP = r
		}
	}
	cmp.Ratio = Ratio(cmp.TCP, cmp.MPTCP)
	return &cmp, nil
}

// Ratio is MPTCP goodput / TCP goodput, or in request/response mode MPTCP
// transactions/s / TCP transactions/s; 0 if TCP measured nothing.
func Ratio(tcp, mptcp *Result) float64 {
	switch {
	case tcp == nil || mptcp == nil:
		return 0
	case tcp.Latency != nil && mptcp.Latency != nil:
		if tcp.Latency.Rate > 0 {
			return mptcp.Latency.Rate / tcp.Latency.Rate
		}
	case tcp.BitsPerSecond > 0:
		return mptcp.BitsPerSecond / tcp.BitsPerSecond
	}
	return 0
}

// validCC checks a congestion control name the way the kernel bounds it
// (TCP_CA_NAME_MAX = 16 including the NUL).
func validCC(name string) error {
	if len(name) > 15 {
		return fmt.Errorf("bench: congestion control name %q is longer than 15 bytes", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("bench: congestion control name %q has a character other than a-z, 0-9, _ and -", name)
		}
	}
	return nil
}
