package cli

import "errors"

// cmdMonitor is not built yet (issue 2).
func cmdMonitor(e *env, args []string) error {
	return errors.New("`mptcpkit monitor` is not available in this build yet")
}
