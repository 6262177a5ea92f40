package cli

import "errors"

// cmdDaemon is not built yet (issue 6).
func cmdDaemon(e *env, args []string) error {
	return errors.New("`mptcpkit daemon` is not available in this build yet")
}
