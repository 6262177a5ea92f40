package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOneByteUnitFamily: text output counts bytes in IEC units only (B,
// KiB, MiB, GiB). Every golden file of the module and every sample in the
// README's code blocks is checked for the other families (MBytes, MB, kB).
func TestOneByteUnitFamily(t *testing.T) {
	bad := regexp.MustCompile(`\d ?(Bytes|KBytes|MBytes|GBytes|kB|KB|MB|GB|TB)\b`)
	check := func(name, text string) {
		for i, line := range strings.Split(text, "\n") {
			if m := bad.FindString(line); m != "" {
				t.Errorf("%s:%d: %q is not an IEC byte unit (use units.Bytes): %s", name, i+1, m, line)
			}
		}
	}
	root := filepath.Join("..", "..")
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".golden") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		check(p, string(b))
		return nil
	})
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var block strings.Builder
	in := false
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "```") {
			in = !in
			block.WriteString("\n")
			continue
		}
		if in {
			block.WriteString(line)
		}
		block.WriteString("\n")
	}
	check("README.md (code blocks)", block.String())
}
