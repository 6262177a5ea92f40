package readmetest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/treecopy"
)

func TestCommandsRule(t *testing.T) {
	readme := "intro\n```sh\ngo install ./x\nfoo &   # bg\n# a comment\nbar # elsewhere: other host\n```\n```console\nnot run\n```\n```\nout\n```\n"
	run, skipped := Commands(readme)
	if len(run) != 2 || run[0].Text != "go install ./x" || run[1].No != 4 || len(skipped) != 1 || skipped[0].No != 6 {
		t.Fatalf("Commands: run %+v, skipped %+v", run, skipped)
	}
	if s := Script(run); !strings.Contains(s, "foo &   # bg\nsleep 1\n") {
		t.Errorf("a background line gets no time to start:\n%s", s)
	}
}

// TestReadmeNewcomer is issue 13's "done when": README.md's commands, top to
// bottom, in a clean copy of the tree, as a newcomer runs them (package doc:
// the rule and the sandbox).
func TestReadmeNewcomer(t *testing.T) {
	src, _ := treecopy.Copy(t)
	readme, err := os.ReadFile(filepath.Join(src, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines, skipped := Commands(string(readme))
	if len(lines) < 10 {
		t.Fatalf("only %d runnable README lines: the rule (```sh blocks) found too little", len(lines))
	}
	for _, s := range skipped {
		t.Logf("skipped (marked elsewhere) README:%d: %s", s.No, s.Text)
	}
	tmp := t.TempDir()
	for _, d := range []string{"home", "gopath", "etc-up", "etc-work"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	goenv := func(k string) string {
		b, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", k, err)
		}
		return strings.TrimSpace(string(b))
	}
	goroot, gocache, gomodcache := goenv("GOROOT"), goenv("GOCACHE"), goenv("GOMODCACHE")
	sandbox := strings.Join([]string{
		"set -e",
		"mount --make-rprivate /",
		"mkdir -p /run/netns /run/mptcpkit",
		"mount -t tmpfs mk-readme /run/netns",
		"mount -t tmpfs mk-readme /run/mptcpkit",
		"mount -t overlay mk-readme -o lowerdir=/etc,upperdir=" + tmp + "/etc-up,workdir=" + tmp + "/etc-work /etc",
		"ip link set lo up",
		// Whatever happens, leave the host's congestion-control list as it was.
		"trap 'command -v mptcpkit >/dev/null && mptcpkit lab down --all --force >/dev/null 2>&1' EXIT",
		"cd " + src,
	}, "\n") + "\n"
	script := filepath.Join(tmp, "readme.sh")
	if err := os.WriteFile(script, []byte(sandbox+Script(lines)), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc", "bash", script)
	cmd.Env = []string{
		"PATH=" + filepath.Join(goroot, "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + filepath.Join(tmp, "home"),
		"GOPATH=" + filepath.Join(tmp, "gopath"),
		"GOCACHE=" + gocache,
		"GOMODCACHE=" + gomodcache,
		"GOTOOLCHAIN=local",
		"GOFLAGS=-buildvcs=true",
		"GOPROXY=off",
		"LANG=C.UTF-8",
	}
	out, err := cmd.CombinedOutput()
	t.Logf("README run:\n%s", out)
	if err != nil {
		t.Fatalf("README commands failed (%v); the last README: line above is the one", err)
	}
	if !strings.Contains(string(out), "README: all commands ran") {
		t.Fatal("the README run stopped early")
	}
	for _, want := range []string{"MPTCP / TCP", "lab l1 is up", "lab px is up", "mptcpkit v0.0.0-"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("README run output lacks %q", want)
		}
	}
	if _, err := os.Stat("/etc/mptcpkit/proxy.key"); err == nil {
		t.Errorf("the README run wrote /etc/mptcpkit/proxy.key on the host (the /etc overlay leaked)")
	}
}
