package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mptcpkit/mptcpkit/sockdiag"
)

const connsHelp = `Usage:
  mptcpkit [-n NETNS] [-j] conns [--port P] [--sport P] [--dport P] [--addr A[/LEN]] [--watch [--interval D]]

List every MPTCP connection of the network namespace with its subflows, read
from the kernel's socket diagnostics (inet_diag for IPPROTO_MPTCP sockets,
joined by token with the TCP subflows carrying the "mptcp" ULP info; the
latter needs CAP_NET_ADMIN). Listening sockets are not shown.

Per connection: token, local -> remote address, state, subflows (active and
backup), bytes sent/received at the MPTCP level, and "fallback" if the peer
did not negotiate MPTCP. Per subflow: address ids, addresses, TCP state, rtt,
cwnd, bytes sent/received and retransmitted segments.

Options:
  --port P        only connections with P as local or remote port (on the
                  connection or any subflow)
  --sport P       local port P;  --dport P   remote port P
  --addr A        only connections with address A (or within prefix A/LEN)
                  at either end of the connection or a subflow
  --watch         refresh every second, redrawing the screen, with per-subflow
                  throughput (bytes/s since the last refresh); Ctrl-C stops.
                  With -j, print one JSON document per refresh instead.
  --interval D    refresh interval for --watch (default 1s)
  -j, --json      JSON: an array of connections (see README for the fields)

Examples:
  mptcpkit conns
  mptcpkit -n lab:l1:client conns --dport 5201
  mptcpkit conns --addr 10.0.2.0/24 --watch
  mptcpkit -j conns | jq '.[] | {token, subflows: (.subflows | length)}'
`

