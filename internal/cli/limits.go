package cli

import "errors"

// cmdLimits is not built yet (issue 2).
func cmdLimits(e *env, args []string) error {
	return errors.New("`mptcpkit limits` is not available in this build yet")
}
