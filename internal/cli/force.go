package cli

import "errors"

// cmdForce is not built yet (issue 5).
func cmdForce(e *env, args []string) error {
	return errors.New("`mptcpkit force` is not available in this build yet")
}
