//go:build !mptcpkit_slim

package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/pm"
)

const daemonStatusHelp = `Usage:
  mptcpkit [-n NETNS] [-j] daemon status [--state PATH]

Show what the daemon manages: the endpoints it added, and for every address
whether it has an endpoint and why (or why not), from its state file.

Options:
  --state PATH   state file (default ` + daemon.DefaultStatePath + `:
                 the one of the current namespace's daemon, or with
                 -n NETNS of that namespace's)
  -j, --json     print the state file's JSON

Examples:
  mptcpkit daemon status
  mptcpkit -j daemon status --state /run/mptcpkit/lab1.json
`

func cmdDaemonStatus(e *env, args []string) error {
	const cmd = "daemon status"
	fs := newFlags(e, "daemon", daemonStatusHelp)
	state := fs.String("state", "", "state file")
	if err := parseFlags(fs, "daemon", args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("daemon", "%s: unexpected argument %q", cmd, fs.Arg(0))
	}
	if *state == "" {
		p, err := defaultStatePath(e)
		if err != nil {
			return err
		}
		*state = p
	}
	s, err := daemon.ReadState(*state)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no daemon state at %s: the daemon has not run (start it with `mptcpkit daemon`), or give its --state PATH", *state)
	}
	if err != nil {
		return err
	}
	if e.json {
		return daemonJSON(e.stdout, s)
	}
	writeDaemonStatus(e.stdout, s, time.Now())
	return nil
}

func daemonJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeDaemonStatus(w io.Writer, s *daemon.StateFile, now time.Time) {
	running := "not running"
	if s.PID > 0 && syscall.Kill(s.PID, 0) == nil {
		running = "running"
	}
	fmt.Fprintf(w, "daemon pid %d (%s), %s path manager, netns %s\n", s.PID, running, s.Mode, s.NetNS)
	fmt.Fprintf(w, "policy %s; state updated %s ago\n", s.Policy, now.Sub(s.Updated).Round(time.Second))
	if s.Limits != nil {
		fmt.Fprintf(w, "limits: subflows %d, add_addr_accepted %d\n", s.Limits.Subflows, s.Limits.AddAddrAccepted)
	}
	if s.LastError != "" {
		fmt.Fprintf(w, "last error: %s\n", s.LastError)
	}
	fmt.Fprintf(w, "\nendpoints it manages (%d):\n", len(s.Endpoints))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, ep := range s.Endpoints {
		fmt.Fprintf(tw, "  %s\tid %d\t%s\tdev %s\n", ep.Addr, ep.ID, ep.Flags, ep.Link)
	}
	tw.Flush()
	if len(s.Kernel) > 0 {
		fmt.Fprintf(w, "\nkernel endpoint table (%d of %d):\n", len(s.Kernel), pm.MaxEndpoints)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, k := range s.Kernel {
			owner := "foreign (left alone)"
			if k.Ours {
				owner = "ours"
			}
			fmt.Fprintf(tw, "  id %d\t%s\t%s\t%s\n", k.ID, k.Addr, k.Flags, owner)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\naddresses:\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, d := range s.Decisions {
		in := "out"
		if d.In {
			in = "in"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", in, d.Addr, d.Link, d.Reason)
	}
	tw.Flush()
	if len(s.LeftOut) > 0 {
		fmt.Fprintf(w, "\nleft out for lack of endpoint slots (the kernel holds 8): %s\n", strings.Join(s.LeftOut, ", "))
	}
	if len(s.Damping) > 0 {
		fmt.Fprintf(w, "\nflapping links:\n")
		for _, l := range s.Damping {
			held := ""
			if !l.HeldUntil.IsZero() {
				held = fmt.Sprintf(", held down until %s UTC", l.HeldUntil.UTC().Format("15:04:05.000"))
			}
			fmt.Fprintf(w, "  %s: %d flaps remembered, last hold-down %v%s\n", l.Link, l.Flaps, l.HoldDown, held)
		}
	}
	if len(s.Paths) > 0 {
		fmt.Fprintf(w, "\npaths (measured from their subflows):\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, p := range s.Paths {
			sel := "active"
			if p.Backup {
				sel = "backup (" + p.Why + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d subflows\trtt %v\tloss %.1f%%\t%.1f Mbit/s out\t%.1f Mbit/s in\t%s\n",
				p.Addr, p.Link, p.Subflows, p.RTT.Round(100*time.Microsecond), p.Loss, p.TxBps/1e6, p.RxBps/1e6, sel)
		}
		tw.Flush()
	}
}

// defaultStatePath is the state file of the daemon of the namespace -n
// names (or the current one).
func defaultStatePath(e *env) (string, error) {
	ns, err := e.openNetNS()
	if err != nil {
		return "", err
	}
	if ns != nil {
		defer ns.Close()
		return daemon.StatePathFor(ns.FD())
	}
	f, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return "", err
	}
	defer f.Close()
	return daemon.StatePathFor(int(f.Fd()))
}
