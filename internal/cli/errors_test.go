package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// TestUnknownOptionOneStyle: every command says `CMD: unknown option "X"`
// the same way, with the X the user typed, and points at its --help.
func TestUnknownOptionOneStyle(t *testing.T) {
	for _, args := range [][]string{
		{"conns", "--bogus"},
		{"bench", "server", "--bogus"},
		{"bench", "client", "h", "--bogus"},
		{"lab", "up", "--bogus"},
		{"lab", "show", "--bogus"},
		{"daemon", "--bogus"},
		{"endpoint", "show", "--bogus"},
		{"monitor", "--bogus"},
		{"proxy", "server", "--bogus"},
		{"run", "--bogus", "true"},
		{"force", "-bogus"},
	} {
		_, stderr, code := runCLI(context.Background(), args...)
		bogus := args[len(args)-1]
		if bogus == "true" {
			bogus = args[1]
		}
		cmd := strings.Join(args[:len(args)-1], " ")
		if args[0] == "bench" && args[1] == "client" {
			cmd = "bench client"
		} else if args[0] == "run" {
			cmd = "run"
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		want := "unknown option \"" + bogus + "\""
		wantCode := 2
		if args[0] == "endpoint" || args[0] == "monitor" {
			wantCode = 255 // ip's exit status for syntax errors
		}
		if code != wantCode || len(lines) != 2 || !strings.Contains(lines[0], want) || !strings.HasPrefix(lines[1], "Try 'mptcpkit "+cmd) {
			t.Errorf("%v: exit %d, stderr %q; want %d, a line with %s and a Try line", args, code, stderr, wantCode, want)
		}
		if strings.Contains(stderr, "flag provided") {
			t.Errorf("%v: Go's flag wording leaked: %q", args, stderr)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "client", "h", "-P"}, "bench client: option -P needs a value"},
		{[]string{"conns", "--interval", "soon", "--watch"}, `conns: option --interval: invalid value "soon" (parse error)`},
	} {
		_, stderr, _ := runCLI(context.Background(), tc.args...)
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr %q, want %q", tc.args, stderr, tc.want)
		}
	}
}

// TestErrorsNoNoise: a clear message about a missing namespace or lab ends
// there, without Go's ": file does not exist".
func TestErrorsNoNoise(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "mk-no-such-ns-" + t.Name(), "conns"},
		{"lab", "show", "nosuchlab" + t.Name()},
	} {
		_, stderr, code := runCLI(context.Background(), args...)
		if code != 1 || strings.Contains(stderr, "file does not exist") || !strings.Contains(stderr, "no") {
			t.Errorf("%v: exit %d, stderr %q; want 1 without \"file does not exist\"", args, code, stderr)
		}
	}
}

// TestErrorsPermission runs commands without any capability (as nobody,
// via setpriv) and wants "needs root (CAP_NET_ADMIN)" instead of the raw
// EPERM/EACCES text.
func TestErrorsPermission(t *testing.T) {
	ns := nstest.New(t, "perm")
	run := func(args ...string) (string, int) {
		cmd := ns.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--",
			os.Args[0], "-test.run=^TestDaemonHelperProcess$", "--"}, args...)...)
		cmd.Env = append(os.Environ(), "MKT_DAEMON_HELPER=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stderr.String(), code
	}
	for _, args := range [][]string{
		{"lab", "up", "--name", "perm" + strings.ToLower(t.Name()[len(t.Name())-4:])},
		{"daemon"},
		{"endpoint", "add", "10.9.9.9", "dev", "lo", "subflow"},
	} {
		stderr, code := run(args...)
		want := 1
		if args[0] == "endpoint" {
			want = 2 // the ip-mptcp verbs exit 2 when the kernel refuses, as ip does
		}
		if code != want || !strings.Contains(stderr, "needs root (CAP_NET_ADMIN)") && !strings.Contains(stderr, "needs CAP_NET_ADMIN") {
			t.Errorf("%v unprivileged: exit %d, stderr %q; want %d and \"needs root (CAP_NET_ADMIN)\"", args, code, stderr, want)
		}
		if strings.Contains(stderr, "operation not permitted") || strings.Contains(stderr, "permission denied") {
			t.Errorf("%v unprivileged: raw errno text in %q", args, stderr)
		}
	}
}

// TestPermissionOnUserFile: EACCES on a user's own file (a key) is about
// the file's mode and keeps its message; under /run it needs root.
func TestPermissionOnUserFile(t *testing.T) {
	e := &env{}
	keyErr := &fs.PathError{Op: "open", Path: "/home/u/key", Err: syscall.EACCES}
	if got := e.friendly([]string{"proxy", "server"}, keyErr); got.Error() != keyErr.Error() {
		t.Errorf("user file: %q, want it unchanged", got)
	}
	runErr := &fs.PathError{Op: "open", Path: "/run/mptcpkit/lab/x.json", Err: syscall.EACCES}
	got := e.friendly([]string{"lab", "up"}, runErr).Error()
	if want := "lab up needs root (CAP_NET_ADMIN): run it as root or with sudo (open /run/mptcpkit/lab/x.json)"; got != want {
		t.Errorf("system file: %q, want %q", got, want)
	}
	if !errors.Is(e.friendly([]string{"lab", "up"}, runErr), fs.ErrPermission) {
		t.Errorf("the reworded error lost its cause")
	}
}

// TestNamespaceFixes: fixes name the namespace given with -n.
func TestNamespaceFixes(t *testing.T) {
	e := &env{netns: "mk-x-client"}
	if got, want := e.nsFixes("disabled: net.mptcp.enabled=0 (sysctl -w net.mptcp.enabled=1)"), "disabled: net.mptcp.enabled=0 (ip netns exec mk-x-client sysctl -w net.mptcp.enabled=1)"; got != want {
		t.Errorf("nsFixes = %q, want %q", got, want)
	}
	if got := (&env{}).sysctlFix("net.mptcp.enabled=1"); got != "sysctl -w net.mptcp.enabled=1" {
		t.Errorf("sysctlFix without -n = %q", got)
	}
}

// TestJSONLogs: with -j, logs on stderr are JSON objects, one per line,
// also when -j comes after the command name.
func TestJSONLogs(t *testing.T) {
	ns := nstest.New(t, "jlog")
	ns.Sysctl(t, "net.mptcp.enabled", "0")
	for _, args := range [][]string{
		{"-n", ns.Name, "-j", "bench", "server", "--port", "5409"},
		{"-n", ns.Name, "bench", "server", "--port", "5409", "-j"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb bytes.Buffer
		done := make(chan error, 1)
		go func() { done <- Run(ctx, args, &out, &errb) }()
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(ns.Run(t, "ss", "-Htln"), ":5409") && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
		if errb.Len() == 0 {
			t.Fatalf("%v: no log line (the TCP listener warning)", args)
		}
		for _, l := range lines {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil || m["level"] != "WARN" || m["msg"] == nil {
				t.Errorf("%v: log line %q is not a JSON slog record (%v)", args, l, err)
			}
		}
	}
}
