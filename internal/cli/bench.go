//go:build !mptcpkit_slim

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mptcpkit/mptcpkit/bench"
	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/sockdiag"
)

const benchHelp = `Usage:
  mptcpkit bench server [--bind ADDR] [--port P]
  mptcpkit bench client HOST [--port P] [--mptcp | --tcp | --compare] [-t SECONDS]
                        [-P STREAMS] [-R] [-i INTERVAL] [--rr SIZE] [-C NAME]
                        [--paths] [-j]

Measure TCP and MPTCP throughput and latency between two hosts, like iperf3 -m,
and report what iperf3 does not: the bytes each subflow (path) carried, the
subflow count, whether the connection fell back to plain TCP, retransmissions
and the congestion control in use. One port (default 5301, beside iperf3's
5201) carries a TCP control channel and the data connections; the server's
listener is MPTCP and accepts TCP clients too. Byte counts are checked: the
receiver's count must equal the sender's.

Run 'mptcpkit bench server --help' or 'mptcpkit bench client --help' for the
options. With the global -n NETNS both run inside a network namespace.

Examples:
  mptcpkit bench server                          # listen on :5301
  mptcpkit bench client 10.0.1.2                 # 10 s MPTCP upload
  mptcpkit bench client 10.0.1.2 --compare -t 5  # TCP, then MPTCP, and the ratio
  mptcpkit bench client 10.0.1.2 --rr 64 -P 4    # latency of 64-byte request/response
  mptcpkit -n lab:l1:client bench client 10.1.1.2 -R -j
`

const benchServerHelp = `Usage: mptcpkit bench server [--bind ADDR] [--port P]

Serve bench clients, one after another and at the same time, until
interrupted. The listener is MPTCP and accepts plain TCP clients too.
Connections that do not speak the bench protocol cost a log line.

Options:
  --bind ADDR   listen on this local address only (default: every address)
  --port P      port (default 5301)

Examples:
  mptcpkit bench server
  mptcpkit bench server --bind 10.0.1.2 --port 6000
  mptcpkit -n lab:l1:server bench server
`

const benchClientHelp = `Usage: mptcpkit bench client HOST [--port P] [--mptcp | --tcp | --compare]
                            [-t SECONDS] [-P STREAMS] [-R] [-i INTERVAL] [--rr SIZE]
                            [-C NAME] [--paths] [-j]

Run one measurement against 'mptcpkit bench server' on HOST.

Options:
  --port P        server port (default 5301); HOST:PORT works too
  --mptcp         data connections over MPTCP (default)
  --tcp           data connections over plain TCP
  --compare       run TCP, then MPTCP, print both and the ratio
  -t SECONDS      duration of each run (default 10; "2.5" and "500ms" work)
  -P STREAMS      parallel data connections (default 1, at most 128)
  -R              reverse: the server sends, the client receives
  -i INTERVAL     seconds between progress lines (default 1; 0: none)
  --rr SIZE       latency mode: SIZE-byte requests answered by SIZE-byte
                  responses, one outstanding per stream (K and M suffixes)
  -C, --cc NAME   congestion control of the data connections at both ends
                  (e.g. reno, bbr; default: each namespace's own)
  --paths         under each interval, what each path (address pair) carried
  --require-mptcp exit with status 1 (after printing the result) if any data
                  connection fell back to TCP, for scripts
  -j, --json      print one JSON document with every figure

Examples:
  mptcpkit bench client 10.0.1.2
  mptcpkit bench client 10.0.1.2 --tcp -t 3 -P 4
  mptcpkit bench client 10.0.1.2 --compare -j > report.json
  mptcpkit bench client 10.0.1.2 --rr 1K -t 5
  mptcpkit bench client 10.0.1.2 -C reno -P 4
  mptcpkit bench client 10.0.1.2 --paths        # watch each path's share
`

