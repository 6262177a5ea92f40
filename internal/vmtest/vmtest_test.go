package vmtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCpio writes a tree and unpacks it with busybox cpio (the same newc
// reader family the kernel uses): names, contents, modes and symlinks
// survive, and parents come before children.
func TestCpio(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skipf("busybox not installed: %v", err)
	}
	tr := tree{}
	tr.addFile("/a/b/c.txt", 0o644, []byte("hello"))
	tr.addFile("/a/x", 0o755, []byte("odd-sized\x00data"))
	tr.addFile("/empty", 0o600, nil)
	tr.addSymlink("/a/link", "b/c.txt")
	var buf bytes.Buffer
	if err := tr.writeTo(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not 4-byte aligned", buf.Len())
	}
	dir := t.TempDir()
	cmd := exec.Command(bb, "cpio", "-id", "-H", "newc")
	cmd.Dir = dir
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio -i: %v\n%s", err, out)
	}
	for name, want := range map[string]string{"a/b/c.txt": "hello", "a/x": "odd-sized\x00data", "empty": "", "a/link": "hello"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "a/x")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("a/x mode: %v %v, want 0755", st.Mode(), err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "a/link")); err != nil || target != "b/c.txt" {
		t.Errorf("a/link -> %q %v", target, err)
	}
}

// TestFindKernel: "6.1" must not pick 6.12, an unknown version names what
// is installed and how to install one.
func TestFindKernel(t *testing.T) {
	imgs, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(imgs) == 0 {
		t.Skip("no kernels in /boot")
	}
	for _, img := range imgs {
		rel := strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		k, err := FindKernel(rel)
		if err != nil {
			t.Errorf("FindKernel(%q): %v", rel, err)
			continue
		}
		if k.Release != rel || k.Image != img {
			t.Errorf("FindKernel(%q) = %+v", rel, k)
		}
		// The major.minor prefix finds a kernel of that series only.
		parts := strings.SplitN(rel, ".", 3)
		series := parts[0] + "." + parts[1]
		k, err = FindKernel(series)
		if err != nil || !strings.HasPrefix(k.Release, series) || strings.ContainsAny(k.Release[len(series):len(series)+1], "0123456789") {
			t.Errorf("FindKernel(%q) = %+v, %v", series, k, err)
		}
	}
	_, err := FindKernel("2.4")
	if err == nil || !strings.Contains(err.Error(), "apt-get install") {
		t.Errorf("FindKernel(2.4): %v, want an error saying how to install one", err)
	}
}

// TestResolveModules: dependencies come before the modules that need
// them, built-in modules need no file, and a missing one is named.
func TestResolveModules(t *testing.T) {
	k, err := FindKernel("6.12")
	if err != nil {
		t.Skipf("no 6.12 kernel installed: %v", err)
	}
	mods, err := k.ResolveModules([]string{"mptcp_diag", "sch_netem", "nft_numgen"})
	if err != nil {
		t.Fatal(err)
	}
	idx := func(name string) int {
		return slices.IndexFunc(mods, func(m string) bool { return modName(m) == name })
	}
	for _, pair := range [][2]string{{"inet_diag", "mptcp_diag"}, {"nf_tables", "nft_numgen"}, {"nfnetlink", "nf_tables"}} {
		if d, m := idx(pair[0]), idx(pair[1]); d < 0 || m < 0 || d > m {
			t.Errorf("%s at %d, %s at %d in %v: want the dependency first", pair[0], d, pair[1], m, mods)
		}
	}
	if _, err := k.ResolveModules([]string{"no_such_module"}); err == nil || !strings.Contains(err.Error(), "no_such_module") {
		t.Errorf("missing module: %v", err)
	}
	data, err := readModule(filepath.Join(k.Modules, mods[0]))
	if err != nil || !bytes.HasPrefix(data, []byte("\x7fELF")) {
		t.Errorf("readModule(%s): %d bytes, %v; want an ELF object", mods[0], len(data), err)
	}
}

// TestRun boots the newest installed kernel with a script: its output is
// streamed, its exit status comes back, the file systems and modules the
// tests need are there.
func TestRun(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skipf("qemu not installed: %v", err)
	}
	k, err := FindKernel("6")
	if err != nil {
		t.Skipf("no kernel to boot: %v", err)
	}
	var out bytes.Buffer
	status, err := Run(t.Context(), Config{
		Kernel: k,
		Files:  map[string]string{"/data/hello": "testdata/hello"},
		Env:    []string{"GREETING=it's here"},
		Script: `echo "$GREETING"; cat /data/hello
grep -q ' /sys/fs/bpf bpf' /proc/mounts && echo bpffs
grep -q ' /sys/fs/cgroup cgroup2' /proc/mounts && echo cgroup2
grep -q '^veth ' /proc/modules && echo veth
exit 7`,
		Output: &out,
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if status != 7 {
		t.Errorf("status %d, want 7 (the script's)", status)
	}
	for _, w := range []string{"it's here\n", "hello from the host\n", "bpffs\n", "cgroup2\n", "veth\n"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("guest output lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), ExitSentinel) {
		t.Errorf("the exit sentinel leaked into the output")
	}
}
