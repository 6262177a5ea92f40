package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/treecopy"
)

// TestDebAndRPM (issue 13 point 13) runs the README's packaging step in a
// clean copy of the tree, installs the .deb with dpkg, checks the installed
// files, the installed binary's version, the man pages, the completion and
// the systemd unit (systemd-analyze verify), purges it again, and checks
// the .rpm holds the same files.
func TestDebAndRPM(t *testing.T) {
	if b, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "mptcpkit").Output(); err == nil && strings.Contains(string(b), "installed") {
		t.Fatalf("package mptcpkit is installed on this machine already; this test installs and purges it (dpkg --purge mptcpkit first)")
	}
	src, _ := treecopy.Copy(t)
	out := t.TempDir()
	cmd := exec.Command("go", "run", "./internal/packaging/cmd/mkpkg", "--version", "9.8.7", "--out", out)
	cmd.Dir = src
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mkpkg: %v\n%s", err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(out, "*.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("mkpkg made %v and %v; want one .deb and one .rpm\n%s", debs, rpms, b)
	}

	run := func(name string, args ...string) string {
		t.Helper()
		b, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	debFiles := fileList(run("dpkg-deb", "--fsys-tarfile", debs[0]), true)
	wantSome := []string{
		"/usr/bin/mptcpkit",
		"/usr/lib/systemd/system/mptcpkit-daemon.service",
		"/usr/share/man/man1/mptcpkit.1.gz",
		"/usr/share/man/man1/mptcpkit-lab.1.gz",
		"/usr/share/bash-completion/completions/mptcpkit",
		"/usr/share/zsh/vendor-completions/_mptcpkit",
		"/usr/share/fish/vendor_completions.d/mptcpkit.fish",
	}
	for _, f := range wantSome {
		if !contains(debFiles, f) {
			t.Errorf(".deb lacks %s (has %v)", f, debFiles)
		}
	}
	if _, err := exec.LookPath("rpm"); err != nil {
		t.Errorf("rpm is not installed (.ci/run installs it): cannot list the .rpm")
	} else {
		rpmFiles := fileList(run("rpm", "-qlp", rpms[0]), false)
		if strings.Join(rpmFiles, "\n") != strings.Join(debFiles, "\n") {
			t.Errorf(".rpm files %v\ndiffer from .deb files %v", rpmFiles, debFiles)
		}
	}

	run("dpkg", "-i", debs[0])
	t.Cleanup(func() {
		if b, err := exec.Command("dpkg", "--purge", "mptcpkit").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge mptcpkit: %v\n%s", err, b)
		}
		if _, err := os.Stat("/usr/bin/mptcpkit"); err == nil {
			t.Errorf("/usr/bin/mptcpkit is still there after dpkg --purge")
		}
	})
	installed := fileList(run("dpkg", "-L", "mptcpkit"), false)
	for _, f := range debFiles {
		if !contains(installed, f) {
			t.Errorf("dpkg -L mptcpkit lacks %s", f)
		}
		if _, err := os.Stat(f); err != nil {
			t.Errorf("installed file %s: %v", f, err)
		}
	}
	if v := run("/usr/bin/mptcpkit", "version"); v != "mptcpkit 9.8.7\n" {
		t.Errorf("installed mptcpkit version = %q, want the stamped 9.8.7", v)
	}
	run("systemd-analyze", "verify", "/usr/lib/systemd/system/mptcpkit-daemon.service")
	run("bash", "-n", "/usr/share/bash-completion/completions/mptcpkit")
	man := exec.Command("man", "-l", "/usr/share/man/man1/mptcpkit-lab.1.gz")
	man.Env = append(os.Environ(), "MANPAGER=cat", "PAGER=cat")
	if b, err := man.CombinedOutput(); err != nil || !strings.Contains(string(b), "lab up") {
		t.Errorf("man -l mptcpkit-lab.1.gz: %v\n%.300s", err, b)
	}
}

// fileList returns the regular files of a listing (tar listing when tarball
// is true: "dpkg-deb --fsys-tarfile" output is read with tar), sorted, as
// absolute paths; directories are left out.
func fileList(s string, tarball bool) []string {
	if tarball {
		cmd := exec.Command("tar", "-t")
		cmd.Stdin = strings.NewReader(s)
		b, _ := cmd.Output()
		s = string(b)
	}
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimPrefix(strings.TrimSpace(l), ".")
		if l == "" || l == "/" || strings.HasSuffix(l, "/") {
			continue
		}
		if fi, err := os.Stat(l); tarball || err != nil || !fi.IsDir() {
			if tarball || err != nil || fi.Mode().IsRegular() {
				out = append(out, l)
			}
		}
	}
	sort.Strings(out)
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
