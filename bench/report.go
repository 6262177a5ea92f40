package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/units"
)

// FormatBytes formats n in IEC units (KiB, MiB, GiB: powers of 1024),
// the one byte-unit family of every mptcpkit text output.
func FormatBytes(n int64) string { return units.Bytes(float64(n)) }

// FormatBits formats a rate like iperf3: 1000-based Kbits/sec, Mbits/sec,
// Gbits/sec.
func FormatBits(bps float64) string { return units.Bits(bps) }

// FormatInterval formats one progress line, iperf3-like:
//
//	[SUM]   0.00-1.00   sec  11.2 MiB  94.1 Mbits/sec  retr 0  subflows 2
func FormatInterval(id string, iv Interval) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%3s] %6.2f-%-6.2f sec  %8s  %14s", id, iv.Start, iv.End, FormatBytes(iv.Bytes), FormatBits(iv.BitsPerSecond))
	if iv.Retransmits >= 0 {
		fmt.Fprintf(&b, "  retr %-4d", iv.Retransmits)
	} else {
		b.WriteString("  retr -   ")
	}
	fmt.Fprintf(&b, "  subflows %d", iv.Subflows)
	if iv.Transactions > 0 {
		d := iv.End - iv.Start
		if d > 0 {
			fmt.Fprintf(&b, "  %.0f trans/sec", float64(iv.Transactions)/d)
		}
	}
	return b.String()
}

// FormatPath formats one path's share of an interval, to go under the
// interval's line:
//
//	path 10.0.1.1 -> 10.0.1.2  5.60 MiB  47.0 Mbits/sec
func FormatPath(p PathInterval) string {
	return fmt.Sprintf("      path %s -> %s  %8s  %14s", p.Local, p.Remote, FormatBytes(p.Bytes), FormatBits(p.BitsPerSecond))
}

// IntervalID is the id FormatInterval shows for a run with n streams.
func IntervalID(streams int) string {
	if streams > 1 {
		return "SUM"
	}
	return "1"
}

func percent(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.1f µs", float64(d)/1e3)
}

// WriteText writes r's summary for people: per stream and per subflow,
// then the totals.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	sender, receiver := "client", "server"
	if r.Reverse {
		sender, receiver = "server", "client"
	}
	fmt.Fprintf(&b, "- - - - - - - - - - - - - - - - - - - - - - - - -\n")
	for _, s := range r.Streams {
		fmt.Fprintf(&b, "[%3d] %s -> %s  %s (server: %s)  %s  sender %d bytes, receiver %d bytes, retr %d\n",
			s.ID+1, s.Local, s.Remote, s.State, s.ServerState, FormatBytes(s.Bytes), s.SenderBytes, s.Bytes, s.Retransmits)
		if s.Reason != "" {
			fmt.Fprintf(&b, "      not MPTCP: %s\n", s.Reason)
		}
		var total uint64
		for _, sf := range s.Subflows {
			total += sf.BytesAcked
		}
		for _, sf := range s.Subflows {
			fmt.Fprintf(&b, "      subflow %s -> %s  %8s  %5.1f%%  retr %-4d rtt %s", sf.Local, sf.Remote,
				FormatBytes(int64(sf.BytesAcked)), percent(sf.BytesAcked, total), sf.TotalRetrans, fmtDur(sf.RTT))
			if sf.Backup {
				b.WriteString("  backup")
			}
			b.WriteString("\n")
		}
	}
	id := IntervalID(len(r.Streams))
	fmt.Fprintf(&b, "[%3s] %6.2f-%-6.2f sec  %8s  %14s  retr %-4d  sender (%s)\n", id, 0.0, r.Seconds,
		FormatBytes(r.SenderBytes), FormatBits(float64(r.SenderBytes)*8/max(r.Seconds, 1e-9)), r.Retransmits, sender)
	fmt.Fprintf(&b, "[%3s] %6.2f-%-6.2f sec  %8s  %14s             receiver (%s)\n", id, 0.0, r.Seconds,
		FormatBytes(r.Bytes), FormatBits(r.BitsPerSecond), receiver)
	if r.Latency != nil {
		l := r.Latency
		fmt.Fprintf(&b, "latency (%d-byte request/response): %d transactions, %.0f trans/sec, p50 %s  p90 %s  p99 %s  max %s\n",
			l.Size, l.Transactions, l.Rate, fmtDur(l.P50), fmtDur(l.P90), fmtDur(l.P99), fmtDur(l.Max))
	}
	fb := "no"
	if r.Fallback {
		fb = "YES (the connection fell back to plain TCP)"
	}
	proto := strings.ToUpper(r.Mode.String())
	fmt.Fprintf(&b, "%s: %s over %d subflow(s), %d retransmits, fallback %s, congestion control %s (client %s, server %s)\n",
		proto, FormatBits(r.BitsPerSecond), r.Subflows, r.Retransmits, fb, orNone(r.CongestionControl),
		orNone(r.ClientCongestionControl), orNone(r.ServerCongestionControl))
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// WriteText writes the comparison as a table.
func (c *Comparison) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintf(tw, "\t%s\t%s\t%s\n", "TCP", "MPTCP", "MPTCP/TCP")
	fmt.Fprintf(tw, "goodput\t%s\t%s\t%.2fx\n", FormatBits(c.TCP.BitsPerSecond), FormatBits(c.MPTCP.BitsPerSecond), c.Ratio)
	if c.TCP.Latency != nil && c.MPTCP.Latency != nil {
		t, m := c.TCP.Latency, c.MPTCP.Latency
		fmt.Fprintf(tw, "trans/sec\t%.0f\t%.0f\n", t.Rate, m.Rate)
		fmt.Fprintf(tw, "p50\t%s\t%s\n", fmtDur(t.P50), fmtDur(m.P50))
		fmt.Fprintf(tw, "p90\t%s\t%s\n", fmtDur(t.P90), fmtDur(m.P90))
		fmt.Fprintf(tw, "p99\t%s\t%s\n", fmtDur(t.P99), fmtDur(m.P99))
		fmt.Fprintf(tw, "max\t%s\t%s\n", fmtDur(t.Max), fmtDur(m.Max))
	}
	fmt.Fprintf(tw, "bytes\t%d\t%d\n", c.TCP.Bytes, c.MPTCP.Bytes)
	fmt.Fprintf(tw, "subflows\t%d\t%d\n", c.TCP.Subflows, c.MPTCP.Subflows)
	fmt.Fprintf(tw, "retransmits\t%d\t%d\n", c.TCP.Retransmits, c.MPTCP.Retransmits)
	fb := "no"
	if c.MPTCP.Fallback {
		fb = "YES"
	}
	fmt.Fprintf(tw, "fallback\t-\t%s\n", fb)
	fmt.Fprintf(tw, "congestion control\t%s\t%s\n", orNone(c.TCP.CongestionControl), orNone(c.MPTCP.CongestionControl))
	return tw.Flush()
}
