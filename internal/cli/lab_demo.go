//go:build !mptcpkit_slim

package cli

import (
	"errors"
	"fmt"
	"log/slog"

	"text/tabwriter"
	"time"

	"github.com/mptcpkit/mptcpkit/bench"
	"github.com/mptcpkit/mptcpkit/lab"
)

const labDemoHelp = `Usage: mptcpkit lab demo [--paths N] [--rate R] [-t SECONDS] [--cc NAME]
                        [--out DIR] [--name NAME] [-j]

Builds a lab of N paths (default 2 x 100 Mbit), runs bench over plain TCP
(one path) and then over MPTCP (all paths), prints the comparison, writes
DIR/mptcpkit-demo.json and DIR/mptcpkit-demo.svg (a bar chart), and removes
the lab again — also on failure or Ctrl-C. Needs root and an MPTCP kernel.

Options:
  --paths N     paths (default 2)
  --rate R      rate of each path (default 100mbit)
  -t SECONDS    length of each run (default 5)
  --cc NAME     congestion control (default: the namespace's, bbr here)
  --out DIR     where the report and chart go (default $XDG_STATE_HOME/mptcpkit/demo,
                else ~/.local/state/mptcpkit/demo; - for none); the paths are printed
  --name NAME   lab name (default demo)
  -j, --json    print the report as JSON (progress goes to stderr)

Examples:
  mptcpkit lab demo
  mptcpkit lab demo --paths 4 -t 10 --out /tmp/demo
  mptcpkit lab demo -j | jq .ratio
`

func cmdLabDemo(e *env, args []string) error {
	fs := newFlags(e, "lab demo", labDemoHelp)
	paths := fs.Int("paths", 2, "paths")
	rate := fs.String("rate", "100mbit", "rate per path")
	secs := fs.Float64("t", 5, "seconds per run")
	cc := fs.String("cc", "", "congestion control")
	out := fs.String("out", "", "output directory")
	name := fs.String("name", "demo", "lab name")
	if err := parseFlags(fs, "lab demo", args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("lab demo", "lab demo takes no arguments (got %q)", fs.Arg(0))
	}
	r, err := lab.ParseRate(*rate)
	if err != nil {
		return usagef("lab demo", "--rate: %v", err)
	}
	if note := labRateNote(*rate, []uint64{r}); note != "" {
		fmt.Fprintln(e.stderr, note)
	}
	if *paths < 1 || *paths > lab.MaxPaths {
		return usagef("lab demo", "--paths %d: want 1 to %d", *paths, lab.MaxPaths)
	}
	if *secs < 1 || *secs > 3600 {
		return usagef("lab demo", "-t %g: want 1 to 3600 seconds", *secs)
	}
	if err := lab.CheckName(*name); err != nil {
		return usagef("lab demo", "--name: %v", err)
	}
	progress := e.stdout
	if e.json {
		progress = e.stderr
	}
	t0 := time.Now()
	rep, err := lab.Demo(e.ctx, lab.DemoConfig{
		Name: *name, Paths: *paths, Rate: r, Duration: time.Duration(*secs * float64(time.Second)),
		CC: *cc, OutDir: *out, Logger: labLogger(e),
		Progress: func(s string) { fmt.Fprintf(progress, "[%5.1fs] %s\n", time.Since(t0).Seconds(), s) },
	})
	if err != nil {
		if e.ctx.Err() != nil {
			return labInterrupted(e, "demo")
		}
		if errors.Is(err, lab.ErrExists) {
			return fmt.Errorf("%w\n(a demo killed hard leaves its lab; `mptcpkit lab down %s` removes it)", err, *name)
		}
		return err
	}
	if e.json {
		return labJSON(e, rep)
	}
	return printDemo(e, rep)
}

func printDemo(e *env, rep *lab.DemoReport) error {
	fmt.Fprintf(e.stdout, "\n%d paths x %s, congestion control %s, %.0f s per run:\n\n", len(rep.Lab.Paths), lab.FormatRate(rep.Lab.Paths[0].Rate), rep.CC, rep.Duration)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tTCP\tMPTCP\t")
	fmt.Fprintf(tw, "goodput (Mbit/s)\t%.1f\t%.1f\t\n", rep.TCP.Mbps, rep.MPTCP.Mbps)
	fmt.Fprintf(tw, "MPTCP / TCP\t\t%.2fx\t\n", rep.Ratio)
	for i := range rep.Lab.Paths {
		fmt.Fprintf(tw, "path %d bytes sent\t%s\t%s\t\n", i+1, bench.FormatBytes(int64(rep.TCP.Paths[i].WireBytes)), bench.FormatBytes(int64(rep.MPTCP.Paths[i].WireBytes)))
	}
	fmt.Fprintf(tw, "subflows\t%d\t%d\t\n", rep.TCP.Result.Subflows, rep.MPTCP.Result.Subflows)
	fmt.Fprintf(tw, "retransmits\t%d\t%d\t\n", rep.TCP.Result.Retransmits, rep.MPTCP.Result.Retransmits)
	fb := "no"
	if rep.MPTCP.Result.Fallback {
		fb = "YES (the connection fell back to TCP)"
	}
	fmt.Fprintf(tw, "fell back to TCP\t\t%s\t\n", fb)
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.JSONFile != "" {
		fmt.Fprintf(e.stdout, "\nreport: %s\nchart:  %s\n", rep.JSONFile, rep.ChartFile)
	}
	return nil
}

// labLogger is the logger for lab internals: quiet unless -v.
func labLogger(e *env) *slog.Logger {
	if e.verbose {
		return e.log
	}
	return nil
}

// labInterrupted reports a lab verb stopped by Ctrl-C (its lab is removed
// by then) with the shell's status for SIGINT.
func labInterrupted(e *env, verb string) error {
	fmt.Fprintf(e.stderr, "mptcpkit: lab %s interrupted; everything it made is removed\n", verb)
	return &ExitError{Code: 130}
}
