//go:build !mptcpkit_slim

package cli

import (
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
{{verbs}}
Examples:
  mptcpkit lab demo
  mptcpkit lab up --name l1 --paths 2 --rate 100mbit
  mptcpkit lab exec client --name l1 -- ping -c1 10.1.1.2
  mptcpkit -n lab:l1:client conns            # any command, inside the lab's client
  mptcpkit lab link 1 down --name l1
  mptcpkit lab down l1
`

// labCommand is `mptcpkit lab VERB`; its help lists the verbs from here.
func labCommand() *Command {
	c := &Command{
		Name:    "lab",
		Summary: "build multipath testbeds in network namespaces; `lab demo` shows the gain",
		Check:   labRefusesNetNS,
		Sub: []*Command{
			{Name: "demo", Summary: "build 2 x 100 Mbit, run TCP vs MPTCP, print/write a report, clean up", Help: labDemoHelp, Run: cmdLabDemo},
			{Name: "up", Summary: "build a lab (see 'mptcpkit lab up --help')", Help: labUpHelp, Run: cmdLabUp},
			{Name: "down", Summary: "remove a lab and everything it made", Help: labDownHelp, Run: cmdLabDown},
			{Name: "show", Aliases: []string{"list", "ls"}, Summary: "list labs and their paths", Help: labShowHelp, Run: cmdLabShow},
			{Name: "exec", Summary: "run a command inside the lab's client or server namespace", Help: labExecHelp, Run: cmdLabExec},
			{Name: "link", Summary: "set a path down or up (fault injection)", Help: labLinkHelp, Run: cmdLabLink},
			{Name: "failover", Summary: "long MPTCP transfer while a path goes down and comes back", Help: labFailoverHelp, Run: cmdLabFailover},
			{Name: "bench", Summary: "aggregation benchmark: N paths, TCP on one path vs MPTCP on all", Help: labBenchHelp, Run: cmdLabBench},
			// issue 5: the key-value experiment (lab_kv.go)
			{Name: "kv", Summary: "key-value experiment: redis over MPTCP vs TCP, clean and lossy paths", Help: labKVHelp, Run: cmdLabKV},
			// issue 11: block storage over NBD (lab_storage.go)
			{Name: "storage", Summary: "block storage over NBD: fio IOPS over TCP vs MPTCP (the NVMe/TCP table)", Help: labStorageHelp, Run: cmdLabStorage},
		},
	}
	var verbs strings.Builder
	for _, v := range visible(c.Sub) {
		fmt.Fprintf(&verbs, "  %-10s %s\n", v.Name, v.Summary)
	}
	c.Help = strings.Replace(labHelp, "{{verbs}}", verbs.String(), 1)
	list := strings.Join(names(visible(c.Sub)), ", ")
	c.NoVerb = "lab needs a verb (" + list + ")"
	c.VerbHint = list
	return c
}

// labRefusesNetNS refuses a global -n: labs make and name their own
// namespaces, so it would be accepted and ignored.
func labRefusesNetNS(e *env, verb string) error {
	if e.netns == "" {
		return nil
	}
	return usagef("lab", "lab %s does not take -n %s: labs make their own namespaces; name the lab with --name, and act inside it with `mptcpkit lab exec client|server --name NAME -- CMD` or `mptcpkit -n lab:NAME:client COMMAND`", verb, e.netns)
}

const labUpHelp = `Usage: mptcpkit lab up [--name NAME] [--paths N] [--rate R[,R...]]
                      [--loss P[,P...]] [--delay D[,D...]] [--queue PACKETS]
                      [--cc reno|bbr|cubic] [--dest]

Builds namespaces mk-NAME-client and mk-NAME-server joined by N paths;
'mptcpkit -n lab:NAME:client COMMAND' runs any command inside one.
Path P: client 10.L.P.1, server 10.L.P.2 (L = lab number, see 'lab show');
a path with --delay on a kernel without netem runs through a router
namespace mk-NAME-rP and its server address is 10.L.(100+P).2 instead
('lab show' and the "Try:" lines print the real addresses).
Each path is shaped in both directions (HTB rate R, pfifo of PACKETS).
The client gets one MPTCP subflow endpoint per extra path; both sides get
limits subflows 8, add_addr_accepted 8.

Options (one value for all paths, or one per path, comma-separated):
  --name NAME     lab name, 1-8 of [a-z0-9] (default lab)
  --paths N       number of paths, 1-8 (default 2)
  --rate R        rate per path in tc's units: 100mbit, 500kbit, 1gbit are
                  bits/s; 12mbps is BYTES/s as tc reads it (= 96mbit); a
                  number needs a unit (default 100mbit)
  --loss P        random loss per path in %, dropped at the receiver (default 0)
  --delay D       one-way delay per path with a unit, e.g. 20ms (netem, or a TUN delay
                  line in a router namespace where the kernel has no netem)
  --queue N       shaper queue in packets, 1-100000 (default 100)
  --cc NAME       TCP congestion control in both namespaces (reno, bbr, cubic);
                  widens the host's allowed list if needed, restored on down
  --dest          add a destination host behind the server: namespace
                  mk-NAME-dest (-n lab:NAME:dest), 10.L.200.2, one unshaped
                  link to the server's 10.L.200.1 - a target for 'proxy server',
                  so the proxy can be tried on one machine (the Try lines say how)

Examples:
  mptcpkit lab up --name l1 --paths 2
  mptcpkit lab up --name l2 --paths 2 --rate 100mbit,20mbit --loss 0,1%
  mptcpkit lab up --name l3 --paths 1 --delay 20ms --cc cubic
  mptcpkit lab up --name px --dest
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
	if note := labRateNote(fs.Lookup("rate").Value.String(), c.Rate); note != "" {
		fmt.Fprintln(e.stderr, note)
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
	self, note := selfCommand()
	fmt.Fprintln(e.stdout, "\nTry:")
	if note != "" {
		fmt.Fprintln(e.stdout, "  "+note)
	}
	fmt.Fprintf(e.stdout, "  %[1]s lab exec server --name %[2]s -- %[1]s bench server &\n  %[1]s -n lab:%[2]s:client bench client %[3]s --compare\n",
		self, st.Name, st.Paths[0].ServerAddr)
	if st.Dest != "" {
		fmt.Fprintf(e.stdout, `
Try the proxy: plain TCP from the client, one MPTCP connection over every path to
the server, plain TCP again to the destination host %[4]s:
  install -d -m 700 /etc/mptcpkit; test -s /etc/mptcpkit/proxy.key || (umask 077; head -c 32 /dev/urandom | base64 > /etc/mptcpkit/proxy.key)
  %[1]s -n lab:%[2]s:dest bench server &
  %[1]s -n lab:%[2]s:server proxy server --listen %[3]s:7000 --psk-file /etc/mptcpkit/proxy.key &
  %[1]s -n lab:%[2]s:client proxy client --server %[3]s:7000 --listen 127.0.0.1:5301 --to %[4]s:5301 --psk-file /etc/mptcpkit/proxy.key &
  %[1]s -n lab:%[2]s:client bench client 127.0.0.1 --tcp -t 5
`, self, st.Name, st.Paths[0].ServerAddr, st.DestAddr)
	}
	return nil
}

// labConfigFlags registers the lab-building flags on fs and returns a
// function that turns them into a lab.Config after parsing.
func labConfigFlags(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
	BoolVar(*bool, string, bool, string)
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
	var dest bool
	fs.BoolVar(&dest, "dest", false, "destination host behind the server")
	return func() (lab.Config, error) {
		c := lab.Config{Name: name, Paths: paths, Queue: queue, CC: cc, Dest: dest}
		if err := lab.CheckName(name); err != nil {
			return c, usagef("lab up", "--name: %v", err)
		}
		if queue < 1 || queue > 100_000 {
			return c, usagef("lab up", "--queue %d: want 1 to 100000 packets (the pfifo under each shaper; default %d)", queue, lab.DefaultQueue)
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

// labRateNote says how a --rate in tc's bytes-per-second units was read
// ("100mbps" is 800 Mbit/s in tc, often meant as 100 Mbit/s), or "".
func labRateNote(flag string, rates []uint64) string {
	if !lab.RateInBytes(flag) && !strings.Contains(strings.ToLower(flag), "bps,") {
		return ""
	}
	var got []string
	for _, r := range rates {
		got = append(got, lab.FormatRate(r))
	}
	return fmt.Sprintf("mptcpkit: note: --rate %s read as tc reads it, in BYTES per second: %s per path (write mbit for megabits/s)", flag, strings.Join(got, ","))
}

const labDownHelp = `Usage: mptcpkit lab down [NAME...] | --name NAME | --all [--force]

Removes a lab (default: lab) and everything it made: its delay line and any
process running in its namespaces or holding them open (such as
'mptcpkit -n mk-NAME-server bench server'), its nftables tables, its
namespaces with their veths, its state file; restores the host's
congestion-control allowance.
Works by name, also when the state file is gone. No error if nothing is left.
Name labs as arguments or with one --name, not both.

--all removes the labs you made (the creator is recorded at 'lab up': the
sudo caller's uid under sudo, else the process's uid). When other users'
labs exist, they are listed and kept; add --force to remove them too.

Examples:
  mptcpkit lab down
  mptcpkit lab down l1 l2
  mptcpkit lab down --all
  mptcpkit lab down --all --force
`

func cmdLabDown(e *env, args []string) error {
	fs := newFlags(e, "lab down", labDownHelp)
	all := fs.Bool("all", false, "remove every lab you made")
	force := fs.Bool("force", false, "with --all: also other users' labs")
	name := fs.String("name", "", "lab name")
	names, err := parseInterspersed(fs, "lab down", args)
	if err != nil {
		return err
	}
	switch {
	case *name != "" && len(names) > 0:
		return usagef("lab down", "lab down got both --name %s and %s: name the labs one way (`mptcpkit lab down %s` or `--name %s`)", *name, strings.Join(names, " "), strings.Join(names, " "), *name)
	case *all && (*name != "" || len(names) > 0):
		return usagef("lab down", "lab down --all takes no lab names: give names or --all")
	case *force && !*all:
		return usagef("lab down", "--force only goes with --all (named labs are removed whoever made them)")
	}
	if *name != "" {
		names = append(names, *name)
	}
	if *all {
		labs, err := lab.List()
		if err != nil {
			return err
		}
		me := lab.CallerUID()
		var others []string
		for _, s := range labs {
			if s.CreatorUID != me && !*force {
				who := s.Creator
				if who == "" {
					who = "uid " + strconv.Itoa(s.CreatorUID)
					if s.CreatorUID < 0 {
						who = "an unknown user"
					}
				}
				others = append(others, s.Name+" (made by "+who+")")
				continue
			}
			names = append(names, s.Name)
		}
		if len(others) > 0 {
			fmt.Fprintf(e.stderr, "mptcpkit: kept other users' labs: %s; add --force to remove them too\n", strings.Join(others, ", "))
		}
		if len(names) == 0 {
			fmt.Fprintln(e.stdout, "no labs of yours to remove")
			return nil
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
	*lab.Testbed
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
	var labs []*lab.Testbed
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
		v := labShow{Testbed: s, DelayLineRunning: lab.DelayLineRunning(s)}
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

func printLab(e *env, st *lab.Testbed) error {
	v := labShow{Testbed: st, DelayLineRunning: lab.DelayLineRunning(st)}
	v.Counters, _ = lab.Counters(st)
	return printLabShow(e, v)
}

func printLabShow(e *env, v labShow) error {
	st := v.Testbed
	cc := st.CCEffect
	if st.CC == "" {
		cc += " (namespace default)"
	}
	fmt.Fprintf(e.stdout, "lab %s (number %d, up since %s)\n", st.Name, st.Number, st.Created.Format(time.RFC3339))
	fmt.Fprintf(e.stdout, "  namespaces: %s, %s\n", st.Client, st.Server)
	if st.Dest != "" {
		fmt.Fprintf(e.stdout, "  destination host: %s, %s (via the server's %s)\n", st.Dest, st.DestAddr, st.DestGateway)
	}
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
	switch st.Loss {
	case "netem":
		fmt.Fprintln(e.stdout, "  loss: netem (at each end's egress)")
	case "nftables":
		fmt.Fprintf(e.stdout, "  loss: nftables table %s (random drops at each receiver; no netem in this kernel)\n", "mptcpkit_lab_"+st.Name)
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

const labExecHelp = `Usage: mptcpkit lab exec client|server|dest [--name NAME] -- CMD [ARGS...]

Runs CMD inside the lab's client or server namespace, or its destination
host's (lab up --dest), like ip netns exec,
with its standard streams, and exits with CMD's exit status.

Examples:
  mptcpkit lab exec client -- ping -c1 10.1.1.2
  mptcpkit lab exec server --name l1 -- mptcpkit bench server
  mptcpkit lab exec client --name l1 -- mptcpkit bench client 10.1.1.2 --compare
`

func cmdLabExec(e *env, args []string) error {
	if len(args) > 0 && isHelpWord(args[0]) {
		fmt.Fprint(e.stdout, labExecHelp)
		return nil
	}
	if len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "--" {
		return usagef("lab exec", "lab exec: unknown option %q (the side, client, server or dest, comes first; --name after it)", args[0])
	}
	if len(args) == 0 || (args[0] != "client" && args[0] != "server" && args[0] != "dest") {
		return usagef("lab exec", "lab exec needs client or server (or dest, for a lab made with --dest) first")
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
	switch side {
	case "server":
		ns = st.Server
	case "dest":
		if ns = st.Dest; ns == "" {
			return fmt.Errorf("lab %s has no destination host (make it with `mptcpkit lab up --name %s --dest`)", st.Name, st.Name)
		}
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

const labLinkHelp = `Usage: mptcpkit lab link PATH [down|up] [--loss PCT] [--delay D] [--name NAME]

Sets the client-side interface of path PATH (1-based) down or up, as if its
cable were pulled or plugged back, and/or changes the path's random loss
(both directions) and one-way delay on the live lab. A delay change needs a
path built with a delay (lab up --delay), whose delay line then follows it.

Examples:
  mptcpkit lab link 1 down
  mptcpkit lab link 1 up --name l1
  mptcpkit lab link 1 --loss 10 --delay 100ms     # degrade path 1
  mptcpkit lab link 1 --loss 0 --delay 1ms        # and heal it
`

func cmdLabLink(e *env, args []string) error {
	fs := newFlags(e, "lab link", labLinkHelp)
	name := fs.String("name", "lab", "lab name")
	lossArg := fs.String("loss", "", "loss percent")
	delayArg := fs.String("delay", "", "one-way delay")
	pos, err := parseInterspersed(fs, "lab link", args)
	if err != nil {
		return err
	}
	impair := *lossArg != "" || *delayArg != ""
	if len(pos) < 1 || len(pos) > 2 || (len(pos) == 2 && pos[1] != "up" && pos[1] != "down") || (len(pos) == 1 && !impair) {
		return usagef("lab link", "lab link needs PATH and down or up, and/or --loss/--delay, e.g. `mptcpkit lab link 1 down` or `mptcpkit lab link 1 --loss 5`")
	}
	p, err := strconv.Atoi(pos[0])
	if err != nil {
		return usagef("lab link", "path %q is not a number (paths count from 1)", pos[0])
	}
	var loss float64
	var delay time.Duration
	if *lossArg != "" {
		if loss, err = lab.ParseLoss(*lossArg); err != nil {
			return usagef("lab link", "--loss: %v", err)
		}
	}
	if *delayArg != "" {
		if delay, err = lab.ParseDelay(*delayArg); err != nil {
			return usagef("lab link", "--delay: %v", err)
		}
	}
	st, err := lab.Load(*name)
	if err != nil {
		return err
	}
	if p < 1 || p > len(st.Paths) {
		return usagef("lab link", "lab %s has paths 1 to %d, not %d", st.Name, len(st.Paths), p)
	}
	if len(pos) == 2 {
		if err := lab.SetLink(st, p, pos[1] == "up"); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "lab %s path %d (%s) is %s\n", st.Name, p, st.Paths[p-1].ClientIf, pos[1])
	}
	if impair {
		path := st.Paths[p-1]
		if *lossArg == "" {
			loss = path.Loss
		}
		if *delayArg == "" {
			delay = path.Delay
		}
		if err := lab.Impair(st, p, loss, delay); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "lab %s path %d: loss %g%%, delay %v each way\n", st.Name, p, loss, delay)
	}
	return nil
}

func labCCNote(cc string) string {
	if cc == "" {
		return "?"
	}
	return strings.TrimSpace(cc)
}
