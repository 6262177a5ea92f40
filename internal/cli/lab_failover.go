package cli

import "errors"

func cmdLabFailover(e *env, args []string) error { return errors.New("lab failover: not yet") }
func cmdLabBench(e *env, args []string) error    { return errors.New("lab bench: not yet") }
