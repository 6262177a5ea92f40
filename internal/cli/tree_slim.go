//go:build mptcpkit_slim

package cli

import (
	"fmt"
	"strings"
)

// tree is the command tree of the slim build (-tags mptcpkit_slim): only
// the commands that mirror `ip mptcp` (endpoint, limits, monitor) and
// version, so that a call costs little more than ip's (docs/BENCHMARKS.md,
// "A slim build"). It links none of lab, force, proxy, bench or their
// dependencies; tree_full.go is the whole tree.
func tree() *Command {
	return &Command{
		Name:   "mptcpkit",
		Abbrev: true,
		Sub: []*Command{
			endpointCommand(),
			limitsCommand(),
			monitorCommand(),
			versionCommand(),
		},
	}
}

// topHelp is `mptcpkit --help` of the slim build; %s is the list of
// commands.
const topHelp = `mptcpkit — Multipath TCP on Linux (slim build: the ip mptcp commands only).

Usage:
  mptcpkit [-n NETNS] [-j] [-v] COMMAND [ARGS...]
  mptcpkit COMMAND --help

Global options (before COMMAND, like ip's):
  -n, --netns NAME   act inside network namespace NAME (/run/netns/NAME) or a path
  -j, --json         machine-readable JSON output
  -v, --verbose      say more about what is being done
  -h, --help         this help

Commands:
%s
Examples:
  mptcpkit endpoint add 10.0.2.1 dev eth1 subflow
  mptcpkit -n ns1 limits show

The full mptcpkit (built without -tags mptcpkit_slim) also has check, conns,
bench, lab, run, force, daemon, proxy and more.
`

// resolveNetNS refuses -n lab:NAME:SIDE: resolving it needs the lab
// package, which the slim build leaves out. Any other name is returned as
// is.
func resolveNetNS(ref string) (string, error) {
	if strings.HasPrefix(ref, "lab:") {
		return "", fmt.Errorf("namespace %q: lab namespaces need the full mptcpkit (this one is the slim build, with only endpoint, limits, monitor and version)", ref)
	}
	return ref, nil
}

// advice leaves msg as it is: the sentences it rewrites in the full build
// (advice.go) come from lab, force and bench, which the slim build does
// not link.
func advice(_ error, msg string) string { return msg }

// entryPoints: the slim build starts no copy of itself (no `run`, no lab
// delay line).
func entryPoints() []entryPoint { return nil }
