package nstest

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// CIEnv is the environment variable CI sets to 1: there every test must
// run, so Require fails a test whose requirement is missing instead of
// skipping it.
const CIEnv = "MPTCPKIT_CI"

// Require skips t, saying why, unless the process can run tests against
// the kernel's MPTCP: it runs as root (namespaces, links and path manager
// changes need it), the kernel has MPTCP (/proc/sys/net/mptcp), and
// net.mptcp.enabled is 1 in the caller's namespace. With MPTCPKIT_CI=1 a
// missing requirement fails t instead: CI runs as root on a kernel with
// MPTCP, so a skip there would hide a broken machine. New and Pair call it.
func Require(t testing.TB) {
	t.Helper()
	why, fail := decide(currentFacts())
	switch {
	case why == "":
	case fail:
		t.Fatalf("nstest: %s (%s=1: a test that needs root and MPTCP must not be skipped)", why, CIEnv)
	default:
		t.Skipf("nstest: skipped: %s", why)
	}
}

// SkipExamples is for a TestMain, before m.Run, in a package whose
// examples need root and MPTCP: an example cannot skip itself, so where
// Require would skip a test SkipExamples adds the examples named to
// -test.skip and says why on stderr. Under MPTCPKIT_CI=1 it leaves them to
// run (and fail), as Require fails tests there.
func SkipExamples(names ...string) {
	why, fail := decide(currentFacts())
	if why == "" || fail {
		return
	}
	flag.Parse()
	skip := flag.Lookup("test.skip")
	pat := "^(" + strings.Join(names, "|") + ")$"
	if old := skip.Value.String(); old != "" {
		pat = old + "|" + pat
	}
	skip.Value.Set(pat)
	fmt.Fprintf(os.Stderr, "nstest: skipping %s: %s\n", strings.Join(names, ", "), why)
}

// facts are what Require decides on.
type facts struct {
	euid    int
	mptcp   bool   // the kernel has MPTCP (/proc/sys/net/mptcp/enabled exists)
	enabled string // net.mptcp.enabled in the caller's namespace
	ci      bool   // MPTCPKIT_CI=1
}

func currentFacts() facts {
	f := facts{euid: os.Geteuid(), ci: os.Getenv(CIEnv) == "1"}
	if b, err := os.ReadFile("/proc/sys/net/mptcp/enabled"); err == nil {
		f.mptcp = true
		f.enabled = strings.TrimSpace(string(b))
	}
	return f
}

// decide returns what is missing ("" for nothing) and whether that fails
// the test rather than skipping it.
func decide(f facts) (why string, fail bool) {
	switch {
	case f.euid != 0:
		why = fmt.Sprintf("not root (euid %d): the test makes network namespaces and changes the MPTCP path manager", f.euid)
	case !f.mptcp:
		why = "no MPTCP in this kernel (no /proc/sys/net/mptcp: it needs CONFIG_MPTCP=y)"
	case f.enabled != "1":
		why = fmt.Sprintf("net.mptcp.enabled=%s: MPTCP is switched off (sysctl -w net.mptcp.enabled=1)", f.enabled)
	}
	return why, why != "" && f.ci
}

// Unprivileged returns a command that runs this test binary again with
// args as uid and gid 65534 (nobody), from a copy in a directory everyone
// may enter (go test builds the binary in one only its owner may), removed
// when t ends. For tests of what a process without privileges sees.
func Unprivileged(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	dir, err := os.MkdirTemp("", "nstest-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(os.Args[0]))
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	return cmd
}
