//go:build !mptcpkit_slim

package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/units"
	"github.com/mptcpkit/mptcpkit/sockdiag"
)

const connsHelp = `Usage:
  mptcpkit [-n NETNS] [-j] conns [-l] [-p] [--mptcp] [--port P] [--sport P] [--dport P]
                                [--addr A[/LEN]] [--pid PID] [--comm NAME] [--watch [--interval D]]

Answers "does my program use MPTCP?". Lists every MPTCP connection of the
network namespace with its subflows, read from the kernel's socket
diagnostics (inet_diag for IPPROTO_MPTCP sockets, joined by token with the
TCP subflows carrying the "mptcp" ULP info; the latter needs CAP_NET_ADMIN),
then the plain TCP connections, each with the reason it is not MPTCP in
words (the peer did not offer MPTCP, net.mptcp.enabled=0, the program opened
a plain TCP socket, ...); those accepted on the port of an MPTCP listener of
the namespace come first and are marked "should be MPTCP". A fallen-back
MPTCP connection says why it fell back.

Per connection: token, local -> remote address, state, subflows (active and
backup), bytes sent/received at the MPTCP level. Per subflow: address ids,
addresses, TCP state, rtt, cwnd, bytes sent/received, retransmitted segments.

Options:
  -l, --listening  list the listening sockets instead, with their protocol:
                  mptcp (its TCP subflow listener is folded in) or tcp
  -p, --processes  show the owning process (pid, name, fd) like ss -p
  --mptcp         only MPTCP connections (and fallbacks), and plain TCP ones
                  that should have been MPTCP
  --port P        only connections with P as local or remote port (on the
                  connection or any subflow)
  --sport P       local port P;  --dport P   remote port P
  --addr A        only connections with address A (or within prefix A/LEN)
                  at either end of the connection or a subflow
  --pid PID       only sockets held by process PID (implies -p)
  --comm NAME     only sockets held by processes named NAME (implies -p)
  --watch         refresh every second, redrawing the screen, with per-subflow
                  throughput since the last refresh; Ctrl-C stops.
                  With -j, print one JSON document per refresh instead.
  --interval D    refresh interval for --watch (default 1s; needs --watch)
  -j, --json      JSON: an array of connections (see README for the fields)

Examples:
  mptcpkit conns
  mptcpkit conns -l
  mptcpkit conns -p --comm curl
  mptcpkit -n lab:l1:client conns --dport 5201
  mptcpkit conns --addr 10.0.2.0/24 --watch
  mptcpkit -j conns | jq '.[] | {token, protocol, reason}'
`

type connsOpts struct {
	filter    sockdiag.Filter
	owner     sockdiag.OwnerFilter
	listening bool
	procs     bool
	mptcpOnly bool
	watch     bool
	interval  time.Duration
}

func connsCommand() *Command {
	return &Command{Name: "conns", Summary: "list MPTCP connections and their subflows", Help: connsHelp, Run: cmdConns}
}

