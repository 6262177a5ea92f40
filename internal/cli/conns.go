package cli

import "errors"

// cmdConns is not built yet (issue 3).
func cmdConns(e *env, args []string) error {
	return errors.New("`mptcpkit conns` is not available in this build yet")
}
