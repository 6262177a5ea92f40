package cli

import "errors"

// cmdLab is not built yet (issue 4).
func cmdLab(e *env, args []string) error {
	return errors.New("`mptcpkit lab` is not available in this build yet")
}
