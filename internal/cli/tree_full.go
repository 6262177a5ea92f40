//go:build !mptcpkit_slim

package cli

import (
	"github.com/mptcpkit/mptcpkit/lab"
)

// tree is mptcpkit's command tree (the full build; tree_slim.go is the
// one built with -tags mptcpkit_slim); its root is the program itself. The
// order of the commands is the order `mptcpkit --help` lists them in.
func tree() *Command {
	return &Command{
		Name:   "mptcpkit",
		Abbrev: true,
		Sub: []*Command{
			checkCommand(),
			endpointCommand(),
			limitsCommand(),
			monitorCommand(),
			connsCommand(),
			benchCommand(),
			labCommand(),
			runCommand(),
			forceCommand(),
			enableCommand(),
			disableCommand(),
			daemonCommand(),
			proxyCommand(),
			versionCommand(),
			completionCommand(),
			manCommand(),
		},
	}
}

// topHelp is `mptcpkit --help`; %s is the list of commands.
const topHelp = `mptcpkit — Multipath TCP on Linux, end to end.

Usage:
  mptcpkit [-n NETNS] [-j] [-v] COMMAND [ARGS...]
  mptcpkit COMMAND --help

Global options (before COMMAND, like ip's):
  -n, --netns NAME   act inside network namespace NAME (/run/netns/NAME), a path,
                     or lab:LAB:client / lab:LAB:server (a lab's namespaces)
  -j, --json         machine-readable JSON output
  -v, --verbose      say more about what is being done
  -h, --help         this help

Commands:
%s
Examples:
  mptcpkit lab demo                      # build 2 x 100 Mbit paths, show TCP vs MPTCP, clean up
  mptcpkit check                         # is MPTCP usable here, and what to fix
  mptcpkit endpoint add 10.0.2.1 dev eth1 subflow
  mptcpkit -n lab:l1:client limits show   # inside lab l1 (mptcpkit lab up --name l1)
`

// resolveNetNS turns -n's lab:NAME:client|server into the lab's
// namespace name; any other name is returned as is.
func resolveNetNS(ref string) (string, error) { return lab.ResolveNetNS(ref) }
