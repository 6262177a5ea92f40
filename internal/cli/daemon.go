//go:build !mptcpkit_slim

package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/policy"
)

// defaultPolicyPath is read when it exists and --policy is not given.
const defaultPolicyPath = "/etc/mptcpkit/daemon.toml"

const daemonHelp = `Usage:
  mptcpkit [-n NETNS] [-v] daemon [--policy FILE] [--state PATH] [--metrics ADDR] [--http ADDR] [--coexist]
  mptcpkit daemon --check-config FILE
  mptcpkit [-j] daemon status [--state PATH]

Keep the kernel's MPTCP endpoints in line with the network, like mptcpd:
every address the policy allows gets an endpoint, on the interface it lives
on, with the policy's flags; a removed address or a link that loses carrier
loses its endpoint, and gets it back when it returns (live connections get
their subflow back). Only endpoints the daemon added are touched (remembered
in the state file) unless the policy says owner = "all". With
net.mptcp.path_manager=userspace it creates subflows per connection instead.

Without a policy file (and no ` + defaultPolicyPath + `) every up,
non-loopback, non-link-local address gets a subflow endpoint and the
subflows limit is raised to the number of endpoints. docs/policy.example.toml
explains every key.

Signals: SIGHUP re-reads the policy (a bad file keeps the running one);
SIGTERM/SIGINT remove the endpoints it added (remove_on_exit) and exit.

Options:
  --policy FILE        policy file (TOML, version = 1)
  --check-config FILE  validate FILE, print what it says, change nothing
  --state PATH         state file (default ` + daemon.DefaultStatePath + `:
                       one per network namespace)
  --metrics ADDR       serve Prometheus metrics at http://ADDR/metrics
                       (default ` + daemon.DefaultMetricsAddr + `; "" turns them off)
  --http ADDR          serve the live status page (paths, endpoints, their
                       quality, per-subflow throughput graphs) at
                       http://ADDR/; a port alone means loopback (off by
                       default)
  --coexist            run although NetworkManager or mptcpd manage MPTCP
                       endpoints here, staying off their interfaces
  --interval D         safety-net reconcile period (default 30s)

Examples:
  mptcpkit daemon --check-config /etc/mptcpkit/daemon.toml
  mptcpkit -v daemon --policy /etc/mptcpkit/daemon.toml
  mptcpkit -n lab:l1:client daemon --state /run/mptcpkit/lab1.json --metrics 127.0.0.1:9809
  mptcpkit daemon --http 8080    # status page at http://127.0.0.1:8080/
  mptcpkit daemon status
  kill -HUP $(pidof mptcpkit)     # reload the policy
`

// daemonCommand is `mptcpkit daemon [OPTIONS]` and `mptcpkit daemon status`.
func daemonCommand() *Command {
	return &Command{
		Name:    "daemon",
		Summary: "keep MPTCP endpoints in line with the network (like mptcpd)",
		Help:    daemonHelp,
		Run:     cmdDaemon,
		Sub:     []*Command{{Name: "status", Help: daemonStatusHelp, Run: cmdDaemonStatus}},
	}
}

func cmdDaemon(e *env, args []string) error {
	const cmd = "daemon"
	fs := newFlags(e, cmd, daemonHelp)
	policyPath := fs.String("policy", "", "policy file")
	fs.StringVar(policyPath, "config", "", "policy file")
	check := fs.String("check-config", "", "validate a policy file")
	state := fs.String("state", "", "state file")
	metrics := fs.String("metrics", daemon.DefaultMetricsAddr, "metrics address")
	httpAddr := fs.String("http", "", "status page address")
	coexist := fs.Bool("coexist", false, "coexist with NetworkManager/mptcpd")
	interval := fs.Duration("interval", 30*time.Second, "reconcile period")
	if err := parseFlags(fs, cmd, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(cmd, "daemon: unexpected argument %q (the only sub-command is `status`)", fs.Arg(0))
	}
	if *check != "" {
		if *policyPath != "" {
			return usagef(cmd, "daemon: --check-config FILE validates FILE and runs nothing; drop --policy %s (or check it: --check-config %s)", *policyPath, *policyPath)
		}
		return checkConfig(e, *check)
	}
	if *httpAddr != "" {
		if _, err := daemon.StatusAddr(*httpAddr); err != nil {
			return usagef(cmd, "daemon: %v", err)
		}
	}
	if *interval < time.Second {
		return usagef(cmd, "daemon: --interval %v is too short; use 1s or more", *interval)
	}

	pol := policy.Default()
	if *policyPath == "" {
		if _, err := os.Stat(defaultPolicyPath); err == nil {
			*policyPath = defaultPolicyPath
		}
	}
	if *policyPath != "" {
		p, err := policy.Load(*policyPath)
		if err != nil {
			return fmt.Errorf("policy not loaded (check it with `mptcpkit daemon --check-config %s`):\n%w", *policyPath, err)
		}
		pol = p
	}
	ns, err := e.openNetNS()
	if err != nil {
		return err
	}
	cfg := daemon.Config{
		Policy: pol, PolicyPath: *policyPath, StatePath: *state, Logger: e.log,
		Coexist: *coexist, Interval: *interval, MetricsAddr: *metrics, HTTPAddr: *httpAddr,
	}
	if ns != nil {
		defer ns.Close()
		cfg.NetNS = ns.FD()
		cfg.NetNSName = e.netns
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-hup:
				select {
				case reload <- struct{}{}:
				default:
				}
			case <-stop:
				return
			}
		}
	}()
	cfg.Reload = reload
	return daemon.Run(e.ctx, cfg)
}

func checkConfig(e *env, path string) error {
	// Reading may block (a FIFO, a hung network file system): SIGINT and
	// SIGTERM, which cancel e.ctx, must still end the command.
	type loaded struct {
		p   *policy.Policy
		err error
	}
	done := make(chan loaded, 1)
	go func() {
		p, err := policy.Load(path)
		done <- loaded{p, err}
	}()
	var p *policy.Policy
	var err error
	select {
	case l := <-done:
		p, err = l.p, l.err
	case <-e.ctx.Done():
		return fmt.Errorf("daemon --check-config %s: interrupted while reading it", path)
	}
	var pe *policy.Error
	if err != nil && !errors.As(err, &pe) {
		return err // could not read it (missing, unreadable): not "not a valid policy"
	}
	if err != nil {
		var lines []string
		for _, x := range unjoin(err) {
			lines = append(lines, "  "+x.Error())
		}
		return fmt.Errorf("%s is not a valid policy:\n%s", path, strings.Join(lines, "\n"))
	}
	if e.json {
		return daemonJSON(e.stdout, p)
	}
	fmt.Fprint(e.stdout, p.Summary())
	fmt.Fprintf(e.stdout, "%s is valid.\n", path)
	return nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
