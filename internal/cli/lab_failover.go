//go:build !mptcpkit_slim

package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/mptcpkit/mptcpkit/bench"
	"github.com/mptcpkit/mptcpkit/lab"
)

const labFailoverHelp = `Usage: mptcpkit lab failover [-t SECONDS] [--path 1|2] [--down-at S] [--down-for S]
                            [--side client|server] [--rate R] [--cc NAME] [--name NAME] [-j]

Builds a 2-path lab, runs one long MPTCP transfer of pseudo-random data
(hashed with SHA-256 at both ends), sets one path down mid-transfer and up
again, and reports: the longest stall in received data, whether the transfer
completed, both checksums, and when traffic returned to the restored path
(per-subflow byte counters). Removes the lab afterwards, also on Ctrl-C.

Options:
  -t SECONDS      transfer length (default 25)
  --path P        the path that fails (default 1, the initial subflow's)
  --down-at S     seconds into the transfer (default 5)
  --down-for S    seconds down (default 8)
  --side SIDE     whose interface goes down: client (default) or server
  --rate R        rate of each path (default 100mbit)
  --cc NAME       congestion control
  --name NAME     lab name (default failover)
  -j, --json      print the report as JSON (progress goes to stderr)

Examples:
  mptcpkit lab failover
  mptcpkit lab failover --side server -t 20
  mptcpkit lab failover --path 2 -j
`

func cmdLabFailover(e *env, args []string) error {
	fs := newFlags(e, "lab failover", labFailoverHelp)
	secs := fs.Float64("t", 25, "seconds")
	path := fs.Int("path", 1, "path")
	downAt := fs.Float64("down-at", 5, "seconds")
	downFor := fs.Float64("down-for", 8, "seconds")
	side := fs.String("side", "client", "client or server")
	rate := fs.String("rate", "100mbit", "rate")
	cc := fs.String("cc", "", "congestion control")
	name := fs.String("name", "failover", "lab name")
	if err := parseFlags(fs, "lab failover", args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("lab failover", "lab failover takes no arguments (got %q)", fs.Arg(0))
	}
	if *side != "client" && *side != "server" {
		return usagef("lab failover", "--side %q: want client or server", *side)
	}
	r, err := lab.ParseRate(*rate)
	if err != nil {
		return usagef("lab failover", "--rate: %v", err)
	}
	if note := labRateNote(*rate, []uint64{r}); note != "" {
		fmt.Fprintln(e.stderr, note)
	}
	if *path < 1 || *path > 2 {
		return usagef("lab failover", "--path %d: the lab has paths 1 and 2", *path)
	}
	if *secs < 2 || *secs > 3600 || *downAt <= 0 || *downFor <= 0 || *downAt+*downFor >= *secs {
		return usagef("lab failover", "want 0 < --down-at, 0 < --down-for, and --down-at + --down-for < -t (got %g + %g, -t %g)", *downAt, *downFor, *secs)
	}
	if err := lab.CheckName(*name); err != nil {
		return usagef("lab failover", "--name: %v", err)
	}
	progress := e.stdout
	if e.json {
		progress = e.stderr
	}
	t0 := time.Now()
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	rep, err := lab.Failover(e.ctx, lab.FailoverConfig{
		Name: *name, Rate: r, Duration: sec(*secs), Path: *path, DownAt: sec(*downAt), DownFor: sec(*downFor),
		Server: *side == "server", CC: *cc, Logger: labLogger(e),
		Progress: func(s string) { fmt.Fprintf(progress, "[%5.1fs] %s\n", time.Since(t0).Seconds(), s) },
	})
	if err != nil {
		if e.ctx.Err() != nil {
			return labInterrupted(e, "failover")
		}
		return err
	}
	if e.json {
		return labJSON(e, rep)
	}
	tr := rep.Transfer
	yes := map[bool]string{true: "yes", false: "NO"}
	fmt.Fprintf(e.stdout, "\nfailover of path %d (%s side), 2 x %s, congestion control %s:\n\n", *path, *side, lab.FormatRate(r), tr.CC)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  transfer completed\t%s (%s in %.1f s, %.1f Mbit/s)\n", yes[tr.Completed], bench.FormatBytes(tr.RecvBytes), tr.Seconds, tr.Mbps)
	fmt.Fprintf(tw, "  sha256 sent\t%s\n", tr.SHA256Sent)
	fmt.Fprintf(tw, "  sha256 received\t%s (%s)\n", tr.SHA256Received, map[bool]string{true: "match", false: "MISMATCH"}[tr.ChecksumMatch])
	fmt.Fprintf(tw, "  longest stall\t%v (at %.2f s)\n", tr.LongestStall.Round(time.Millisecond), tr.LongestStallAt)
	for _, p := range tr.Paths {
		ret := ""
		if p.Path == *path {
			if p.ReturnedAfter < 0 {
				ret = "; traffic did NOT return after the link came back"
			} else {
				ret = fmt.Sprintf("; traffic returned %v after the link came back", p.ReturnedAfter.Round(10*time.Millisecond))
			}
		}
		fmt.Fprintf(tw, "  path %d\t%s on its subflows, %d retransmits%s\n", p.Path, bench.FormatBytes(int64(p.SubflowBytes)), p.Retransmits, ret)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !tr.Completed || !tr.ChecksumMatch {
		return &ExitError{Code: 1}
	}
	return nil
}