func cmdConns(e *env, args []string) error {
	const cmd = "conns"
	fs := newFlags(e, cmd, connsHelp)
	var o connsOpts
	var port, sport, dport, addr string
	fs.StringVar(&port, "port", "", "")
	fs.StringVar(&sport, "sport", "", "")
	fs.StringVar(&dport, "dport", "", "")
	fs.StringVar(&addr, "addr", "", "")
	fs.BoolVar(&o.listening, "l", false, "")
	fs.BoolVar(&o.listening, "listening", false, "")
	fs.BoolVar(&o.procs, "p", false, "")
	fs.BoolVar(&o.procs, "processes", false, "")
	fs.BoolVar(&o.mptcpOnly, "mptcp", false, "")
	fs.IntVar(&o.owner.PID, "pid", 0, "")
	fs.StringVar(&o.owner.Comm, "comm", "", "")
	fs.BoolVar(&o.watch, "watch", false, "")
	fs.BoolVar(&o.watch, "w", false, "")
	fs.DurationVar(&o.interval, "interval", time.Second, "")
	if err := parseFlags(fs, cmd, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(cmd, "conns: unexpected argument %q (filters are options: --port, --sport, --dport, --addr, --pid, --comm)", fs.Arg(0))
	}
	intervalSet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "interval" {
			intervalSet = true
		}
	})
	if intervalSet && !o.watch {
		return usagef(cmd, "conns: --interval only applies with --watch: add --watch, or drop --interval")
	}
	if o.listening && o.watch {
		return usagef(cmd, "conns: --watch does not apply to -l (listeners have no throughput): drop one")
	}
	var err error
	for _, p := range []struct {
		name string
		s    string
		dst  *uint16
	}{{"--port", port, &o.filter.Port}, {"--sport", sport, &o.filter.LocalPort}, {"--dport", dport, &o.filter.RemotePort}} {
		if p.s == "" {
			continue
		}
		n, perr := strconv.ParseUint(p.s, 10, 16)
		if perr != nil || n == 0 {
			return usagef(cmd, "conns: %s %q: want a port number 1-65535", p.name, p.s)
		}
		*p.dst = uint16(n)
	}
	if addr != "" {
		if o.filter.Addr, err = parseAddrFilter(addr); err != nil {
			return usagef(cmd, "conns: --addr %q: want an IP address or a prefix such as 10.0.2.0/24", addr)
		}
	}
	if o.owner.PID < 0 {
		return usagef(cmd, "conns: --pid %d: want a process id", o.owner.PID)
	}
	if o.interval <= 0 {
		return usagef(cmd, "conns: --interval %v: want a positive duration such as 1s or 500ms", o.interval)
	}
	if o.owner.Active() {
		o.procs = true
	}

	var cfg sockdiag.Config
	ns, err := e.openNetNS()
	if err != nil {
		return err
	}
	inNS := func(fn func() error) error { return fn() }
	if ns != nil {
		defer ns.Close()
		cfg.NetNS = ns.FD()
		inNS = ns.Do
	}
	c, err := sockdiag.Dial(&cfg)
	if err != nil {
		return err
	}
	defer c.Close()

	read := func() (*connsView, error) {
		var enabled bool
		var counters []sockdiag.Counter
		if err := inNS(func() (err error) {
			if enabled, err = sockdiag.MPTCPEnabled(); err != nil {
				return err
			}
			counters, _ = sockdiag.FallbackCounters() // a hint only
			return nil
		}); err != nil {
			return nil, err
		}
		ov, err := c.Overview(enabled)
		if errors.Is(err, sockdiag.ErrNoULPInfo) {
			e.log.Warn("subflows not shown", "err", err)
			err = nil
		}
		if err != nil {
			return nil, err
		}
		var owners map[uint32][]sockdiag.Process
		if o.procs {
			if owners, err = sockdiag.Owners(); err != nil {
				return nil, fmt.Errorf("conns: read processes from /proc: %w", err)
			}
		}
		v := o.select_(ov, owners)
		v.counters = counters
		v.fix = e.nsFixes
		return v, nil
	}
	if !o.watch {
		v, err := read()
		if err != nil {
			return err
		}
		if o.listening {
			if e.json {
				return connsWriteJSON(e.stdout, v.listenersJSON())
			}
			return writeListeners(e.stdout, v)
		}
		if e.json {
			return connsWriteJSON(e.stdout, v.json(nil, false))
		}
		return writeConns(e.stdout, v, nil)
	}

	var prev *sockdiag.ByteCounts
	t := time.NewTicker(o.interval)
	defer t.Stop()
	for {
		v, err := read()
		if err != nil {
			return err
		}
		now := time.Now()
		snap := sockdiag.NewByteCounts(v.snapConns(), now)
		rates := sockdiag.Rates(prev, snap)
		prev = snap
		if e.json {
			if err := json.NewEncoder(e.stdout).Encode(map[string]any{"time": now.UTC(), "connections": v.json(rates, true)}); err != nil {
				return err
			}
		} else {
			fmt.Fprint(e.stdout, "\x1b[H\x1b[2J")
			fmt.Fprintf(e.stdout, "mptcpkit conns — %s, every %v (Ctrl-C to stop)\n\n", now.Format("15:04:05"), o.interval)
			if err := writeConns(e.stdout, v, rates); err != nil {
				return err
			}
		}
		select {
		case <-e.ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// connsView is what conns prints: the selected connections and listeners
// with their owners (nil without -p).
type connsView struct {
	conns     []sockdiag.Connection
	plain     []sockdiag.PlainConn
	listeners []sockdiag.Listener
	owners    map[uint32][]sockdiag.Process
	// counters are the namespace's non-zero MPTcpExt fallback counters,
	// printed under a fallback in text.
	counters []sockdiag.Counter
	// fix rewrites the fixes in reasons for -n NETNS (nil: as is).
	fix func(string) string
}

// select_ applies the filters.
func (o *connsOpts) select_(ov *sockdiag.Overview, owners map[uint32][]sockdiag.Process) *connsView {
	v := &connsView{owners: owners}
	for _, c := range o.filter.Apply(ov.Connections) {
		if o.owner.Match(owners[c.Inode]) {
			v.conns = append(v.conns, c)
		}
	}
	for _, p := range ov.Plain {
		if (!o.mptcpOnly || p.ToMPTCPListener) && o.filter.MatchSocket(p.Socket) && o.owner.Match(owners[p.Inode]) {
			v.plain = append(v.plain, p)
		}
	}
	for _, l := range ov.Listeners {
		if o.filter.MatchSocket(l.Socket) && o.owner.Match(owners[l.Inode]) {
			v.listeners = append(v.listeners, l)
		}
	}
	return v
}

// snapConns presents the plain TCP connections as one-subflow connections
// so that --watch computes their throughput too.
func (v *connsView) snapConns() []sockdiag.Connection {
	out := append([]sockdiag.Connection{}, v.conns...)
	for _, p := range v.plain {
		out = append(out, sockdiag.Connection{Subflows: []sockdiag.TCPSocket{p.TCPSocket}})
	}
	return out
}

func parseAddrFilter(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// connJSON is the -j shape of one connection: an MPTCP connection
// (protocol "mptcp", fallback true if it fell back, with the reason) or a
// plain TCP connection that is not MPTCP (protocol "tcp", with the reason;
// its one path is listed as its only subflow).
type connJSON struct {
	Protocol        string             `json:"protocol"`
	Token           string             `json:"token"` // 8 hex digits; "" for plain TCP
	Local           netip.AddrPort     `json:"local"`
	Remote          netip.AddrPort     `json:"remote"`
	State           string             `json:"state"`
	Fallback        bool               `json:"fallback"`
	Reason          string             `json:"reason"` // why not MPTCP; "" for MPTCP
	ToMPTCPListener bool               `json:"to_mptcp_listener"`
	SubflowCount    int                `json:"subflow_count"`
	SubflowsActive  int                `json:"subflows_active"`
	SubflowsBackup  int                `json:"subflows_backup"`
	BytesSent       uint64             `json:"bytes_sent"`
	BytesReceived   uint64             `json:"bytes_received"`
	BytesAcked      uint64             `json:"bytes_acked"`
	BytesRetrans    uint64             `json:"bytes_retrans"`
	Inode           uint32             `json:"inode"`
	Processes       []sockdiag.Process `json:"processes"`
	Subflows        []subflowJSON      `json:"subflows"`
}

type subflowJSON struct {
	LocalID         uint8          `json:"local_id"`
	RemoteID        uint8          `json:"remote_id"`
	Local           netip.AddrPort `json:"local"`
	Remote          netip.AddrPort `json:"remote"`
	State           string         `json:"state"`
	Backup          bool           `json:"backup"`
	Flags           []string       `json:"flags"`
	RTTMicros       int64          `json:"rtt_us"`
	RTTVarMicros    int64          `json:"rttvar_us"`
	Cwnd            uint32         `json:"cwnd"`
	MSS             uint32         `json:"mss"`
	BytesSent       uint64         `json:"bytes_sent"`
	BytesAcked      uint64         `json:"bytes_acked"`
	BytesReceived   uint64         `json:"bytes_received"`
	TotalRetrans    uint32         `json:"retrans"`
	DeliveryRateBPS uint64         `json:"delivery_rate_bps"` // bits/s
	Congestion      string         `json:"congestion"`
	// --watch only (0 on the first frame): throughput since the last
	// refresh in bits per second.
	SendBPS *float64 `json:"send_bps,omitempty"`
	RecvBPS *float64 `json:"recv_bps,omitempty"`
}

// listenerJSON is the -j shape of conns -l.
type listenerJSON struct {
	Protocol  string             `json:"protocol"`
	Local     netip.AddrPort     `json:"local"`
	Inode     uint32             `json:"inode"`
	Processes []sockdiag.Process `json:"processes"`
}

func subflowFlags(f uint32) []string {
	names := []string{"mcap_rem", "mcap_loc", "join_rem", "join_loc", "backup_rem", "backup_loc", "fully_established", "connected", "map_valid"}
	out := []string{}
	for i, n := range names {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func (v *connsView) fixReason(r sockdiag.Reason) string {
	if v.fix == nil {
		return string(r)
	}
	return v.fix(string(r))
}

func (v *connsView) procs(inode uint32) []sockdiag.Process {
	if p := v.owners[inode]; p != nil {
		return p
	}
	return []sockdiag.Process{}
}

func subflowOf(s *sockdiag.TCPSocket, rates map[sockdiag.SubflowKey]sockdiag.Rate, watch bool) subflowJSON {
	sj := subflowJSON{Local: s.Local, Remote: s.Remote, State: s.State.String(), Congestion: s.Congestion, Flags: []string{}}
	if s.MPTCP != nil {
		sj.LocalID, sj.RemoteID, sj.Backup = s.MPTCP.LocalID, s.MPTCP.RemoteID, s.MPTCP.Backup()
		sj.Flags = subflowFlags(s.MPTCP.Flags)
	}
	if t := s.TCP; t != nil {
		sj.RTTMicros, sj.RTTVarMicros = t.RTT.Microseconds(), t.RTTVar.Microseconds()
		sj.Cwnd, sj.MSS = t.SndCwnd, t.SndMSS
		sj.BytesSent, sj.BytesAcked, sj.BytesReceived = t.BytesSent, t.BytesAcked, t.BytesReceived
		sj.TotalRetrans, sj.DeliveryRateBPS = t.TotalRetrans, t.DeliveryRate*8
	}
	if watch {
		r := rates[s.Key()]
		tx, rx := r.Sent*8, r.Received*8
		sj.SendBPS, sj.RecvBPS = &tx, &rx
	}
	return sj
}

// json builds the -j document. watch adds the rate keys (0 on the first
// frame, so that every frame has the same keys).
func (v *connsView) json(rates map[sockdiag.SubflowKey]sockdiag.Rate, watch bool) []connJSON {
	out := make([]connJSON, 0, len(v.conns)+len(v.plain))
	for _, c := range v.conns {
		j := connJSON{
			Protocol: "mptcp", Token: fmt.Sprintf("%08x", c.Token()), Local: c.Local, Remote: c.Remote,
			State: c.State.String(), Fallback: c.Fallback(), Reason: v.fixReason(sockdiag.FallbackReason(&c)), Inode: c.Inode,
			SubflowCount: len(c.Subflows), Subflows: []subflowJSON{}, Processes: v.procs(c.Inode),
		}
		if c.Info != nil {
			j.BytesSent, j.BytesReceived, j.BytesAcked, j.BytesRetrans = c.Info.BytesSent, c.Info.BytesReceived, c.Info.BytesAcked, c.Info.BytesRetrans
		}
		for i := range c.Subflows {
			sj := subflowOf(&c.Subflows[i], rates, watch)
			if sj.Backup {
				j.SubflowsBackup++
			} else {
				j.SubflowsActive++
			}
			j.Subflows = append(j.Subflows, sj)
		}
		out = append(out, j)
	}
	for _, p := range v.plain {
		sj := subflowOf(&p.TCPSocket, rates, watch)
		out = append(out, connJSON{
			Protocol: "tcp", Local: p.Local, Remote: p.Remote, State: p.State.String(), Fallback: true,
			Reason: v.fixReason(p.Reason), ToMPTCPListener: p.ToMPTCPListener, SubflowCount: 1, SubflowsActive: 1,
			BytesSent: sj.BytesSent, BytesReceived: sj.BytesReceived, BytesAcked: sj.BytesAcked,
			Inode: p.Inode, Processes: v.procs(p.Inode), Subflows: []subflowJSON{sj},
		})
	}
	return out
}

func (v *connsView) listenersJSON() []listenerJSON {
	out := make([]listenerJSON, 0, len(v.listeners))
	for _, l := range v.listeners {
		out = append(out, listenerJSON{Protocol: string(l.Protocol), Local: l.Local, Inode: l.Inode, Processes: v.procs(l.Inode)})
	}
	return out
}

func connsWriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// usersText renders owners like ss -p: users:(("curl",pid=12,fd=5)).
func usersText(ps []sockdiag.Process) string {
	if len(ps) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("  users:(")
	for i, p := range ps {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "(%q,pid=%d,fd=%d)", p.Comm, p.PID, p.FD)
	}
	b.WriteString(")")
	return b.String()
}

// writeListeners prints conns -l.
func writeListeners(w io.Writer, v *connsView) error {
	if len(v.listeners) == 0 {
		_, err := fmt.Fprintln(w, "no listening sockets")
		return err
	}
	protos := map[uint16]map[sockdiag.Protocol]bool{}
	for _, l := range v.listeners {
		if protos[l.Local.Port()] == nil {
			protos[l.Local.Port()] = map[sockdiag.Protocol]bool{}
		}
		protos[l.Local.Port()][l.Protocol] = true
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "proto\tlocal\tnote")
	for _, l := range v.listeners {
		note := ""
		if p := protos[l.Local.Port()]; p[sockdiag.MPTCP] && p[sockdiag.TCP] {
			note = "port has both MPTCP and TCP listeners"
		} else if l.Protocol == sockdiag.TCP {
			note = "plain TCP: clients get no MPTCP here"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s%s\n", l.Protocol, l.Local, note, usersText(v.owners[l.Inode]))
	}
	return tw.Flush()
}

// writeConns prints the text view. rates is nil outside --watch.
func writeConns(w io.Writer, v *connsView, rates map[sockdiag.SubflowKey]sockdiag.Rate) error {
	if len(v.conns) == 0 && len(v.plain) == 0 {
		_, err := fmt.Fprintln(w, "no MPTCP connections and no TCP connections")
		return err
	}
	watch := rates != nil
	js := v.json(rates, watch)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, c := range js {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		rate := ""
		if watch {
			var tx, rx float64
			for _, s := range c.Subflows {
				tx, rx = tx+*s.SendBPS, rx+*s.RecvBPS
			}
			rate = fmt.Sprintf("  tx %s  rx %s", units.Bits(tx), units.Bits(rx))
		}
		if c.Protocol == "tcp" {
			should := ""
			if c.ToMPTCPListener {
				should = "  should be MPTCP"
			}
			fmt.Fprintf(tw, "TCP, not MPTCP%s  %s -> %s  %s  sent %s  received %s%s%s\n  why: %s\n",
				should, c.Local, c.Remote, c.State, units.Bytes(float64(c.BytesSent)), units.Bytes(float64(c.BytesReceived)),
				rate, usersText(c.Processes), c.Reason)
			continue
		}
		mode := "mptcp"
		if c.Fallback {
			mode = "FALLBACK to TCP"
		}
		sub := fmt.Sprintf("subflows %d (%d active, %d backup)", c.SubflowCount, c.SubflowsActive, c.SubflowsBackup)
		if c.SubflowCount == 0 {
			sub = "subflows unknown (the kernel shows them to CAP_NET_ADMIN only)"
		}
		fmt.Fprintf(tw, "token %s  %s -> %s  %s  %s  %s  sent %s  received %s%s%s\n",
			c.Token, c.Local, c.Remote, c.State, mode, sub,
			units.Bytes(float64(c.BytesSent)), units.Bytes(float64(c.BytesReceived)), rate, usersText(c.Processes))
		if c.Reason != "" {
			fmt.Fprintf(tw, "  why: %s\n", c.Reason)
		}
		if len(c.Subflows) == 0 {
			continue
		}
		hdr := "  \tid l/r\tlocal\tremote\tstate\trtt\tcwnd\tsent\trecv\tretrans"
		if watch {
			hdr += "\ttx\trx"
		}
		fmt.Fprintln(tw, hdr)
		for _, s := range c.Subflows {
			id := fmt.Sprintf("%d/%d", s.LocalID, s.RemoteID)
			if s.Backup {
				id += " backup"
			}
			line := fmt.Sprintf("  \t%s\t%s\t%s\t%s\t%.2fms\t%d\t%s\t%s\t%d",
				id, s.Local, s.Remote, s.State, float64(s.RTTMicros)/1000, s.Cwnd,
				units.Bytes(float64(s.BytesSent)), units.Bytes(float64(s.BytesReceived)), s.TotalRetrans)
			if watch {
				line += fmt.Sprintf("\t%s\t%s", units.Bits(*s.SendBPS), units.Bits(*s.RecvBPS))
			}
			fmt.Fprintln(tw, line)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeCounters(w, v, js)
}

// writeCounters prints the namespace's fallback counters when a shown
// connection fell back or should have been MPTCP: they tell which kind of
// fallback happens here (e.g. SYN-ACKs without MP_CAPABLE).
func writeCounters(w io.Writer, v *connsView, js []connJSON) error {
	relevant := false
	for _, c := range js {
		if (c.Protocol == "mptcp" && c.Fallback) || c.ToMPTCPListener {
			relevant = true
		}
	}
	if !relevant || len(v.counters) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nMPTCP fallback counters of this namespace (MPTcpExt in /proc/net/netstat, since it was created):")
	for _, c := range v.counters {
		what := ""
		if c.What != "" {
			what = "  " + c.What
		}
		if _, err := fmt.Fprintf(w, "  %s %d%s\n", c.Name, c.Value, what); err != nil {
			return err
		}
	}
	return nil
}
