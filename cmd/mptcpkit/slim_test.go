package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// The slim build (-tags mptcpkit_slim) has only the commands that mirror
// `ip mptcp` (endpoint, limits, monitor) and version, so that a call costs
// little more than ip's (issue 12 point 5; docs/BENCHMARKS.md, "A slim
// build"). These tests keep it slim and keep it the same CLI.

// slimTag is the build tag of the slim build.
const slimTag = "mptcpkit_slim"

// slimCommands are the commands the slim build has, in help order.
var slimCommands = []string{"endpoint", "limits", "monitor", "version"}

// heavyInSlim matches the packages the slim build must not link.
var heavyInSlim = regexp.MustCompile(`^(github\.com/cilium/ebpf|github\.com/google/nftables|github\.com/vishvananda/|github\.com/pelletier/go-toml|net/http|crypto/tls|` +
	regexp.QuoteMeta(module) + `/(lab|force|proxy|bench|daemon|doctor|policy|sockdiag)(/|$))`)

func TestSlimLinksNothingHeavy(t *testing.T) {
	if v := os.Getenv("MPTCPKIT_VM"); v != "" {
		t.Skipf("kernel matrix guest (%s) has no go toolchain; this build property is checked on the host", v)
	}
	deps := goListDeps(t, "-tags", slimTag)
	for _, p := range deps {
		if heavyInSlim.MatchString(p) {
			t.Errorf("the slim build (-tags %s) links %s", slimTag, p)
		}
	}
	// The check means something only if the full build links them.
	full := goListDeps(t)
	for _, want := range []string{"github.com/cilium/ebpf", "net/http", module + "/lab"} {
		if !slices.Contains(full, want) {
			t.Errorf("the full build does not link %s: is heavyInSlim out of date?", want)
		}
	}
}

func goListDeps(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append(append([]string{"list", "-deps"}, args...), ".")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %v: %v\n%s", args, err, stderr.Bytes())
	}
	return strings.Fields(string(out))
}

// buildTagged builds ./cmd/mptcpkit with tags into dir.
func buildTagged(t *testing.T, dir, name string, tags ...string) string {
	t.Helper()
	exe := filepath.Join(dir, name)
	args := []string{"build", "-o", exe}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return exe
}

type slimResult struct {
	stdout, stderr string
	code           int
}

func runExe(t *testing.T, exe string, args ...string) slimResult {
	t.Helper()
	cmd := exec.Command(exe, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := slimResult{stdout.String(), stderr.String(), 0}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", exe, args, err)
	}
	return r
}

// TestSlimSameAsFull runs the slim and the full binary on the same
// commands in a throw-away namespace and wants the same stdout, stderr and
// exit status from both.
func TestSlimSameAsFull(t *testing.T) {
	if v := os.Getenv("MPTCPKIT_VM"); v != "" {
		t.Skipf("kernel matrix guest (%s) has no go toolchain", v)
	}
	ns := nstest.New(t, "slim")
	dir := t.TempDir()
	full := buildTagged(t, dir, "mptcpkit")
	slim := buildTagged(t, dir, "mptcpkit-slim", slimTag)

	// An endpoint to show, and to add again (refused by the kernel).
	if r := runExe(t, full, "-n", ns.Name, "endpoint", "add", "10.9.8.7", "id", "7", "signal"); r.code != 0 {
		t.Fatalf("endpoint add: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if r := runExe(t, full, "-n", ns.Name, "limits", "set", "subflows", "3", "add_addr_accepted", "2"); r.code != 0 {
		t.Fatalf("limits set: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}

	for _, tc := range []struct {
		args []string
		code int // what both must exit with
	}{
		{[]string{"limits", "show"}, 0},
		{[]string{"-j", "limits", "show"}, 0},
		{[]string{"limits", "-j"}, 0},
		{[]string{"endpoint", "show"}, 0},
		{[]string{"-j", "endpoint", "show"}, 0},
		{[]string{"endpoint", "add", "10.9.8.7", "id", "7", "signal"}, 2},
		{[]string{"endpoint", "add", "10.9.8.300"}, 255},
		{[]string{"limits", "set", "subflows", "nine"}, 255},
		{[]string{"monitor", "--help"}, 0},
		{[]string{"limits", "--help"}, 0},
		{[]string{"endpoint", "--help"}, 0},
		{[]string{"version"}, 0},
		{[]string{"-j", "version"}, 0},
	} {
		args := tc.args
		if !slices.Contains(args, "--help") && args[0] != "version" && args[1] != "version" {
			args = append([]string{"-n", ns.Name}, args...)
		}
		want := runExe(t, full, args...)
		got := runExe(t, slim, args...)
		if want.code != tc.code {
			t.Errorf("full mptcpkit %s: exit %d, want %d (stderr %q)", strings.Join(args, " "), want.code, tc.code, want.stderr)
		}
		if got != want {
			t.Errorf("mptcpkit %s: slim build differs from the full one:\nslim: exit %d\nstdout:\n%s\nstderr:\n%s\nfull: exit %d\nstdout:\n%s\nstderr:\n%s",
				strings.Join(args, " "), got.code, got.stdout, got.stderr, want.code, want.stdout, want.stderr)
		}
	}

	// The help lists exactly the slim commands; the full binary's lists more.
	r := runExe(t, slim, "--help")
	if r.code != 0 {
		t.Errorf("slim --help: exit %d: %s", r.code, r.stderr)
	}
	if got := helpCommands(r.stdout); !slices.Equal(got, slimCommands) {
		t.Errorf("slim --help lists %v, want %v:\n%s", got, slimCommands, r.stdout)
	}
	if got := helpCommands(runExe(t, full, "--help").stdout); len(got) <= len(slimCommands) {
		t.Errorf("full --help lists only %v", got)
	}
	// A command the slim build leaves out is unknown to it.
	if r := runExe(t, slim, "lab", "show"); r.code == 0 || !strings.Contains(r.stderr, `unknown command "lab"`) {
		t.Errorf("slim lab show: exit %d, stderr %q; want an unknown command", r.code, r.stderr)
	}
}

// helpCommands returns the command names of the Commands: section of
// mptcpkit --help.
func helpCommands(help string) []string {
	_, rest, ok := strings.Cut(help, "\nCommands:\n")
	if !ok {
		return nil
	}
	var out []string
	for _, line := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		out = append(out, strings.Fields(line)[0])
	}
	return out
}
