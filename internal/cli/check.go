package cli

import "errors"

// cmdCheck is not built yet (issue 2).
func cmdCheck(e *env, args []string) error {
	return errors.New("`mptcpkit check` is not available in this build yet")
}
