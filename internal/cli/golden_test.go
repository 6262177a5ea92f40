package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// updateGolden rewrites the golden files under testdata/ instead of
// comparing: go test ./internal/cli -run TestX -update
var updateGolden = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got with testdata/path, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	p := filepath.Join("testdata", path)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; -update rewrites it):\n%s", p, diff)
	}
}

// runCLI runs one mptcpkit command line the way Main does and returns what
// it printed and its exit status.
func runCLI(ctx context.Context, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	err := Run(ctx, args, &out, &errb)
	code = ExitCode(err, &errb)
	return out.String(), errb.String(), code
}

// transcript runs each command line and writes it down like a shell
// session: "$ mptcpkit ARGS", its output, its exit status. r rewrites
// names that change from run to run (namespace names).
func transcript(t *testing.T, r *strings.Replacer, cmds [][]string) string {
	t.Helper()
	var b strings.Builder
	for _, args := range cmds {
		out, errs, code := runCLI(context.Background(), args...)
		b.WriteString("$ mptcpkit " + strings.Join(args, " ") + "\n")
		b.WriteString(out)
		b.WriteString(errs)
		fmt.Fprintf(&b, "[exit %d]\n\n", code)
	}
	s := b.String()
	if r != nil {
		s = r.Replace(s)
	}
	return s
}
