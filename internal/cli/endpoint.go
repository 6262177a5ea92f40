package cli

import "errors"

// cmdEndpoint is not built yet (issue 2).
func cmdEndpoint(e *env, args []string) error {
	return errors.New("`mptcpkit endpoint` is not available in this build yet")
}
