package cli

import (
	"context"
	"strings"
	"testing"
)

// TestLabStorageUsage: bad flags get one clear error naming the flag (exit
// 2) before anything is built.
func TestLabStorageUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"lab", "storage", "--paths", "9"}, "--paths 9: want 1 to 8"},
		{[]string{"lab", "storage", "--rate", "fast"}, "--rate"},
		{[]string{"lab", "storage", "--loss", "120"}, "--loss"},
		{[]string{"lab", "storage", "-t", "0"}, "-t 0: want 1 to 3600 seconds"},
		{[]string{"lab", "storage", "--client", "iscsi"}, `--client "iscsi": want libnbd or kernel`},
		{[]string{"lab", "storage", "--name", "Bad_Name"}, "--name"},
		{[]string{"lab", "storage", "--lab", "Bad_Name"}, "--lab"},
		{[]string{"lab", "storage", "extra"}, `takes no arguments (got "extra")`},
	} {
		out, errs, code := runCLI(context.Background(), c.args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 and %q", c.args, code, errs, out, c.want)
		}
	}
	out, _, code := runCLI(context.Background(), "lab", "storage", "--help")
	if code != 0 || !strings.Contains(out, "4k random reads, 4 jobs, iodepth 256") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
}
