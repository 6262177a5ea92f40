package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "run needs a command"},
		{[]string{"run", "--"}, "run needs a command"},
		{[]string{"run", "--method", "ebpf", "--", "true"}, `unknown method "ebpf"`},
		{[]string{"run", "--bogus", "true"}, `run: unknown option "--bogus"`},
	} {
		var out bytes.Buffer
		err := Run(context.Background(), tc.args, &out, &out)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tc.want) {
			t.Errorf("%v: got %v, want a usage error containing %q", tc.args, err, tc.want)
		}
	}
	var out bytes.Buffer
	err := Run(context.Background(), []string{"run", "--help"}, &out, &out)
	if ExitCode(err, &out) != 0 || !strings.Contains(out.String(), "Examples:") || !strings.Contains(out.String(), "redis-server") {
		t.Errorf("run --help: %v %q", err, out.String())
	}
	// A missing command is 127, as in a shell, before anything is started.
	out.Reset()
	err = Run(context.Background(), []string{"run", "--method", "seccomp", "--", "/nonexistent/mptcpkit-test"}, &out, &out)
	if code := ExitCode(err, &out); code != 127 || !strings.Contains(out.String(), "command not found") {
		t.Errorf("missing command: exit %d, %q", code, out.String())
	}
}