func benchCommand() *Command {
	return &Command{
		Name:     "bench",
		Summary:  "measure TCP vs MPTCP throughput and latency, per subflow",
		Help:     benchHelp,
		NoVerb:   "bench needs a verb: server or client",
		VerbHint: "want server or client",
		Sub: []*Command{
			{Name: "server", Aliases: []string{"s"}, Help: benchServerHelp, Run: cmdBenchServer},
			{Name: "client", Aliases: []string{"c"}, Help: benchClientHelp, Run: cmdBenchClient},
		},
	}
}

// parseInterleaved parses flags that may come before or after positional
// arguments and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, cmd string, args []string) ([]string, error) {
	// Help first: the flag package and parseFlags would each print it.
	for _, a := range args {
		if a == "--" {
			break
		}
		if isHelpFlag(a) {
			fs.Usage()
			return nil, errHelp
		}
	}
	var pos []string
	for {
		if err := parseFlags(fs, cmd, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at "--": everything after it is positional.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func cmdBenchServer(e *env, args []string) error {
	fs := newFlags(e, "bench server", benchServerHelp)
	bind := fs.String("bind", "", "")
	port := fs.Int("port", bench.DefaultPort, "")
	pos, err := parseInterleaved(fs, "bench server", args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("bench server", "unexpected argument %q (use --bind ADDR to choose the address)", pos[0])
	}
	if *port < 1 || *port > 65535 {
		return usagef("bench server", "--port %d out of range 1..65535", *port)
	}
	if *bind != "" && net.ParseIP(*bind) == nil {
		return usagef("bench server", "--bind %q is not an IP address", *bind)
	}
	ns, err := e.openNetNS()
	if err != nil {
		return err
	}
	if ns != nil {
		defer ns.Close()
	}
	addr := net.JoinHostPort(*bind, strconv.Itoa(*port))
	ln, err := mptcp.ListenWith(e.ctx, "tcp", addr, mptcp.ListenOptions{NetNS: ns})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen on %s: port %d is in use (another bench server?); stop that or pick another port with --port", addr, *port)
		}
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	where := ""
	if e.netns != "" {
		where = " in network namespace " + e.netns
	}
	isMPTCP, err := mptcp.IsMPTCPListener(ln)
	if err != nil {
		ln.Close()
		return err
	}
	proto := "tcp"
	if isMPTCP {
		proto = "mptcp"
	}
	why := ""
	if proto != "mptcp" {
		why = "MPTCP is not available in this network namespace"
		enabled := true
		do := func(fn func() error) error { return fn() }
		if ns != nil {
			do = ns.Do
		}
		if do(func() (err error) { enabled, err = sockdiag.MPTCPEnabled(); return err }) == nil && !enabled {
			why = "net.mptcp.enabled=0 in this network namespace; fix: " + e.sysctlFix("net.mptcp.enabled=1")
		}
		e.log.Warn("the listener is plain TCP, not MPTCP: every client will get TCP", "reason", why)
	}
	if e.json {
		json.NewEncoder(e.stdout).Encode(map[string]any{"listening": ln.Addr().String(), "netns": e.netns, "protocol": proto, "reason": why})
	} else if proto == "mptcp" {
		fmt.Fprintf(e.stdout, "bench server listening on %s%s (MPTCP, accepts TCP too); Ctrl-C stops it\n", ln.Addr(), where)
	} else {
		fmt.Fprintf(e.stdout, "bench server listening on %s%s (plain TCP, not MPTCP: %s); Ctrl-C stops it\n", ln.Addr(), where, why)
	}
	s := &bench.Server{Logger: e.log}
	return s.Serve(e.ctx, ln)
}

// parseSeconds reads "10", "2.5" or "500ms".
func parseSeconds(flagName, s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return 0, fmt.Errorf("%s %q is negative", flagName, s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s %q is not a number of seconds (e.g. 10, 2.5, 500ms)", flagName, s)
	}
	return d, nil
}

// parseSize reads "64", "1K", "1KiB", "2M".
func parseSize(s string) (int, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(s), "IB"), "B")
	mult := 1
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, strings.TrimSuffix(t, "K")
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, strings.TrimSuffix(t, "M")
	}
	n, err := strconv.Atoi(t)
	if err != nil || n <= 0 || n > bench.MaxRRSize/mult {
		return 0, fmt.Errorf("--rr %q: want a size in bytes from 1 to 1M (e.g. 64, 1K)", s)
	}
	return n * mult, nil
}

