package cli

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestEveryCommandRefusesUnknownOption runs every command and every verb
// its --help lists (the same list the man pages and completions are made
// from) with --bogus: each must refuse it in the one style, `CMD: unknown
// option "--bogus"` and a Try line, with exit 2 — or 255 for the ip-mptcp
// verbs (endpoint, limits, monitor), which keep ip's exit status for
// syntax errors. A command that silently accepts it (or starts running)
// fails here.
func TestEveryCommandRefusesUnknownOption(t *testing.T) {
	cmds := docCommands()
	if len(cmds) < 10 {
		t.Fatalf("only %d commands found", len(cmds))
	}
	n := 0
	for _, c := range cmds {
		lines := [][]string{{c.Name, "--bogus"}}
		for v := range c.VerbHelp {
			lines = append(lines, []string{c.Name, v, "--bogus"})
		}
		for _, args := range lines {
			n++
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, stderr, code := runCLI(ctx, args...)
			cancel()
			want := 2
			switch c.Name {
			case "endpoint", "limits", "monitor":
				want = 255
			}
			l := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != want || len(l) != 2 || !strings.HasPrefix(l[0], "mptcpkit: "+c.Name) ||
				!strings.Contains(l[0], `: unknown option "--bogus"`) || !strings.HasPrefix(l[1], "Try 'mptcpkit "+c.Name) {
				t.Errorf("mptcpkit %s: exit %d, stderr %q; want exit %d, `mptcpkit: %s...: unknown option \"--bogus\"` and a Try line",
					strings.Join(args, " "), code, stderr, want, c.Name)
			}
		}
	}
	t.Logf("%d command lines checked", n)
}

// TestNoArgCommandsRefuseExtraArgs: the commands and verbs that take no
// arguments refuse one (exit 2, or 255 for the ip-mptcp verbs) with a Try
// line, instead of ignoring it.
func TestNoArgCommandsRefuseExtraArgs(t *testing.T) {
	for _, args := range [][]string{
		{"version"}, {"check"}, {"limits", "show"}, {"monitor"}, {"conns"}, {"daemon"}, {"daemon", "status"},
		{"lab", "demo"}, {"lab", "bench"}, {"lab", "kv"}, {"lab", "storage"}, {"lab", "failover"},
		{"bench", "server"}, {"proxy", "server"}, {"proxy", "client"}, {"proxy", "convert"}, {"completion", "bash"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, stderr, code := runCLI(ctx, append(args, "stray")...)
		cancel()
		want := 2
		if args[0] == "limits" || args[0] == "monitor" {
			want = 255
		}
		l := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != want || len(l) != 2 || !strings.Contains(l[0], `"stray"`) || !strings.HasPrefix(l[1], "Try 'mptcpkit "+args[0]) {
			t.Errorf("mptcpkit %s stray: exit %d, stderr %q; want exit %d, an error naming \"stray\" and a Try line", strings.Join(args, " "), code, stderr, want)
		}
	}
}
