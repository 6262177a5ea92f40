package cli

import "errors"

// cmdProxy is not built yet (issue 7).
func cmdProxy(e *env, args []string) error {
	return errors.New("`mptcpkit proxy` is not available in this build yet")
}
