package cli

import "errors"

// cmdBench is not built yet (issue 4).
func cmdBench(e *env, args []string) error {
	return errors.New("`mptcpkit bench` is not available in this build yet")
}
