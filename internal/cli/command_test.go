package cli

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/force"
	"github.com/mptcpkit/mptcpkit/lab"
)

// TestTreeHelpIsWhatHelpPrints: the help the tree declares for each
// command and verb (which the man pages and completions are made from) is
// byte for byte what `--help` prints, reached by every name and alias.
func TestTreeHelpIsWhatHelpPrints(t *testing.T) {
	ctx := context.Background()
	for _, c := range visible(tree().Sub) {
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			if got, _, code := runCLI(ctx, n, "--help"); code != 0 || got != c.Help {
				t.Errorf("mptcpkit %s --help: exit %d, printed %.60q...; want the tree's help of %s", n, code, got, c.Name)
			}
		}
		for _, v := range visible(c.Sub) {
			if v.Run == nil {
				continue // a word its command parses (limits set): one help
			}
			for _, n := range append([]string{v.Name}, v.Aliases...) {
				if got, _, code := runCLI(ctx, c.Name, n, "--help"); code != 0 || got != v.Help {
					t.Errorf("mptcpkit %s %s --help: exit %d, printed %.60q...; want the tree's help of %s %s", c.Name, n, code, got, c.Name, v.Name)
				}
			}
		}
	}
}

// TestTopLevelAbbreviations: as in ip, an unambiguous prefix names a
// command, and among several the one ip-mptcp verb wins (e, en, l, m).
func TestTopLevelAbbreviations(t *testing.T) {
	for word, want := range map[string]string{
		"e": "endpoint", "en": "endpoint", "endp": "endpoint", "ep": "endpoint",
		"l": "limits", "m": "monitor", "la": "lab", "mo": "monitor", "ma": "man", "v": "version",
	} {
		c, err := lookupCommand(word)
		if err != nil || c.Name != want {
			t.Errorf("lookupCommand(%q) = %v, %v; want %s", word, c, err, want)
		}
	}
	for word, want := range map[string]string{
		"c":    `command "c" is ambiguous: check, conns, completion`,
		"d":    `command "d" is ambiguous: disable, daemon`,
		"x":    `unknown command "x"`,
		"help": `unknown command "help"`, // Run answers `help` before the lookup
	} {
		if _, err := lookupCommand(word); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("lookupCommand(%q) = %v; want %q", word, err, want)
		}
	}
}

// TestReexecEntry: a re-executed mptcpkit is recognised by its
// environment (the keeper before the shim), gets the arguments after its
// argv, and an ordinary command line is no entry point.
func TestReexecEntry(t *testing.T) {
	for _, env := range []string{force.ShimEnv, force.KeeperEnv, lab.DelayLineEnv} {
		t.Setenv(env, "")
	}
	if ep, _, ok := reexecEntry([]string{"run", "--", "true"}); ok {
		t.Fatalf("`run -- true` taken for entry point %s", ep.name)
	}
	for _, tt := range []struct {
		env  []string
		args []string
		name string
		rest []string
	}{
		{[]string{force.ShimEnv}, []string{"run", "/bin/true", "true"}, "run shim", []string{"/bin/true", "true"}},
		{[]string{force.ShimEnv, force.KeeperEnv}, []string{"run"}, "run keeper", []string{}},
		{[]string{lab.DelayLineEnv}, []string{"lab", "delayline", "--name", "l1"}, "lab delay line", []string{"--name", "l1"}},
		{nil, []string{"lab", "delayline", "--name", "l1"}, "lab delay line", []string{"--name", "l1"}},
	} {
		for _, env := range tt.env {
			t.Setenv(env, "x")
		}
		ep, rest, ok := reexecEntry(tt.args)
		if !ok || ep.name != tt.name || !slices.Equal(rest, tt.rest) {
			t.Errorf("env %v, args %q: entry %q, %q, %v; want %q, %q", tt.env, tt.args, ep.name, rest, ok, tt.name, tt.rest)
		}
		for _, env := range tt.env {
			t.Setenv(env, "")
		}
	}
	if got := selfArgs(); !slices.Equal(got, []string{"mptcpkit", "run"}) {
		t.Errorf("selfArgs() = %q, want the argv the shim always had", got)
	}
}
