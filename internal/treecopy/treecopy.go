package treecopy

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Root returns the top of the git working tree holding the current
// directory.
func Root(t testing.TB) string {
	t.Helper()
	b, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse --show-toplevel: %v (tests that copy the tree run in a git checkout)", err)
	}
	return strings.TrimSpace(string(b))
}

// Copy copies the tree into a new directory under t.TempDir() and commits it
// there as one commit; it returns the directory and the commit id.
func Copy(t testing.TB) (dir, rev string) {
	t.Helper()
	root := Root(t)
	ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = root
	out, err := ls.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	dir = filepath.Join(t.TempDir(), "mptcpkit")
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if f == "" {
			continue
		}
		if err := copyFile(filepath.Join(root, f), filepath.Join(dir, f)); err != nil {
			if os.IsNotExist(err) { // deleted in the working copy
				continue
			}
			t.Fatalf("copy %s: %v", f, err)
		}
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.invalid",
			"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.invalid")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return strings.TrimSpace(string(b))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "--no-gpg-sign", "-m", "tree under test")
	return dir, git("rev-parse", "HEAD")
}

func copyFile(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		l, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(l, dst)
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// GoEnv is os.Environ() for go commands that must stamp VCS data whatever
// the machine's go env says (GOFLAGS=-buildvcs=false is common on CI).
func GoEnv() []string {
	return append(os.Environ(), "GOFLAGS=-buildvcs=true")
}
