package cli

import (
	"fmt"

	"github.com/mptcpkit/mptcpkit/internal/buildinfo"
)

const versionHelp = `Usage: mptcpkit version [-j]
       mptcpkit --version

Prints this build's version: the one stamped by the package build
(-ldflags -X .../internal/buildinfo.stamped=VERSION), else the module version
recorded by 'go install github.com/mptcpkit/mptcpkit/cmd/mptcpkit@VERSION',
else the git commit, its time and whether the tree had changes (builds from
a checkout). With -j: {"version", "revision", "time", "modified", "go"}.

Examples:
  mptcpkit version
  mptcpkit -j version
`

func versionCommand() *Command {
	return &Command{Name: "version", Summary: "print the version", Help: versionHelp, Run: cmdVersion, Quick: true}
}

func cmdVersion(e *env, args []string) error {
	fs := newFlags(e, "version", versionHelp)
	if err := parseFlags(fs, "version", args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("version", "version takes no arguments (got %q)", fs.Arg(0))
	}
	in := buildinfo.Read()
	if e.json {
		return labJSON(e, in)
	}
	fmt.Fprintf(e.stdout, "mptcpkit %s\n", in)
	return nil
}
