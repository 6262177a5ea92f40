package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/units"
	"github.com/mptcpkit/mptcpkit/lab"
)

const labHelp = `Usage: mptcpkit lab VERB [OPTIONS]

Multipath testbeds in network namespaces: a client and a server namespace
joined by N veth paths, each shaped with HTB in both directions, with
optional random loss (nftables at the receiver) and delay.

Verbs:
  demo       build 2 x 100 Mbit, run TCP vs MPTCP, print/write a report, clean up
  up         build a lab (see 'mptcpkit lab up --help')
  down       remove a lab and everything it made
  show       list labs and their paths
  exec       run a command inside the lab's client or server namespace
  link       set a path down or up (fault injection)
  failover   long MPTCP transfer while a path goes down and comes back
  bench      aggregation benchmark: N paths, TCP on one path vs MPTCP on all

Examples:
  mptcpkit lab demo
  mptcpkit lab up --name l1 --paths 2 --rate 100mbit
  mptcpkit lab exec client --name l1 -- ping -c1 10.1.1.2
  mptcpkit lab link 1 down --name l1
  mptcpkit lab down l1
`

// cmdLab dispatches `mptcpkit lab VERB`.
func cmdLab(e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stdout, labHelp)
		return usagef("lab", "lab needs a verb (demo, up, down, show, exec, link, failover, bench)")
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(e.stdout, labHelp)
		return nil
	case "up":
		return cmdLabUp(e, rest)
	case "down":
		return cmdLabDown(e, rest)
	case "show", "list", "ls":
		return cmdLabShow(e, rest)
	case "exec":
		return cmdLabExec(e, rest)
	case "link":
		return cmdLabLink(e, rest)
	case "demo":
		return cmdLabDemo(e, rest)
	case "failover":
		return cmdLabFailover(e, rest)
	case "bench":
		return cmdLabBench(e, rest)
	case "kv": // issue 5: the key-value experiment (lab_kv.go)
		return cmdLabKV(e, rest)
	case "delayline":
		// Internal: the delay-line process `lab up` starts.
		if code := lab.DelayLineMain(append([]string{"lab"}, args...)); code != 0 {
			return &ExitError{Code: code}
		}
		return nil
	}
	return usagef("lab", "unknown lab verb %q (demo, up, down, show, exec, link, failover, bench)", verb)
}

const labUpHelp = `Usage: mptcpkit lab up [--name NAME] [--paths N] [--rate R[,R...]]
                      [--loss P[,P...]] [--delay D[,D...]] [--queue PACKETS]
                      [--cc reno|bbr|cubic]

Builds namespaces mk-NAME-client and mk-NAME-server joined by N paths.
Path P: client 10.L.P.1, server 10.L.P.2 (L = lab number, see 'lab show').
Each path is shaped in both directions (HTB rate R, pfifo of PACKETS).
The client gets one MPTCP subflow endpoint per extra path; both sides get
limits subflows 8, add_addr_accepted 8.

Options (one value for all paths, or one per path, comma-separated):
  --name NAME     lab name, 1-8 of [a-z0-9] (default lab)
  --paths N       number of paths, 1-8 (default 2)
  --rate R        rate per path: 100mbit, 500kbit, 1gbit (default 100mbit)
  --loss P        random loss per path in %, dropped at the receiver (default 0)
  --delay D       one-way delay per path, e.g. 20ms (netem, or a TUN delay
                  line in a router namespace where the kernel has no netem)
  --queue N       shaper queue in packets (default 100)
  --cc NAME       TCP congestion control in both namespaces (reno, bbr, cubic);
                  widens the host's allowed list if needed, restored on down

Examples:
  mptcpkit lab up --name l1 --paths 2
  mptcpkit lab up --name l2 --paths 2 --rate 100mbit,20mbit --loss 0,1%
  mptcpkit lab up --name l3 --paths 1 --delay 20ms --cc cubic
`

