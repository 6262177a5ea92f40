package cli

import "errors"

// cmdEnable is not built yet (issue 5).
func cmdEnable(e *env, args []string) error {
	return errors.New("`mptcpkit enable` is not available in this build yet")
}

// cmdDisable is not built yet (issue 5).
func cmdDisable(e *env, args []string) error {
	return errors.New("`mptcpkit disable` is not available in this build yet")
}