func cmdBenchClient(e *env, args []string) error {
	const cmd = "bench client"
	fs := newFlags(e, cmd, benchClientHelp)
	port := fs.Int("port", bench.DefaultPort, "")
	useMPTCP := fs.Bool("mptcp", false, "")
	useTCP := fs.Bool("tcp", false, "")
	compare := fs.Bool("compare", false, "")
	secs := fs.String("t", "10", "")
	streams := fs.Int("P", 1, "")
	reverse := fs.Bool("R", false, "")
	interval := fs.String("i", "1", "")
	rr := fs.String("rr", "", "")
	showPaths := fs.Bool("paths", false, "")
	requireMPTCP := fs.Bool("require-mptcp", false, "")
	var cc string
	fs.StringVar(&cc, "C", "", "")
	fs.StringVar(&cc, "cc", "", "")
	pos, err := parseInterleaved(fs, cmd, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usagef(cmd, "bench client needs the server's HOST (where `mptcpkit bench server` runs)")
	case len(pos) > 1:
		return usagef(cmd, "unexpected argument %q after HOST %q", pos[1], pos[0])
	}
	n := 0
	for _, b := range []bool{*useMPTCP, *useTCP, *compare} {
		if b {
			n++
		}
	}
	if n > 1 {
		return usagef(cmd, "--mptcp, --tcp and --compare exclude each other: pick one")
	}
	if *requireMPTCP && *useTCP {
		return usagef(cmd, "--require-mptcp and --tcp exclude each other: --tcp measures plain TCP")
	}
	cfg := bench.Config{Mode: bench.ModeMPTCP, Streams: *streams, Reverse: *reverse, Logger: e.log}
	if *useTCP {
		cfg.Mode = bench.ModeTCP
	}
	if *port < 1 || *port > 65535 {
		return usagef(cmd, "--port %d out of range 1..65535", *port)
	}
	host := pos[0]
	portSet := false
	fs.Visit(func(f *flag.Flag) { portSet = portSet || f.Name == "port" })
	if h, p, err := net.SplitHostPort(host); err == nil && !portSet {
		cfg.Addr = net.JoinHostPort(h, p)
	} else {
		cfg.Addr = net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(*port))
	}
	if cfg.Duration, err = parseSeconds("-t", *secs); err != nil {
		return usagef(cmd, "%v", err)
	}
	if cfg.Duration == 0 || cfg.Duration > bench.MaxDuration {
		return usagef(cmd, "-t %s out of range: give 0 < SECONDS <= %.0f", *secs, bench.MaxDuration.Seconds())
	}
	if *streams < 1 || *streams > bench.MaxStreams {
		return usagef(cmd, "-P %d out of range 1..%d", *streams, bench.MaxStreams)
	}
	iv, err := parseSeconds("-i", *interval)
	if err != nil {
		return usagef(cmd, "%v", err)
	}
	cfg.Interval = iv
	if iv == 0 {
		cfg.Interval = -1
	}
	if *rr != "" {
		if cfg.RRSize, err = parseSize(*rr); err != nil {
			return usagef(cmd, "%v", err)
		}
		if *reverse {
			return usagef(cmd, "--rr and -R exclude each other: in latency mode the client always asks")
		}
	}
	cfg.CongestionControl = cc
	if err := (&bench.Config{Addr: cfg.Addr, CongestionControl: cc}).Validate(); err != nil {
		return usagef(cmd, "--cc: %v", strings.TrimPrefix(err.Error(), "bench: "))
	}
	ns, err := e.openNetNS()
	if err != nil {
		return err
	}
	if ns != nil {
		defer ns.Close()
	}
	cfg.Dialer = bench.NetNSDialer(ns)
	return runBenchClient(e, cfg, *compare, *showPaths, *requireMPTCP)
}

