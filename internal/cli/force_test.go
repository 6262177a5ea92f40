package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/force/bpfprog"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

func TestForceUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"force"}, "force needs --comm"},
		{[]string{"force", "--comm", "a", "--cgroup", "/x"}, "not both"},
		{[]string{"force", "--comm", "a", "extra"}, "unexpected argument"},
		{[]string{"force", "--bogus"}, `force: unknown option "--bogus"`},
	} {
		var out, errb bytes.Buffer
		err := Run(context.Background(), tc.args, &out, &errb)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tc.want) {
			t.Errorf("%v: got %v, want a usage error containing %q", tc.args, err, tc.want)
		}
	}
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"force", "--help"}, &out, &out); ExitCode(err, &out) != 0 || !strings.Contains(out.String(), "Examples:") {
		t.Errorf("force --help: %v %q", err, out.String())
	}
}

// TestForceKernel: where the kernel refuses the BPF program, force fails
// with the kernel's reason and points to `mptcpkit run`; where it allows it,
// force runs until its context is cancelled. A long name gets a warning.
func TestForceKernel(t *testing.T) {
	nstest.Require(t)
	m, err := bpfprog.NewMaps()
	if err != nil {
		t.Fatal(err)
	}
	p, loadErr := bpfprog.NewProgram(m)
	m.Close()
	if p != nil {
		p.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	err = Run(ctx, []string{"force", "--comm", "mptcpkit-test-a-very-long-name"}, &out, &errb)
	if !strings.Contains(errb.String(), `matching "mptcpkit-test-a"`) {
		t.Errorf("no truncation warning: %q", errb.String())
	}
	if loadErr == nil {
		if err != nil {
			t.Errorf("force on a kernel that allows BPF: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatal("force succeeded although the kernel refuses the program")
	}
	// Main prints "mptcpkit: " + err: it must read "mptcpkit: force needs BPF: ...",
	// not "mptcpkit: force: force needs BPF: ...".
	if !strings.HasPrefix(err.Error(), "force needs BPF: ") {
		t.Errorf("error %q does not start with %q", err, "force needs BPF: ")
	}
	// The CI host refuses trampolines; Debian's 6.1 (kernel matrix) has no
	// update_socket_protocol.
	why := "refused the BPF trampoline"
	if strings.Contains(loadErr.Error(), "has no function") {
		why = "has no function update_socket_protocol (it was added in Linux 6.6)"
	}
	for _, w := range []string{why, "mptcpkit run -- CMD"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}
