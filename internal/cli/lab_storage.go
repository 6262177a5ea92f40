//go:build !mptcpkit_slim

package cli

import (
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/mptcpkit/mptcpkit/bench"
	"github.com/mptcpkit/mptcpkit/lab"
	"github.com/mptcpkit/mptcpkit/lab/storage"
)

const labStorageHelp = `Usage: mptcpkit lab storage [--paths N] [--rate R] [--loss P] [-t SECONDS]
                           [--client libnbd|kernel] [--lab NAME] [--name NAME]
                           [--out DIR] [-j]

Remote block storage over MPTCP with NBD: nbdkit (memory plugin, 1 GiB) in
the lab's server namespace, fio in the client namespace, both put on MPTCP
by mptcpkit run. Runs TCP (path 1) and then MPTCP (all paths) with the
reference parameters - 4k random reads, 4 jobs, iodepth 256, direct,
time-based - and a 128k sequential read row, then prints IOPS, bandwidth,
completion latency p50/p99, the bytes each path carried, the MPTCP
connections and subflows socket diagnostics saw, fallback, and MPTCP/TCP
next to the reference's 1.95x (NVMe/TCP, 2 x 1 Gbit/s). Writes
DIR/mptcpkit-storage.json and DIR/mptcpkit-storage.svg. The lab it builds
is removed again, also on failure or Ctrl-C. Needs root, nbdkit and fio
(Debian's, with the nbd engine).

Options:
  --paths N      paths (default 2)
  --rate R       rate of each path (default 100mbit)
  --loss P       random loss on each path, percent (default 0)
  -t SECONDS     fio runtime per row (default 10)
  --client C     libnbd: fio's nbd engine (default); kernel: /dev/nbdX,
                 fio with libaio on it; nbd-client connects through a
                 relay that carries it over TCP or MPTCP (the kernel takes
                 no MPTCP socket for nbd); needs the kernel's nbd module
  --lab NAME     use this existing lab (left up) instead of building one
  --name NAME    name of the lab to build (default storage)
  --out DIR      where the report and chart go (default .; - for none)
  --rcvbuf B     initial TCP receive buffer (net.ipv4.tcp_rmem's middle
                 value) in both namespaces during the run, TCP and MPTCP
                 alike, in bytes (default 16777216); "kernel" keeps the
                 kernel's 131072, with which MPTCP rows now and then stall
                 (docs/BENCHMARKS.md)
  -j, --json     print the report as JSON (progress goes to stderr)

Examples:
  mptcpkit lab storage
  mptcpkit lab storage --rate 1gbit -t 20
  mptcpkit lab storage -j --out - | jq '.comparisons[].ratio'
`

// cmdLabStorage runs the block-storage experiment (issue 11).
func cmdLabStorage(e *env, args []string) error {
	fs := newFlags(e, "lab storage", labStorageHelp)
	paths := fs.Int("paths", 2, "paths")
	rate := fs.String("rate", "100mbit", "rate per path")
	loss := fs.String("loss", "0", "loss percent")
	secs := fs.Float64("t", 10, "seconds per row")
	client := fs.String("client", string(storage.ClientLibNBD), "libnbd or kernel")
	useLab := fs.String("lab", "", "existing lab")
	name := fs.String("name", "storage", "lab name")
	out := fs.String("out", ".", "output directory")
	rcvbuf := fs.String("rcvbuf", strconv.Itoa(storage.DefaultRcvBuf), "initial TCP receive buffer, bytes, or kernel")
	if err := parseFlags(fs, "lab storage", args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("lab storage", "lab storage takes no arguments (got %q)", fs.Arg(0))
	}
	r, err := lab.ParseRate(*rate)
	if err != nil {
		return usagef("lab storage", "--rate: %v", err)
	}
	l, err := lab.ParseLoss(*loss)
	if err != nil {
		return usagef("lab storage", "--loss: %v", err)
	}
	if *paths < 1 || *paths > lab.MaxPaths {
		return usagef("lab storage", "--paths %d: want 1 to %d", *paths, lab.MaxPaths)
	}
	if *secs < 1 || *secs > 3600 {
		return usagef("lab storage", "-t %g: want 1 to 3600 seconds", *secs)
	}
	rb := -1
	if *rcvbuf != "kernel" {
		if rb, err = strconv.Atoi(*rcvbuf); err != nil || rb < 4096 {
			return usagef("lab storage", "--rcvbuf %q: want a byte count of at least 4096, or kernel", *rcvbuf)
		}
	}
	c := storage.Client(*client)
	if c != storage.ClientLibNBD && c != storage.ClientKernel {
		return usagef("lab storage", "--client %q: want libnbd or kernel", *client)
	}
	if err := lab.CheckName(*name); err != nil {
		return usagef("lab storage", "--name: %v", err)
	}
	if *useLab != "" {
		if err := lab.CheckName(*useLab); err != nil {
			return usagef("lab storage", "--lab: %v", err)
		}
	}
	progress := e.stdout
	if e.json {
		progress = e.stderr
	}
	t0 := time.Now()
	rep, err := storage.Run(e.ctx, storage.Config{
		Lab: *useLab, Name: *name, Paths: *paths, Rate: r, Loss: l,
		Duration: time.Duration(*secs * float64(time.Second)), Client: c, RcvBuf: rb, OutDir: *out, Logger: labLogger(e),
		Progress: func(s string) { fmt.Fprintf(progress, "[%5.1fs] %s\n", time.Since(t0).Seconds(), s) },
	})
	if err != nil {
		if e.ctx.Err() != nil {
			return labInterrupted(e, "storage")
		}
		if errors.Is(err, lab.ErrExists) {
			return fmt.Errorf("%w\n(a run killed hard leaves its lab; `mptcpkit lab down %s` removes it)", err, *name)
		}
		return err
	}
	if e.json {
		return labJSON(e, rep)
	}
	return printStorage(e, rep)
}