// fallbackErr is the --require-mptcp verdict on an MPTCP run: an error
// naming how many data connections fell back and why, or nil.
func fallbackErr(res *bench.Result) error {
	if res == nil || res.Mode != bench.ModeMPTCP {
		return nil
	}
	n, why := 0, ""
	for _, s := range res.Streams {
		if s.State != "mptcp" {
			n++
			if why == "" && s.Reason != "" {
				why = ": " + s.Reason
			}
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("--require-mptcp: %d of %d data connection(s) fell back to TCP%s", n, len(res.Streams), why)
}

// localizeReasons makes the fixes in the streams' reasons fit -n NETNS.
func localizeReasons(e *env, res *bench.Result) {
	if res == nil {
		return
	}
	for i := range res.Streams {
		res.Streams[i].Reason = e.nsFixes(res.Streams[i].Reason)
	}
}

func runBenchClient(e *env, cfg bench.Config, compare, showPaths, requireMPTCP bool) error {
	id := bench.IntervalID(cfg.Streams)
	columns := false // the interval table's header is still to be printed
	header := func(m bench.Mode) {
		if e.json {
			return
		}
		what := "upload (client sends)"
		switch {
		case cfg.RRSize > 0:
			what = fmt.Sprintf("%d-byte request/response", cfg.RRSize)
		case cfg.Reverse:
			what = "download (server sends, -R)"
		}
		fmt.Fprintf(e.stdout, "Connecting to %s: %s, %d stream(s), %v, %s\n", cfg.Addr, strings.ToUpper(m.String()), cfg.Streams, cfg.Duration, what)
		columns = true
	}
	progress := func(iv bench.Interval) {
		if e.json {
			return
		}
		// The column header waits for the first interval, so a run that
		// cannot connect ends with its error, not with an empty table.
		if columns {
			fmt.Fprintf(e.stdout, "[ ID] Interval           Transfer        Bitrate  Retr       Subflows\n")
			columns = false
		}
		for i, s := range iv.Streams {
			fmt.Fprintln(e.stdout, bench.FormatInterval(strconv.Itoa(s.ID+1), iv.Stream(i)))
		}
		fmt.Fprintln(e.stdout, bench.FormatInterval(id, iv))
		if showPaths {
			for _, p := range iv.Paths {
				fmt.Fprintln(e.stdout, bench.FormatPath(p))
			}
		}
	}
	if !compare {
		header(cfg.Mode)
		res, err := bench.Run(e.ctx, cfg, progress)
		if err != nil && res == nil {
			return interrupted(err)
		}
		localizeReasons(e, res)
		if e.json {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			if jerr := enc.Encode(res); jerr != nil {
				return jerr
			}
		} else {
			res.WriteText(e.stdout)
		}
		if err == nil && requireMPTCP {
			err = fallbackErr(res)
		}
		return err
	}
	var cmp bench.Comparison
	for _, m := range []bench.Mode{bench.ModeTCP, bench.ModeMPTCP} {
		c := cfg
		c.Mode = m
		header(m)
		res, err := bench.Run(e.ctx, c, progress)
		localizeReasons(e, res)
		if err != nil {
			if res == nil || !errors.Is(err, bench.ErrMismatch) {
				return fmt.Errorf("%s run: %w", strings.ToUpper(m.String()), interrupted(err))
			}
		}
		if !e.json {
			res.WriteText(e.stdout)
			fmt.Fprintln(e.stdout)
		}
		if err != nil {
			return fmt.Errorf("%s run: %w", strings.ToUpper(m.String()), err)
		}
		if m == bench.ModeTCP {
			cmp.TCP = res
		} else {
			cmp.MPTCP = res
		}
	}
	cmp.Ratio = bench.Ratio(cmp.TCP, cmp.MPTCP)
	var werr error
	if e.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		werr = enc.Encode(&cmp)
	} else {
		werr = cmp.WriteText(e.stdout)
	}
	if werr == nil && requireMPTCP {
		werr = fallbackErr(cmp.MPTCP)
	}
	return werr
}

// interrupted names a run cut short by Ctrl-C.
func interrupted(err error) error {
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted: the run was cancelled before it finished (no result)")
	}
	return err
}
