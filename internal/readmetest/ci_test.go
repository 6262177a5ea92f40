package readmetest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCIRunNamesExist checks the hand-written parts of .ci/run's kernel
// matrix: every package directory it hands to vmrun exists, and every test
// named in a -test.run '^(A|B)$' list is a Test function in one of the
// packages of that vmrun line. A renamed or moved test would otherwise drop
// out of the kernel matrix silently (the guest runs nothing and passes).
func TestCIRunNamesExist(t *testing.T) {
	root := sourceRoot(t)
	b, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	script := strings.ReplaceAll(string(b), "\\\n", " ")
	runArg := regexp.MustCompile(`-test\.run '\^\(?([A-Za-z0-9_|]+)\)?\$'`)
	lines := 0
	for _, line := range strings.Split(script, "\n") {
		if !strings.Contains(line, "vm ") && !strings.HasPrefix(strings.TrimSpace(line), "matrix ") {
			continue
		}
		var dirs []string
		for _, f := range strings.Fields(line) {
			pkg, ok := strings.CutPrefix(f, "./")
			if !ok || strings.HasPrefix(pkg, "internal/vmtest") {
				continue
			}
			pkg = strings.TrimSuffix(pkg, "/...")
			dir := filepath.Join(root, pkg)
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				t.Errorf(".ci/run names package ./%s, which does not exist: %s", pkg, strings.TrimSpace(line))
				continue
			}
			dirs = append(dirs, dir)
		}
		m := runArg.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		lines++
		for _, name := range strings.Split(m[1], "|") {
			if !definesTest(t, dirs, name) {
				t.Errorf(".ci/run runs %s in %v, but no such test function exists there", name, dirs)
			}
		}
	}
	if lines == 0 {
		t.Fatal(".ci/run has no vmrun line with a -test.run list: did its form change? (this test reads it)")
	}
}

func definesTest(t *testing.T, dirs []string, name string) bool {
	t.Helper()
	decl := "func " + name + "(t *testing.T)"
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), decl) {
				return true
			}
		}
	}
	return false
}

// sourceRoot is the module's root, or the test skips where there is no
// source tree (a kernel matrix guest runs only the compiled test binary).
func sourceRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Skipf("no module source tree at %s (a kernel matrix guest runs only the test binary): %v", root, err)
	}
	return root
}