func printStorage(e *env, rep *storage.Report) error {
	st := rep.Lab
	fmt.Fprintf(e.stdout, "\nNBD (%s client) over %d paths x %s, %s:\n", rep.Client, len(st.Paths), lab.FormatRate(st.Paths[0].Rate), st.CCEffect)
	for _, c := range rep.Comparisons {
		fmt.Fprintf(e.stdout, "\nfio %s, %d jobs, iodepth %d, %.0f s:\n\n", c.Workload.Name, c.Workload.Jobs, c.Workload.IODepth, rep.Seconds)
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tTCP\tMPTCP\t")
		fmt.Fprintf(tw, "IOPS\t%.0f\t%.0f\t\n", c.TCP.IOPS, c.MPTCP.IOPS)
		fmt.Fprintf(tw, "bandwidth (MiB/s)\t%.1f\t%.1f\t\n", c.TCP.BitsPerSec/8/(1<<20), c.MPTCP.BitsPerSec/8/(1<<20))
		fmt.Fprintf(tw, "clat p50 (ms)\t%.1f\t%.1f\t\n", c.TCP.ClatP50US/1000, c.MPTCP.ClatP50US/1000)
		fmt.Fprintf(tw, "clat p99 (ms)\t%.1f\t%.1f\t\n", c.TCP.ClatP99US/1000, c.MPTCP.ClatP99US/1000)
		for i := range st.Paths {
			fmt.Fprintf(tw, "path %d bytes\t%s\t%s\t\n", i+1, bench.FormatBytes(int64(c.TCP.PathWireBytes[i])), bench.FormatBytes(int64(c.MPTCP.PathWireBytes[i])))
		}
		fmt.Fprintf(tw, "connections (TCP/MPTCP)\t%d/%d\t%d/%d\t\n", c.TCP.Conns.TCP, c.TCP.Conns.MPTCP, c.MPTCP.Conns.TCP, c.MPTCP.Conns.MPTCP)
		fmt.Fprintf(tw, "subflows per connection\t%s\t%d\t\n", "-", c.MPTCP.Conns.Subflows)
		fb := "no"
		if c.MPTCP.Conns.Fallback {
			fb = "YES (fell back to TCP)"
		}
		fmt.Fprintf(tw, "fell back to TCP\t\t%s\t\n", fb)
		st := func(r *storage.Row) string {
			if r.Stalled {
				return fmt.Sprintf("YES (%.0f s, p99 %.1f s)", r.Seconds, r.ClatP99US/1e6)
			}
			return "no"
		}
		fmt.Fprintf(tw, "MPTCP window drops\t%d\t%d\t\n", c.TCP.WindowDrops, c.MPTCP.WindowDrops)
		fmt.Fprintf(tw, "stalled\t%s\t%s\t\n", st(c.TCP), st(c.MPTCP))
		ref := ""
		if c.Workload == storage.RandRead4K {
			ref = fmt.Sprintf(" (reference %.2fx)", rep.Reference.Ratio)
		}
		fmt.Fprintf(tw, "MPTCP / TCP IOPS\t\t%.2fx%s\t\n", c.Ratio, ref)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, r := range rep.Rows {
		if r.Stalled {
			fmt.Fprintf(e.stdout, "\n%s %s stalled: fio needed %.1f s for a %.0f s run (clat p99 %.1f s, %d MPTCP receive-window drops), its in-flight I/O crawled\n(on MPTCP: the receive stall in docs/BENCHMARKS.md; on a loaded or emulated machine: the CPU); run again\n", r.Mode, r.Workload.Name, r.Seconds, rep.Seconds, r.ClatP99US/1e6, r.WindowDrops)
		}
	}
	fmt.Fprintf(e.stdout, "\nreference: %s: TCP %.1fk, MPTCP %.1fk IOPS\n", rep.Reference.What, rep.Reference.TCPIOPS/1000, rep.Reference.MPTCPIOPS/1000)
	if rep.JSONFile != "" {
		fmt.Fprintf(e.stdout, "report: %s\nchart:  %s\n", rep.JSONFile, rep.ChartFile)
	}
	return nil
}