func cmdLabUp(e *env, args []string) error {
	fs := newFlags(e, "lab up", labUpHelp)
	cfg, err := labConfigFlags(fs)
	if err != nil {
		return err
	}
	if err := parseFlags(fs, "lab up", args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("lab up", "lab up takes no arguments (got %q); name the lab with --name", fs.Arg(0))
	}
	c, err := cfg()
	if err != nil {
		return err
	}
	c.Logger = e.log
	st, err := lab.Up(e.ctx, c)
	if err != nil {
		return err
	}
	if e.json {
		return labJSON(e, st)
	}
	fmt.Fprintf(e.stdout, "lab %s is up (remove it with `mptcpkit lab down %s`)\n", st.Name, st.Name)
	if err := printLab(e, st); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nTry:\n  mptcpkit lab exec server --name %s -- mptcpkit bench server &\n  mptcpkit lab exec client --name %s -- mptcpkit bench client %s --compare\n",
		st.Name, st.Name, st.Paths[0].ServerAddr)
	return nil
}

// labConfigFlags registers the lab-building flags on fs and returns a
// function that turns them into a lab.Config after parsing.
func labConfigFlags(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
}) (func() (lab.Config, error), error) {
	var name, rate, loss, delay, cc string
	var paths, queue int
	fs.StringVar(&name, "name", "lab", "lab name")
	fs.IntVar(&paths, "paths", 2, "number of paths")
	fs.StringVar(&rate, "rate", "", "rate per path")
	fs.StringVar(&loss, "loss", "", "loss per path (%)")
	fs.StringVar(&delay, "delay", "", "one-way delay per path")
	fs.IntVar(&queue, "queue", lab.DefaultQueue, "queue (packets)")
	fs.StringVar(&cc, "cc", "", "congestion control")
	return func() (lab.Config, error) {
		c := lab.Config{Name: name, Paths: paths, Queue: queue, CC: cc}
		if err := lab.CheckName(name); err != nil {
			return c, usagef("lab up", "--name: %v", err)
		}
		if paths < 1 || paths > lab.MaxPaths {
			return c, usagef("lab up", "--paths %d: want 1 to %d", paths, lab.MaxPaths)
		}
		var err error
		if rate != "" {
			if c.Rate, err = lab.ParseList(rate, lab.ParseRate); err != nil {
				return c, usagef("lab up", "--rate: %v", err)
			}
		}
		if loss != "" {
			if c.Loss, err = lab.ParseList(loss, lab.ParseLoss); err != nil {
				return c, usagef("lab up", "--loss: %v", err)
			}
		}
		if delay != "" {
			if c.Delay, err = lab.ParseList(delay, lab.ParseDelay); err != nil {
				return c, usagef("lab up", "--delay: %v", err)
			}
		}
		for _, v := range []struct {
			what string
			n    int
		}{{"--rate", len(c.Rate)}, {"--loss", len(c.Loss)}, {"--delay", len(c.Delay)}} {
			if v.n > 1 && v.n != paths {
				return c, usagef("lab up", "%s has %d values for %d paths: give one value, or one per path", v.what, v.n, paths)
			}
		}
		return c, nil
	}, nil
}

func labJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

const labDownHelp = `Usage: mptcpkit lab down [NAME...] [--all]

Removes a lab (default: lab) and everything it made: its delay line and any
process running in its namespaces or holding them open (such as
'mptcpkit -n mk-NAME-server bench server'), its nftables tables, its
namespaces with their veths, its state file; restores the host's
congestion-control allowance.
Works by name, also when the state file is gone. No error if nothing is left.

Examples:
  mptcpkit lab down
  mptcpkit lab down l1 l2
  mptcpkit lab down --all
`

