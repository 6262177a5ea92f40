package readmetest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// versionClaim matches a bare kernel-version claim: "Linux 5.6+", "needs
// Linux 6.6", "since Linux 6.6", "Linux 5.6 or newer", "(6.5+)", ", 6.6+".
// Issue 10 point 5: what mptcpkit says about kernels is what its kernel
// matrix ran (Debian's 6.1 and 6.12, the 6.18 CI host), said as such
// ("Debian's 6.12 has it, 6.1 not"), or it is not said.
var versionClaim = regexp.MustCompile(`Linux [0-9]+\.[0-9]+\+|[Nn]eeds Linux [0-9]|[Ss]ince Linux [0-9]|Linux [0-9]+\.[0-9]+ or (newer|later)|\((Linux )?[0-9]+\.[0-9]+\+\)|, [0-9]+\.[0-9]+\+|on [0-9]+\.[0-9]+\+`)

// claimsAllowed are files whose version numbers are kernel facts used to
// decode what the kernel returns, not claims of what mptcpkit supports.
var claimsAllowed = map[string]string{
	// struct mptcp_info grew field by field; the table of which kernel
	// version filled which field (from the kernel's uapi history) drives
	// the decoding of a short struct.
	"mptcp/doc.go":     "uapi field-version table used for decoding",
	"mptcp/info.go":    "uapi field-version table used for decoding",
	"mptcp/sockopt.go": "uapi field-version table used for decoding",
	"mptcp/subflow.go": "uapi field-version table used for decoding",
	"mptcp/mptcp.go":   "uapi constant's origin, next to its number",
}

// TestNoBareKernelVersionClaims greps README.md, docs/ and every non-test
// Go file (help texts, error messages, doc comments) for bare "Linux N.N+"
// claims, so that new ones cannot creep in unproved.
func TestNoBareKernelVersionClaims(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Skipf("no module source tree at %s (a kernel matrix guest runs only the test binary): %v", root, err)
	}
	var found []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		md := rel == "README.md" || (strings.HasPrefix(rel, "docs/") && strings.HasSuffix(rel, ".md"))
		gosrc := strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go")
		if !md && !gosrc {
			return nil
		}
		if _, ok := claimsAllowed[rel]; ok {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := versionClaim.FindString(line); m != "" {
				found = append(found, rel+":"+strconv.Itoa(i+1)+": "+strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("bare kernel-version claim (say what the kernel matrix showed, e.g. \"Debian's 6.12 has it, 6.1 not\", or drop it; or add the file to claimsAllowed with its reason): %s", f)
	}
}
