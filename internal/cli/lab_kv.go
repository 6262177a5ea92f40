//go:build !mptcpkit_slim

package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/mptcpkit/mptcpkit/lab"
	"github.com/mptcpkit/mptcpkit/lab/kvbench"
)

const labKVHelp = `Usage: mptcpkit lab kv [--name NAME] [--loss L,L] [--sizes N,N] [--clients N] [-j]

The key-value experiment: redis-server and redis-benchmark, both forced onto
MPTCP with mptcpkit run (and, for comparison, both over plain TCP), in a lab
of two 100 Mbit/s paths; GET and SET with 1K, 4K and 16K values from 50
clients, and pipelined (-P 16) rows for the largest value; once on clean
paths and once with each loss percentage on each path. Prints requests per
second, p50/p99 latency, the bytes each path carried, and the MP_CAPABLE
SYNs the server received (the proof the connections were MPTCP), then MPTCP
against TCP per row. Takes about 3 minutes; the labs are removed afterwards.

Options:
  --name NAME    lab name (default kv)
  --loss LIST    loss percentages per path to test (default 0,1)
  --sizes LIST   value sizes in bytes (default 1024,4096,16384)
  --clients N    redis-benchmark clients (default 50)
  -j, --json     rows as JSON

Examples:
  mptcpkit lab kv
  mptcpkit lab kv --loss 1 --sizes 16384
  mptcpkit -j lab kv > kv.json
`

// cmdLabKV runs the key-value experiment (issue 5).
func cmdLabKV(e *env, args []string) error {
	fs := newFlags(e, "lab kv", labKVHelp)
	name := fs.String("name", "kv", "lab name")
	losses := fs.String("loss", "0,1", "loss percentages")
	sizes := fs.String("sizes", "1024,4096,16384", "value sizes")
	clients := fs.Int("clients", 50, "clients")
	if err := parseFlags(fs, "lab kv", args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("lab kv", "unexpected argument %q", fs.Arg(0))
	}
	if err := lab.CheckName(*name); err != nil {
		return usagef("lab kv", "--name: %v", err)
	}
	ls, err := lab.ParseList(*losses, lab.ParseLoss)
	if err != nil {
		return usagef("lab kv", "--loss: %v", err)
	}
	ss, err := lab.ParseList(*sizes, func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1<<20 {
			return 0, fmt.Errorf("value size %q: want 1..1048576 bytes", s)
		}
		return n, nil
	})
	if err != nil {
		return usagef("lab kv", "--sizes: %v", err)
	}
	if *clients < 1 || *clients > 1000 {
		return usagef("lab kv", "--clients %d: want 1..1000", *clients)
	}
	if !e.json {
		fmt.Fprintln(e.stderr, "mptcpkit lab kv: 2 x 100 Mbit/s; redis-server and redis-benchmark over TCP, then both under mptcpkit run ...")
	}
	rows, err := kvbench.Run(e.ctx, kvbench.Config{
		Name: *name, Losses: ls, Sizes: ss, Clients: *clients, Logger: e.log,
		OnRow: func(r kvbench.Row) {
			if e.verbose && !e.json {
				fmt.Fprintf(e.stderr, "  %s loss %g%% %s %d B P%d: %.0f rps\n", r.Mode, r.Loss, r.Test, r.Size, r.Pipeline, r.RPS)
			}
		},
	})
	if e.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(rows); jerr != nil {
			return jerr
		}
		return err
	}
	writeKV(e, rows)
	return err
}

func writeKV(e *env, rows []kvbench.Row) {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "loss\ttest\tvalue\tP\tmode\trps\tavg ms\tp50 ms\tp99 ms\tpath1 MiB\tpath2 MiB\tMP_CAPABLE\t")
	type key struct {
		loss       float64
		test       string
		size, pipe int
	}
	tcp := map[key]kvbench.Row{}
	for _, r := range rows {
		var mb []string
		for _, b := range r.PathBytes {
			mb = append(mb, fmt.Sprintf("%.1f", float64(b)/(1<<20)))
		}
		for len(mb) < 2 {
			mb = append(mb, "-")
		}
		fmt.Fprintf(tw, "%g%%\t%s\t%d\t%d\t%s\t%.0f\t%.3f\t%.3f\t%.3f\t%s\t%s\t%d\t\n",
			r.Loss, r.Test, r.Size, r.Pipeline, r.Mode, r.RPS, r.AvgUS/1000, r.P50US/1000, r.P99US/1000, mb[0], mb[1], r.MPCapable)
		if r.Mode == "tcp" {
			tcp[key{r.Loss, r.Test, r.Size, r.Pipeline}] = r
		}
	}
	tw.Flush()
	fmt.Fprintln(e.stdout)
	tw = tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "MPTCP vs TCP\tloss\ttest\tvalue\tP\trps\tavg latency\tp50\tp99\t")
	for _, r := range rows {
		t, ok := tcp[key{r.Loss, r.Test, r.Size, r.Pipeline}]
		if r.Mode != "mptcp" || !ok || t.RPS == 0 || t.AvgUS == 0 || t.P50US == 0 || t.P99US == 0 {
			continue
		}
		pct := func(m, t float64) string { return fmt.Sprintf("%+.0f%%", (m/t-1)*100) }
		fmt.Fprintf(tw, "\t%g%%\t%s\t%d\t%d\t%.2fx\t%s\t%s\t%s\t\n", r.Loss, r.Test, r.Size, r.Pipeline,
			r.RPS/t.RPS, pct(r.AvgUS, t.AvgUS), pct(r.P50US, t.P50US), pct(r.P99US, t.P99US))
	}
	tw.Flush()
}
