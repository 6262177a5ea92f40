package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	ok := facts{euid: 0, mptcp: true, enabled: "1"}
	for _, c := range []struct {
		name string
		f    facts
		why  string // "" for none
	}{
		{"all there", ok, ""},
		{"not root", facts{euid: 1000, mptcp: true, enabled: "1"}, "not root (euid 1000)"},
		{"no MPTCP", facts{euid: 0}, "no MPTCP in this kernel"},
		{"switched off", facts{euid: 0, mptcp: true, enabled: "0"}, "net.mptcp.enabled=0"},
		{"not root wins", facts{euid: 65534, enabled: "0"}, "not root (euid 65534)"},
	} {
		for _, ci := range []bool{false, true} {
			f := c.f
			f.ci = ci
			why, fail := decide(f)
			if c.why == "" && (why != "" || fail) || c.why != "" && !strings.Contains(why, c.why) {
				t.Errorf("%s, ci %v: why %q, want %q", c.name, ci, why, c.why)
			}
			if want := c.why != "" && ci; fail != want {
				t.Errorf("%s, ci %v: fail %v, want %v (CI fails what it would skip)", c.name, ci, fail, want)
			}
		}
	}
}

const requireChildEnv = "NSTEST_REQUIRE_CHILD"

func TestMain(m *testing.M) {
	SkipExamples("ExampleSkipExamples")
	os.Exit(m.Run())
}

// ExampleSkipExamples stands for an example that needs root: the TestMain
// above skips it where Require would skip a test.
func ExampleSkipExamples() {
	fmt.Println("euid", os.Geteuid())
	// Output: euid 0
}

// TestRequireChild is run by TestRequireAsNobody in a child process; on
// its own it does nothing.
func TestRequireChild(t *testing.T) {
	if os.Getenv(requireChildEnv) != "1" {
		return
	}
	New(t, "child") // Require first: skips or fails before making anything
	t.Log("REQUIREMENTS MET")
}

// TestRequireAsNobody runs TestRequireChild as uid 65534: without
// MPTCPKIT_CI it is skipped, saying it is not root; with MPTCPKIT_CI=1 it
// fails, saying the same.
func TestRequireAsNobody(t *testing.T) {
	Require(t) // root, to become someone else
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, CIEnv+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, requireChildEnv+"=1")
	for _, c := range []struct {
		run      string
		ci       bool
		verdict  string
		exitCode int
	}{
		{"TestRequireChild", false, "--- SKIP: TestRequireChild", 0},
		{"TestRequireChild", true, "--- FAIL: TestRequireChild", 1},
		{"ExampleSkipExamples", false, "nstest: skipping ExampleSkipExamples: ", 0},
		{"ExampleSkipExamples", true, "--- FAIL: ExampleSkipExamples", 1},
	} {
		cmd := Unprivileged(t, "-test.run=^"+c.run+"$", "-test.v", "-test.count=1")
		cmd.Env = env
		if c.ci {
			cmd.Env = append(cmd.Env, CIEnv+"=1")
		}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("ci %v: %v", c.ci, err)
		}
		s := string(out)
		reason := "not root (euid 65534)"
		if c.run == "ExampleSkipExamples" && c.ci {
			reason = "got:\neuid 65534" // it ran
		}
		if code != c.exitCode || !strings.Contains(s, c.verdict) || !strings.Contains(s, reason) || strings.Contains(s, "REQUIREMENTS MET") {
			t.Errorf("%s as uid 65534, ci %v: exit %d, want %d, %q and %q; output:\n%s", c.run, c.ci, code, c.exitCode, c.verdict, reason, s)
		}
	}
}
