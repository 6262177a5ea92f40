package readmetest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/mptcpkit/mptcpkit"

// The tiers of docs/ARCHITECTURE.md. A package's tier decides what it may
// import; the table in that file is the one place that assigns tiers.
const (
	tierLibrary = "library" // the product: imported by other Go programs
	tierTestbed = "testbed" // lab scenarios: build testbeds, run the product in them
	tierTest    = "test"    // helpers for tests only; never linked into a command
	tierCLI     = "cli"     // the command line: flags, text, advice
	tierTool    = "tool"    // build and release tooling, not shipped
)

// pkgInfo is one package of the module as go list sees it: its path relative
// to the module and the module packages its non-test files import.
type pkgInfo struct {
	rel     string
	imports []string
}

func modulePackages(t *testing.T, root string) []pkgInfo {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("no go command to list the packages (a kernel matrix guest runs only the test binary): %v", err)
	}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	var pkgs []pkgInfo
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		p := pkgInfo{rel: relPkg(f[0])}
		for _, imp := range f[1:] {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				p.imports = append(p.imports, relPkg(imp))
			}
		}
		slices.Sort(p.imports)
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func relPkg(path string) string {
	if path == module {
		return "."
	}
	return strings.TrimPrefix(path, module+"/")
}

// archRow is one row of the package map in docs/ARCHITECTURE.md:
// | `pkg` | tier | imports | holds |
type archRow struct {
	tier    string
	imports []string
}

func archTable(t *testing.T, root string) map[string]archRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]archRow{}
	for _, line := range strings.Split(string(b), "\n") {
		cells := tableCells(line)
		if len(cells) != 4 || !strings.HasPrefix(cells[0], "`") {
			continue
		}
		var r archRow
		r.tier = cells[1]
		for _, f := range strings.Split(cells[2], ",") {
			if f = strings.Trim(strings.TrimSpace(f), "`"); f != "" && f != "—" {
				r.imports = append(r.imports, f)
			}
		}
		slices.Sort(r.imports)
		rows[strings.Trim(cells[0], "`")] = r
	}
	return rows
}

func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
		return nil
	}
	cells := strings.Split(line[1:len(line)-1], "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

// TestArchitectureMap checks that docs/ARCHITECTURE.md's package map names
// every package with its real module imports, so the page cannot go stale.
func TestArchitectureMap(t *testing.T) {
	root := sourceRoot(t)
	pkgs := modulePackages(t, root)
	table := archTable(t, root)
	var want strings.Builder
	ok := true
	for _, p := range pkgs {
		row, found := table[p.rel]
		imps := "—"
		if len(p.imports) > 0 {
			imps = "`" + strings.Join(p.imports, "`, `") + "`"
		}
		fmt.Fprintf(&want, "| `%s` | %s | %s | … |\n", p.rel, row.tier, imps)
		switch {
		case !found:
			t.Errorf("docs/ARCHITECTURE.md: package %s is missing from the package map", p.rel)
			ok = false
		case !slices.Equal(row.imports, p.imports):
			t.Errorf("docs/ARCHITECTURE.md: %s imports %q, the map says %q", p.rel, p.imports, row.imports)
			ok = false
		}
		delete(table, p.rel)
	}
	for rel := range table {
		t.Errorf("docs/ARCHITECTURE.md: the package map lists %s, which does not exist", rel)
		ok = false
	}
	if !ok {
		t.Logf("the package map's first three columns as they should be:\n%s", want.String())
	}
}

// TestImportRules enforces the rules of docs/ARCHITECTURE.md on non-test
// imports: libraries never import the CLI or the testbed; nothing linked into
// a command imports a test helper; only cmd/mptcpkit imports internal/cli.
func TestImportRules(t *testing.T) {
	root := sourceRoot(t)
	table := archTable(t, root)
	allowed := map[string][]string{
		tierLibrary: {tierLibrary},
		tierTestbed: {tierLibrary, tierTestbed},
		tierCLI:     {tierLibrary, tierTestbed, tierCLI},
		tierTest:    {tierLibrary, tierTestbed, tierTest},
		tierTool:    {tierLibrary, tierTool, tierTest},
	}
	for _, p := range modulePackages(t, root) {
		tier := table[p.rel].tier
		if _, known := allowed[tier]; !known {
			t.Errorf("%s: tier %q in docs/ARCHITECTURE.md is not one of library, testbed, cli, test, tool", p.rel, tier)
			continue
		}
		for _, imp := range p.imports {
			it := table[imp].tier
			if !slices.Contains(allowed[tier], it) {
				t.Errorf("%s (%s) imports %s (%s): a %s package may import only %v", p.rel, tier, imp, it, tier, allowed[tier])
			}
			if imp == "internal/cli" && p.rel != "cmd/mptcpkit" {
				t.Errorf("%s imports internal/cli: only cmd/mptcpkit may", p.rel)
			}
		}
	}
}

// TestReadmePackageTable checks that the README's package table names every
// package of the module.
func TestReadmePackageTable(t *testing.T) {
	root := sourceRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	section := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			section = line == "## Packages"
		}
		if !section {
			continue
		}
		if cells := tableCells(line); len(cells) == 2 && strings.HasPrefix(cells[0], "`") {
			listed[strings.Trim(cells[0], "`")] = true
		}
	}
	for _, p := range modulePackages(t, root) {
		if !listed[p.rel] {
			t.Errorf("README.md: package %s is missing from the package table (## Packages)", p.rel)
		}
	}
}
