package buildinfo

import (
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/treecopy"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-04T12:00:00Z"}, {Key: "vcs.modified", Value: "true"}}
	for _, tt := range []struct {
		stamp string
		bi    *debug.BuildInfo
		want  string
	}{
		{"v1.2.3", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "v1.2.3"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}}, "v0.4.0"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs}, "devel (0123456789ab, 2026-12-04T12:00:00Z, modified)"},
		{"", nil, "devel (no version information: built without VCS data, e.g. by go run; release builds stamp one)"},
	} {
		if got := fromBuildInfo(tt.stamp, tt.bi).String(); got != tt.want {
			t.Errorf("fromBuildInfo(%q, %+v) = %q, want %q", tt.stamp, tt.bi, got, tt.want)
		}
	}
}

// TestBuiltBinaryVersion builds mptcpkit from this checkout twice, as
// `go build` does and as a packager does with -ldflags -X, and checks what
// `version` and `version --help` print (issue 13 point 12).
func TestBuiltBinaryVersion(t *testing.T) {
	src, rev := treecopy.Copy(t)
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	stamped := filepath.Join(dir, "stamped")
	build := func(out string, extra ...string) {
		args := append([]string{"build", "-o", out}, extra...)
		cmd := exec.Command("go", append(args, "./cmd/mptcpkit")...)
		cmd.Dir, cmd.Env = src, treecopy.GoEnv()
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	build(plain)
	build(stamped, "-ldflags", "-X github.com/mptcpkit/mptcpkit/internal/buildinfo.stamped=v9.8.7-test")
	run := func(bin string, args ...string) string {
		b, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	if got := run(plain, "version"); strings.Contains(got, "(devel)") || !strings.Contains(got, string(rev[:12])) {
		t.Errorf("plain build: version = %q; want the git revision %s and no (devel)", got, rev[:12])
	}
	if got := run(stamped, "version"); !strings.HasPrefix(got, "mptcpkit v9.8.7-test") {
		t.Errorf("stamped build: version = %q; want mptcpkit v9.8.7-test", got)
	}
	if got := run(stamped, "--version"); !strings.HasPrefix(got, "mptcpkit v9.8.7-test") {
		t.Errorf("stamped build: --version = %q", got)
	}
	if got := run(stamped, "version", "--help"); !strings.Contains(got, "Usage: mptcpkit version") || strings.Contains(got, "v9.8.7") {
		t.Errorf("version --help = %q; want the help, not the version", got)
	}
	if got := run(stamped, "-j", "version"); !strings.Contains(got, `"version": "v9.8.7-test"`) {
		t.Errorf("-j version = %q", got)
	}
}
