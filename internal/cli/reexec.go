package cli

import "os"

// entryPoint is a process mptcpkit starts of itself for its own use, not a
// command anyone types: the environment variable env marks it (or, with
// byArgv, its argv alone), and Main runs main instead of the command tree.
type entryPoint struct {
	name string
	env  string
	// argv is what follows argv[0] when mptcpkit starts it (what ps
	// shows); main gets the arguments after it.
	argv   []string
	byArgv bool
	main   func(args []string) int
}

// reexecEntry returns the entry point this process was started as, if
// any, and its arguments.
func reexecEntry(args []string) (entryPoint, []string, bool) {
	for _, ep := range entryPoints() {
		if os.Getenv(ep.env) == "" && !(ep.byArgv && hasPrefix(args, ep.argv)) {
			continue
		}
		if hasPrefix(args, ep.argv) {
			args = args[len(ep.argv):]
		}
		return ep, args, true
	}
	return entryPoint{}, nil, false
}

func hasPrefix(args, prefix []string) bool {
	if len(args) < len(prefix) {
		return false
	}
	for i, p := range prefix {
		if args[i] != p {
			return false
		}
	}
	return true
}
