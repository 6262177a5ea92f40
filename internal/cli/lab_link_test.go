package cli

import (
	"context"
	"strings"
	"testing"
)

// TestLabLinkImpairArgs: `lab link` takes --loss/--delay with or without
// down|up, and says what is wrong with bad values before touching a lab.
func TestLabLinkImpairArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"lab", "link", "1"}, 2, "and/or --loss/--delay"},
		{[]string{"lab", "link", "1", "--loss", "500"}, 2, `--loss: loss "500"`},
		{[]string{"lab", "link", "1", "--delay", "soon"}, 2, "--delay:"},
		{[]string{"lab", "link", "1", "sideways", "--loss", "1"}, 2, "down or up"},
		{[]string{"lab", "link", "1", "--loss", "5", "--name", "nosuchlb"}, 1, "nosuchlb"},
	} {
		_, stderr, code := runCLI(context.Background(), tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
