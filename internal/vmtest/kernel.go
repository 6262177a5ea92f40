package vmtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Kernel is an installed kernel: its image and its modules directory.
type Kernel struct {
	Release string // e.g. 6.12.118+deb12-cloud-amd64
	Image   string // /boot/vmlinuz-RELEASE
	Modules string // /lib/modules/RELEASE
}

// FindKernel finds the installed kernel whose release is version or starts
// with version followed by '.', '-' or '+' ("6.1" finds 6.1.0-57-cloud-amd64
// but not 6.12.x). With several matches the newest (last in version order)
// wins. Kernels are looked for in /boot and /lib/modules.
func FindKernel(version string) (*Kernel, error) {
	imgs, _ := filepath.Glob("/boot/vmlinuz-*")
	var found []string
	for _, img := range imgs {
		rel := strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		if rel == version || strings.HasPrefix(rel, version) && strings.ContainsRune(".-+", rune(rel[len(version)])) {
			if _, err := os.Stat(filepath.Join("/lib/modules", rel, "modules.dep")); err == nil {
				found = append(found, rel)
			}
		}
	}
	if len(found) == 0 {
		var have []string
		for _, img := range imgs {
			have = append(have, strings.TrimPrefix(filepath.Base(img), "vmlinuz-"))
		}
		return nil, fmt.Errorf("no kernel %q installed (have: %s); install one, e.g. apt-get install 'linux-image-%s*-cloud-amd64-unsigned'",
			version, strings.Join(have, ", "), version)
	}
	sort.Slice(found, func(i, j int) bool { return versionLess(found[i], found[j]) })
	rel := found[len(found)-1]
	return &Kernel{Release: rel, Image: "/boot/vmlinuz-" + rel, Modules: filepath.Join("/lib/modules", rel)}, nil
}

// versionLess compares releases numerically where both have digits.
func versionLess(a, b string) bool {
	for a != "" && b != "" {
		na, ra := leadingNum(a)
		nb, rb := leadingNum(b)
		if na >= 0 && nb >= 0 {
			if na != nb {
				return na < nb
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func leadingNum(s string) (int, string) {
	i := 0
	n := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + int(s[i]-'0')
		i++
	}
	if i == 0 {
		return -1, s
	}
	return n, s[i:]
}

func modName(path string) string {
	b := filepath.Base(path)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// ResolveModules returns the module files (relative to k.Modules) needed to
// load names, dependencies first, using modules.dep. Names built into the
// kernel (modules.builtin) need nothing. A name the kernel has neither as a
// module nor built in is an error.
func (k *Kernel) ResolveModules(names []string) ([]string, error) {
	deps := map[string][]string{} // module name -> [its file, dep files...]
	dep, err := os.ReadFile(filepath.Join(k.Modules, "modules.dep"))
	if err != nil {
		return nil, err
	}
	byFile := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(dep))
	for sc.Scan() {
		file, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[modName(file)] = append([]string{file}, strings.Fields(rest)...)
		byFile[file] = modName(file)
	}
	builtin := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(k.Modules, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			builtin[modName(l)] = true
		}
	}
	var order []string
	seen := map[string]bool{}
	var visit func(name string) error
	visit = func(name string) error {
		if seen[name] {
			return nil
		}
		seen[name] = true
		d, ok := deps[name]
		if !ok {
			if builtin[name] {
				return nil
			}
			return fmt.Errorf("kernel %s has no module %s (neither in modules.dep nor built in)", k.Release, name)
		}
		for _, f := range d[1:] {
			if err := visit(byFile[f]); err != nil {
				return err
			}
		}
		order = append(order, d[0])
		return nil
	}
	for _, n := range names {
		if err := visit(strings.ReplaceAll(n, "-", "_")); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// readModule returns a module file's contents, decompressed (.ko.xz with
// the xz command, .ko.zst with zstd, .ko.gz with gzip).
func readModule(path string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(path, ".ko"):
		return os.ReadFile(path)
	case strings.HasSuffix(path, ".xz"):
		tool = "xz"
	case strings.HasSuffix(path, ".zst"):
		tool = "zstd"
	case strings.HasSuffix(path, ".gz"):
		tool = "gzip"
	default:
		return nil, fmt.Errorf("%s: unknown module compression", path)
	}
	out, err := exec.Command(tool, "-dc", path).Output()
	if err != nil {
		return nil, fmt.Errorf("decompress %s with %s: %v (install it: apt-get install %s)", path, tool, err, tool+map[string]string{"xz": "-utils"}[tool])
	}
	return out, nil
}

// libraries returns the shared libraries a dynamically linked host program
// loads (ldd's answer), the dynamic loader included; none for a static one.
func libraries(path string) ([]string, error) {
	out, err := exec.Command("ldd", path).CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("not a dynamic executable")) {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %v: %s", path, err, out)
	}
	var libs []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0])
		}
	}
	return libs, nil
}
