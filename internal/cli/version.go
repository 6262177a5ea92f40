package cli

import (
	"fmt"
	"runtime/debug"
)

func cmdVersion(e *env, args []string) error {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	if e.json {
		fmt.Fprintf(e.stdout, "{\"version\":%q}\n", v)
		return nil
	}
	fmt.Fprintf(e.stdout, "mptcpkit %s\n", v)
	return nil
}
