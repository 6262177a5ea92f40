package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Every mptcpkit command runs the initialisation of every package the binary
// links before main, so work done at package init is paid by
// `mptcpkit limits show` too (issue 12 point 5; docs/BENCHMARKS.md, "CLI
// start-up"). These tests keep the module's own inits cheap.

const module = "github.com/mptcpkit/mptcpkit"

// TestNoInitTimeRegexp fails when a package of this module compiles a
// regular expression at package initialisation: in a package-level var's
// initialiser or in an init function. The first regexp compiled in a
// process pulls regexp/syntax's code pages in (~20 page faults, 0.3–2 ms on
// this machine). Compile it on first use (sync.OnceValue) or use a byte loop.
func TestNoInitTimeRegexp(t *testing.T) {
	if v := os.Getenv("MPTCPKIT_VM"); v != "" {
		t.Skipf("kernel matrix guest (%s) has no go toolchain; this build property is checked on the host", v)
	}
	// The packages of this module that the binary links, by directory
	// (test helpers such as internal/readmetest are not linked).
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Dir}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, dir, _ := strings.Cut(line, " ")
		if pkg != module && !strings.HasPrefix(pkg, module+"/") {
			continue
		}
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			for _, call := range initTimeRegexps(f) {
				t.Errorf("%s: regexp.%s runs at package init; compile it on first use (sync.OnceValue) instead",
					fset.Position(call.Pos()), call.Fun.(*ast.SelectorExpr).Sel.Name)
			}
		}
	}
	if checked < 50 {
		t.Fatalf("checked only %d files of this module; go list said:\n%s", checked, out)
	}
}

// initTimeRegexps returns the regexp.Compile/MustCompile… calls in f that
// run when its package is initialised: in package-level var initialisers and
// init functions, outside function literals (which run later, if ever).
func initTimeRegexps(f *ast.File) []*ast.CallExpr {
	name := "" // the name regexp is imported as
	for _, im := range f.Imports {
		if p, _ := strconv.Unquote(im.Path.Value); p == "regexp" {
			name = "regexp"
			if im.Name != nil {
				name = im.Name.Name
			}
		}
	}
	if name == "" {
		return nil
	}
	var found []*ast.CallExpr
	visit := func(n ast.Node) {
		ast.Inspect(n, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				return false
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && strings.Contains(sel.Sel.Name, "Compile") {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == name {
						found = append(found, n)
					}
				}
			}
			return true
		})
	}
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.GenDecl:
			if d.Tok == token.VAR {
				visit(d)
			}
		case *ast.FuncDecl:
			if d.Recv == nil && d.Name.Name == "init" && d.Body != nil {
				visit(d.Body)
			}
		}
	}
	return found
}

func TestInitTimeRegexpDetector(t *testing.T) {
	src := `package p
import re "regexp"
var a = re.MustCompile("x")
var b = func() *re.Regexp { return re.MustCompile("y") } // runs later
var c, d = 1, struct{ r *re.Regexp }{re.MustCompile("z")}
func init() { _ = re.MustCompile("w") }
func f() { _ = re.MustCompile("v") }
`
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(initTimeRegexps(f)); got != 3 {
		t.Errorf("found %d init-time regexps, want 3 (a, d, init)", got)
	}
}

// initLine is one line of GODEBUG=inittrace=1:
// "init PKG @T ms, C ms clock, B bytes, A allocs".
var initLine = regexp.MustCompile(`^init (\S+) @[0-9.]+ ms, ([0-9.]+) ms clock, ([0-9]+) bytes, ([0-9]+) allocs`)

// TestInitAllocations runs the built binary with GODEBUG=inittrace=1 and
// fails if a package of this module allocates more than a few small
// objects at init (a regexp, a large map or table built at start-up), or if
// one of the heavy libraries that were removed from the binary for start-up
// time is linked again.
func TestInitAllocations(t *testing.T) {
	if v := os.Getenv("MPTCPKIT_VM"); v != "" {
		t.Skipf("kernel matrix guest (%s) has no go toolchain; this build property is checked on the host", v)
	}
	bin := buildMptcpkit(t)
	cmd := exec.Command(bin, "version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, out)
	}
	// Budget per package of ours: the few maps of names (pm, policy, …)
	// take 2–4 allocations and ≤ 700 bytes; docgen's two flag regexps
	// took 66 allocations, 6.5 kB.
	const maxAllocs, maxBytes = 8, 1024
	heavy := []string{"github.com/prometheus/client_golang", "google.golang.org/protobuf"}
	inits := 0
	for _, line := range strings.Split(string(out), "\n") {
		m := initLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		inits++
		pkg := m[1]
		bytes, _ := strconv.Atoi(m[3])
		allocs, _ := strconv.Atoi(m[4])
		if strings.HasPrefix(pkg, module+"/") && (allocs > maxAllocs || bytes > maxBytes) {
			t.Errorf("package %s allocates %d bytes in %d allocations at init (budget %d bytes, %d allocations): make it lazy (sync.OnceValue)", pkg, bytes, allocs, maxBytes, maxAllocs)
		}
		for _, h := range heavy {
			if strings.HasPrefix(pkg, h) {
				t.Errorf("%s is initialised by every command again", pkg)
			}
		}
	}
	if inits < 20 {
		t.Fatalf("only %d init lines in the inittrace output; has its format changed?\n%s", inits, out)
	}
}