type connsOpts struct {
	filter   sockdiag.Filter
	watch    bool
	interval time.Duration
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
	fs.BoolVar(&o.watch, "watch", false, "")
	fs.BoolVar(&o.watch, "w", false, "")
	fs.DurationVar(&o.interval, "interval", time.Second, "")
	if err := parseFlags(fs, cmd, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(cmd, "conns: unexpected argument %q (filters are options: --port, --sport, --dport, --addr)", fs.Arg(0))
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
	if o.interval <= 0 {
		return usagef(cmd, "conns: --interval %v: want a positive duration such as 1s or 500ms", o.interval)
	}

	var cfg sockdiag.Config
	ns, err := e.openNetNS()
	if err != nil {
		return err
	}
	if ns != nil {
		defer ns.Close()
		cfg.NetNS = ns.FD()
	}
	c, err := sockdiag.Dial(&cfg)
	if err != nil {
		return err
	}
	defer c.Close()

	read := func() ([]sockdiag.Connection, error) {
		conns, err := c.Connections()
		if errors.Is(err, sockdiag.ErrNoULPInfo) {
			e.log.Warn("subflows not shown", "err", err)
			err = nil
		}
		if err != nil {
			return nil, err
		}
		return o.filter.Apply(conns), nil
	}
	if !o.watch {
		conns, err := read()
		if err != nil {
			return err
		}
		if e.json {
			return connsWriteJSON(e.stdout, connsJSON(conns, nil))
		}
		return writeConns(e.stdout, conns, nil)
	}

	var prev *sockdiag.Snapshot
	t := time.NewTicker(o.interval)
	defer t.Stop()
	for {
		conns, err := read()
		if err != nil {
			return err
		}
		now := time.Now()
		snap := sockdiag.NewSnapshot(conns, now)
		rates := sockdiag.Rates(prev, snap)
		prev = snap
		if e.json {
			if err := json.NewEncoder(e.stdout).Encode(map[string]any{"time": now.UTC(), "connections": connsJSON(conns, rates)}); err != nil {
				return err
			}
		} else {
			fmt.Fprint(e.stdout, "\x1b[H\x1b[2J")
			fmt.Fprintf(e.stdout, "mptcpkit conns — %s, every %v (Ctrl-C to stop)\n\n", now.Format("15:04:05"), o.interval)
			if err := writeConns(e.stdout, conns, rates); err != nil {
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

// connJSON is the -j shape of one connection.
type connJSON struct {
	Token          string         `json:"token"`
	Local          netip.AddrPort `json:"local"`
	Remote         netip.AddrPort `json:"remote"`
	State          string         `json:"state"`
	Fallback       bool           `json:"fallback"`
	SubflowCount   int            `json:"subflow_count"`
	SubflowsActive int            `json:"subflows_active"`
	SubflowsBackup int            `json:"subflows_backup"`
	BytesSent      uint64         `json:"bytes_sent"`
	BytesReceived  uint64         `json:"bytes_received"`
	BytesAcked     uint64         `json:"bytes_acked"`
	BytesRetrans   uint64         `json:"bytes_retrans"`
	Inode          uint32         `json:"inode"`
	Subflows       []subflowJSON  `json:"subflows"`
}

type subflowJSON struct {
	LocalID       uint8          `json:"local_id"`
	RemoteID      uint8          `json:"remote_id"`
	Local         netip.AddrPort `json:"local"`
	Remote        netip.AddrPort `json:"remote"`
	State         string         `json:"state"`
	Backup        bool           `json:"backup"`
	Flags         []string       `json:"flags"`
	RTTMicros     int64          `json:"rtt_us"`
	RTTVarMicros  int64          `json:"rttvar_us"`
	Cwnd          uint32         `json:"cwnd"`
	MSS           uint32         `json:"mss"`
	BytesSent     uint64         `json:"bytes_sent"`
	BytesAcked    uint64         `json:"bytes_acked"`
	BytesReceived uint64         `json:"bytes_received"`
	TotalRetrans  uint32         `json:"retrans"`
	DeliveryRate  uint64         `json:"delivery_rate"`
	Congestion    string         `json:"congestion,omitempty"`
	SendRate      *float64       `json:"send_rate,omitempty"` // bytes/s, --watch only
	RecvRate      *float64       `json:"recv_rate,omitempty"`
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

func connsJSON(conns []sockdiag.Connection, rates map[sockdiag.SubflowKey]sockdiag.Rate) []connJSON {
	out := make([]connJSON, 0, len(conns))
	for _, c := range conns {
		j := connJSON{
			Token: fmt.Sprintf("%08x", c.Token()), Local: c.Local, Remote: c.Remote,
			State: c.State.String(), Fallback: c.Fallback(), Inode: c.Inode,
			SubflowCount: len(c.Subflows), Subflows: []subflowJSON{},
		}
		if c.Info != nil {
			j.BytesSent, j.BytesReceived, j.BytesAcked, j.BytesRetrans = c.Info.BytesSent, c.Info.BytesReceived, c.Info.BytesAcked, c.Info.BytesRetrans
		}
		for _, s := range c.Subflows {
			sj := subflowJSON{Local: s.Local, Remote: s.Remote, State: s.State.String(), Congestion: s.Congestion, Flags: []string{}}
			if s.MPTCP != nil {
				sj.LocalID, sj.RemoteID, sj.Backup = s.MPTCP.LocalID, s.MPTCP.RemoteID, s.MPTCP.Backup()
				sj.Flags = subflowFlags(s.MPTCP.Flags)
			}
			if t := s.TCP; t != nil {
				sj.RTTMicros, sj.RTTVarMicros = t.RTT.Microseconds(), t.RTTVar.Microseconds()
				sj.Cwnd, sj.MSS = t.SndCwnd, t.SndMSS
				sj.BytesSent, sj.BytesAcked, sj.BytesReceived = t.BytesSent, t.BytesAcked, t.BytesReceived
				sj.TotalRetrans, sj.DeliveryRate = t.TotalRetrans, t.DeliveryRate
			}
			if r, ok := rates[s.Key()]; ok {
				sj.SendRate, sj.RecvRate = &r.Sent, &r.Received
			}
			if sj.Backup {
				j.SubflowsBackup++
			} else {
				j.SubflowsActive++
			}
			j.Subflows = append(j.Subflows, sj)
		}
		out = append(out, j)
	}
	return out
}

func connsWriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeConns prints the text view. rates is nil outside --watch.
func writeConns(w io.Writer, conns []sockdiag.Connection, rates map[sockdiag.SubflowKey]sockdiag.Rate) error {
	if len(conns) == 0 {
		_, err := fmt.Fprintln(w, "no MPTCP connections")
		return err
	}
	js := connsJSON(conns, rates)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, c := range js {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		mode := "mptcp"
		if c.Fallback {
			mode = "FALLBACK to TCP"
		}
		sub := fmt.Sprintf("subflows %d (%d active, %d backup)", c.SubflowCount, c.SubflowsActive, c.SubflowsBackup)
		if c.SubflowCount == 0 {
			sub = "subflows unknown (the kernel shows them to CAP_NET_ADMIN only)"
		}
		rate := ""
		if rates != nil {
			var tx, rx float64
			for _, s := range c.Subflows {
				if s.SendRate != nil {
					tx, rx = tx+*s.SendRate, rx+*s.RecvRate
				}
			}
			rate = fmt.Sprintf("  tx %s/s  rx %s/s", connsBytes(tx), connsBytes(rx))
		}
		fmt.Fprintf(tw, "token %s  %s -> %s  %s  %s  %s  sent %s  received %s%s\n",
			c.Token, c.Local, c.Remote, c.State, mode, sub,
			connsBytes(float64(c.BytesSent)), connsBytes(float64(c.BytesReceived)), rate)
		if len(c.Subflows) == 0 {
			continue
		}
		hdr := "  \tid l/r\tlocal\tremote\tstate\trtt\tcwnd\tsent\trecv\tretrans"
		if rates != nil {
			hdr += "\ttx/s\trx/s"
		}
		fmt.Fprintln(tw, hdr)
		for _, s := range c.Subflows {
			id := fmt.Sprintf("%d/%d", s.LocalID, s.RemoteID)
			if s.Backup {
				id += " backup"
			}
			line := fmt.Sprintf("  \t%s\t%s\t%s\t%s\t%.2fms\t%d\t%s\t%s\t%d",
				id, s.Local, s.Remote, s.State, float64(s.RTTMicros)/1000, s.Cwnd,
				connsBytes(float64(s.BytesSent)), connsBytes(float64(s.BytesReceived)), s.TotalRetrans)
			if rates != nil {
				if s.SendRate != nil {
					line += fmt.Sprintf("\t%s/s\t%s/s", connsBytes(*s.SendRate), connsBytes(*s.RecvRate))
				} else {
					line += "\t-\t-"
				}
			}
			fmt.Fprintln(tw, line)
		}
	}
	return tw.Flush()
}

func connsBytes(v float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f%s", v, units[i])
	}
	return fmt.Sprintf("%.1f%s", v, units[i])
}
