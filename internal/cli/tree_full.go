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

// resolveNetNS turns -n's lab:NAME:client|server into the lab's
// namespace name; any other name is returned as is.
func resolveNetNS(ref string) (string, error) { return lab.ResolveNetNS(ref) }