func cmdLabDown(e *env, args []string) error {
	fs := newFlags(e, "lab down", labDownHelp)
	all := fs.Bool("all", false, "remove every lab")
	name := fs.String("name", "", "lab name")
	names, err := parseInterspersed(fs, "lab down", args)
	if err != nil {
		return err
	}
	if *name != "" {
		names = append(names, *name)
	}
	if *all {
		labs, err := lab.List()
		if err != nil {
			return err
		}
		for _, s := range labs {
			names = append(names, s.Name)
		}
	} else if len(names) == 0 {
		names = []string{"lab"}
	}
	var errs []error
	for _, n := range names {
		if err := lab.CheckName(n); err != nil {
			return usagef("lab down", "%v", err)
		}
		existed := lab.Exists(n)
		if err := lab.Down(n, e.log); err != nil {
			errs = append(errs, err)
			continue
		}
		if existed {
			fmt.Fprintf(e.stdout, "lab %s removed\n", n)
		} else {
			fmt.Fprintf(e.stdout, "lab %s: nothing to remove\n", n)
		}
	}
	return errors.Join(errs...)
}

// parseInterspersed parses args with fs, allowing flags before, between and
// after the positional arguments (`lab show l1 -j`, `lab link 1 down --name
// l1`; the flag package alone stops at the first positional one), and
// returns the positional arguments.
func parseInterspersed(fs *flag.FlagSet, cmd string, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := parseFlags(fs, cmd, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return pos, nil
}

const labShowHelp = `Usage: mptcpkit lab show [NAME...] [--name NAME] [-j]

Lists the labs (or one): namespaces, congestion control, delay method and
its limits, and per path: interfaces, addresses, rate, loss, delay, link
state, bytes carried and packets dropped by the loss rules.

Examples:
  mptcpkit lab show
  mptcpkit lab show l1 -j
`

type labShow struct {
	*lab.State
	DelayLineRunning bool               `json:"delayline_running,omitempty"`
	Counters         []lab.PathCounters `json:"counters,omitempty"`
	Drops            map[string]uint64  `json:"loss_drops,omitempty"`
}

func cmdLabShow(e *env, args []string) error {
	fs := newFlags(e, "lab show", labShowHelp)
	name := fs.String("name", "", "lab name")
	names, err := parseInterspersed(fs, "lab show", args)
	if err != nil {
		return err
	}
	if *name != "" {
		names = append(names, *name)
	}
	var labs []*lab.State
	if len(names) > 0 {
		for _, n := range names {
			s, err := lab.Load(n)
			if err != nil {
				return err
			}
			labs = append(labs, s)
		}
	} else {
		var err error
		if labs, err = lab.List(); err != nil {
			return err
		}
	}
	var out []labShow
	for _, s := range labs {
		v := labShow{State: s, DelayLineRunning: lab.DelayLineRunning(s)}
		v.Counters, _ = lab.Counters(s)
		v.Drops, _ = lab.Drops(s)
		out = append(out, v)
	}
	if e.json {
		if out == nil {
			out = []labShow{}
		}
		return labJSON(e, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(e.stdout, "no labs (make one with `mptcpkit lab up`)")
		return nil
	}
	for i, v := range out {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		if err := printLabShow(e, v); err != nil {
			return err
		}
	}
	return nil
}

func printLab(e *env, st *lab.State) error {
	v := labShow{State: st, DelayLineRunning: lab.DelayLineRunning(st)}
	v.Counters, _ = lab.Counters(st)
	return printLabShow(e, v)
}

func printLabShow(e *env, v labShow) error {
	st := v.State
	cc := st.CCEffect
	if st.CC == "" {
		cc += " (namespace default)"
	}
	fmt.Fprintf(e.stdout, "lab %s (number %d, up since %s)\n", st.Name, st.Number, st.Created.Format(time.RFC3339))
	fmt.Fprintf(e.stdout, "  namespaces: %s, %s\n", st.Client, st.Server)
	fmt.Fprintf(e.stdout, "  congestion control: %s; shaper queue %d packets\n", cc, st.Queue)
	switch st.Delay {
	case "tun":
		state := "NOT RUNNING"
		if v.DelayLineRunning {
			state = fmt.Sprintf("pid %d", st.DelayPID)
		}
		fmt.Fprintf(e.stdout, "  delay: %s (%s)\n", st.DelayNote, state)
	case "netem":
		fmt.Fprintln(e.stdout, "  delay: netem")
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PATH\tCLIENT\tSERVER\tRATE\tLOSS\tDELAY\tLINK\tTX→\tRX←\tDROPPED")
	for i, p := range st.Paths {
		link, tx, rx := "?", "-", "-"
		if i < len(v.Counters) {
			link = "down"
			if v.Counters[i].Up {
				link = "up"
			}
			tx, rx = labBytes(v.Counters[i].TxBytes), labBytes(v.Counters[i].RxBytes)
		}
		drops := "-"
		if p.Loss > 0 && v.Drops != nil {
			drops = strconv.FormatUint(v.Drops[p.ClientIf]+v.Drops[p.ServerIf], 10)
		}
		d := "0"
		if p.Delay > 0 {
			d = p.Delay.String()
		}
		fmt.Fprintf(tw, "  %d\t%s %s\t%s %s\t%s\t%g%%\t%s\t%s\t%s\t%s\t%s\n", p.Index, p.ClientIf, p.ClientAddr, p.ServerIf, p.ServerAddr,
			lab.FormatRate(p.Rate), p.Loss, d, link, tx, rx, drops)
	}
	return tw.Flush()
}

func labBytes(b uint64) string { return units.Bytes(float64(b)) }

const labExecHelp = `Usage: mptcpkit lab exec client|server [--name NAME] -- CMD [ARGS...]

Runs CMD inside the lab's client or server namespace (like ip netns exec)
with its standard streams, and exits with CMD's exit status.

Examples:
  mptcpkit lab exec client -- ping -c1 10.1.1.2
  mptcpkit lab exec server --name l1 -- mptcpkit bench server
  mptcpkit lab exec client --name l1 -- mptcpkit bench client 10.1.1.2 --compare
`

func cmdLabExec(e *env, args []string) error {
	if len(args) > 0 && isHelp(args[:1]) {
		fmt.Fprint(e.stdout, labExecHelp)
		return nil
	}
	if len(args) == 0 || (args[0] != "client" && args[0] != "server") {
		return usagef("lab exec", "lab exec needs client or server first")
	}
	side := args[0]
	fs := newFlags(e, "lab exec", labExecHelp)
	name := fs.String("name", "lab", "lab name")
	if err := parseFlags(fs, "lab exec", args[1:]); err != nil {
		return err
	}
	cmdArgs := fs.Args()
	if len(cmdArgs) == 0 {
		return usagef("lab exec", "lab exec needs a command after --")
	}
	st, err := lab.Load(*name)
	if err != nil {
		return err
	}
	ns := st.Client
	if side == "server" {
		ns = st.Server
	}
	cmd := exec.CommandContext(e.ctx, "ip", append([]string{"netns", "exec", ns}, cmdArgs...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, e.stdout, e.stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return &ExitError{Code: ee.ExitCode()}
		}
		return err
	}
	return nil
}

const labLinkHelp = `Usage: mptcpkit lab link PATH down|up [--name NAME]

Sets the client-side interface of path PATH (1-based) down or up, as if its
cable were pulled or plugged back.

Examples:
  mptcpkit lab link 1 down
  mptcpkit lab link 1 up --name l1
`

func cmdLabLink(e *env, args []string) error {
	fs := newFlags(e, "lab link", labLinkHelp)
	name := fs.String("name", "lab", "lab name")
	pos, err := parseInterspersed(fs, "lab link", args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[1] != "up" && pos[1] != "down") {
		return usagef("lab link", "lab link needs PATH and down or up, e.g. `mptcpkit lab link 1 down`")
	}
	p, err := strconv.Atoi(pos[0])
	if err != nil {
		return usagef("lab link", "path %q is not a number (paths count from 1)", pos[0])
	}
	st, err := lab.Load(*name)
	if err != nil {
		return err
	}
	if err := lab.SetLink(st, p, pos[1] == "up"); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "lab %s path %d (%s) is %s\n", st.Name, p, st.Paths[p-1].ClientIf, pos[1])
	return nil
}

func labCCNote(cc string) string {
	if cc == "" {
		return "?"
	}
	return strings.TrimSpace(cc)
}
