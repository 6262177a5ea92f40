//go:build !mptcpkit_slim

package cli

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mptcpkit/mptcpkit/lab"
)

const labBenchHelp = `Usage: mptcpkit lab bench [--paths N[,N...]] [--rate R[,R...]] [--loss P[,P...]]
                         [--delay D[,D...]] [-t SECONDS] [--cc NAME] [--queue PACKETS]
                         [--name NAME] [-j]

Aggregation benchmark. For each path count N: builds a lab of N paths, runs
bench over plain TCP (path 1) and then MPTCP (all paths), removes the lab,
and reports efficiency = MPTCP goodput / (N x single-path TCP goodput)
(for unequal rates: TCP goodput scaled by the sum of the rates over path 1's).

Options:
  --paths LIST   path counts to try (default 1,2,4,8)
  --rate R       rate of every path, or one per path (default 100mbit)
  --loss P       loss of every path, or one per path (default 0)
  --delay D      one-way delay of every path, or one per path (default 0)
  -t SECONDS     length of each run (default 10)
  --cc NAME      congestion control
  --queue N      shaper queue in packets (default 100)
  --name NAME    lab name (default agg)
  -j, --json     print the results as JSON (progress goes to stderr)

Examples:
  mptcpkit lab bench
  mptcpkit lab bench --paths 2 --rate 100mbit,20mbit
  mptcpkit lab bench --paths 2 --loss 1% -t 20
  mptcpkit lab bench --paths 1 --rate 10gbit --delay 1ms   # the TUN delay line's ceiling
`

func cmdLabBench(e *env, args []string) error {
	fs := newFlags(e, "lab bench", labBenchHelp)
	pathsS := fs.String("paths", "1,2,4,8", "path counts")
	rate := fs.String("rate", "", "rate")
	loss := fs.String("loss", "", "loss")
	delay := fs.String("delay", "", "delay")
	secs := fs.Float64("t", 10, "seconds")
	cc := fs.String("cc", "", "congestion control")
	queue := fs.Int("queue", lab.DefaultQueue, "queue")
	name := fs.String("name", "agg", "lab name")
	if err := parseFlags(fs, "lab bench", args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("lab bench", "lab bench takes no arguments (got %q)", fs.Arg(0))
	}
	if *queue < 1 || *queue > 100_000 {
		return usagef("lab bench", "--queue %d: want 1 to 100000 packets (default %d)", *queue, lab.DefaultQueue)
	}
	cfg := lab.AggregationConfig{Name: *name, Queue: *queue, CC: *cc, Duration: time.Duration(*secs * float64(time.Second)), Logger: labLogger(e)}
	for _, f := range strings.Split(*pathsS, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > lab.MaxPaths {
			return usagef("lab bench", "--paths %q: want path counts from 1 to %d, e.g. 1,2,4,8", *pathsS, lab.MaxPaths)
		}
		cfg.Paths = append(cfg.Paths, n)
	}
	var err error
	if *rate != "" {
		if cfg.Rate, err = lab.ParseList(*rate, lab.ParseRate); err != nil {
			return usagef("lab bench", "--rate: %v", err)
		}
		if note := labRateNote(*rate, cfg.Rate); note != "" {
			fmt.Fprintln(e.stderr, note)
		}
	}
	if *loss != "" {
		if cfg.Loss, err = lab.ParseList(*loss, lab.ParseLoss); err != nil {
			return usagef("lab bench", "--loss: %v", err)
		}
	}
	if *delay != "" {
		if cfg.Delay, err = lab.ParseList(*delay, lab.ParseDelay); err != nil {
			return usagef("lab bench", "--delay: %v", err)
		}
	}
	if *secs < 1 || *secs > 3600 {
		return usagef("lab bench", "-t %g: want 1 to 3600 seconds", *secs)
	}
	if err := lab.CheckName(*name); err != nil {
		return usagef("lab bench", "--name: %v", err)
	}
	progress := e.stdout
	if e.json {
		progress = e.stderr
	}
	t0 := time.Now()
	cfg.Progress = func(s string) { fmt.Fprintf(progress, "[%5.1fs] %s\n", time.Since(t0).Seconds(), s) }
	res, err := lab.Aggregate(e.ctx, cfg)
	if err != nil {
		if e.ctx.Err() != nil {
			return labInterrupted(e, "bench")
		}
		return err
	}
	if e.json {
		return labJSON(e, res)
	}
	h := lab.ThisHost()
	fmt.Fprintf(e.stdout, "\n%.0f s per run, kernel %s, %d CPUs, load %.2f %.2f %.2f\n\n", *secs, h.Kernel, h.CPUs, h.Load[0], h.Load[1], h.Load[2])
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATHS\tRATES\tLOSS\tDELAY\tCC\tTCP Mbit/s\tMPTCP Mbit/s\tEFFICIENCY\tRETRANS (MPTCP)")
	for _, a := range res {
		var rates, losses []string
		for i := range a.Rates {
			rates = append(rates, lab.FormatRate(a.Rates[i]))
			losses = append(losses, strconv.FormatFloat(a.Loss[i], 'g', -1, 64)+"%")
		}
		var delays []string
		for _, d := range a.Delay {
			delays = append(delays, d.String())
		}
		dl := compactList(delays)
		if a.DelayMethod != "" {
			dl += " (" + a.DelayMethod + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%.3f\t%d\n", a.Paths, compactList(rates), compactList(losses), dl, a.CC, a.TCP.Mbps, a.MPTCP.Mbps, a.Efficiency, a.MPTCP.Result.Retransmits)
	}
	return tw.Flush()
}

// compactList prints "100Mbit" for a list of equal values, else "a,b".
func compactList(s []string) string {
	for _, v := range s[1:] {
		if v != s[0] {
			return strings.Join(s, ",")
		}
	}
	if len(s) > 1 {
		return fmt.Sprintf("%d x %s", len(s), s[0])
	}
	return s[0]
}
