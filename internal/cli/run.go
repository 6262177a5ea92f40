package cli

import "errors"

// cmdRun is not built yet (issue 5).
func cmdRun(e *env, args []string) error {
	return errors.New("`mptcpkit run` is not available in this build yet")
}
