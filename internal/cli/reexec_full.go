//go:build !mptcpkit_slim

package cli

import (
	"fmt"
	"os"

	"github.com/mptcpkit/mptcpkit/force"
	"github.com/mptcpkit/mptcpkit/lab"
)

// runArgv is the argv of the `run` shim and keeper, before the shim's
// PATH ARGV0 ARGS...
var runArgv = []string{"run"}

// entryPoints are every re-executed mptcpkit, in the order they are
// checked.
func entryPoints() []entryPoint {
	return []entryPoint{
		{name: "run keeper", env: force.KeeperEnv, argv: runArgv, main: keeperMain},
		{name: "run shim", env: force.ShimEnv, argv: runArgv, main: shimMain},
		// lab starts it as `EXE lab delayline --name NAME SPEC...` (Down
		// finds it by that argv, which also names it without the env).
		{name: "lab delay line", env: lab.DelayLineEnv, argv: []string{"lab", "delayline"}, byArgv: true, main: lab.DelayLineMain},
	}
}

// selfArgs is the argv (argv[0] included) the `run` supervisor starts
// the shim and the keeper with.
func selfArgs() []string { return append([]string{"mptcpkit"}, runArgv...) }

// shimMain is the `run` shim: it installs the seccomp filter and execs
// the command, returning only on failure.
func shimMain(args []string) int {
	code, err := force.Shim(args)
	fmt.Fprintf(os.Stderr, "mptcpkit run: %v\n", err)
	return code
}

// keeperMain is the keeper of a `run` whose supervisor may be killed.
func keeperMain([]string) int {
	code, err := force.Keeper()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mptcpkit run (keeper): %v\n", err)
	}
	return code
}
