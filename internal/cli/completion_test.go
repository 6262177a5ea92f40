package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionScripts (issue 13 point 13): the bash, zsh and fish
// scripts parse, list every command, lab's verbs (kv too) and lab up's
// flags; the bash one completes as a user types.
func TestCompletionScripts(t *testing.T) {
	ctx := context.Background()
	scripts := map[string]string{}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out, errs, code := runCLI(ctx, "completion", sh)
		if code != 0 || out == "" {
			t.Fatalf("completion %s: exit %d, %s", sh, code, errs)
		}
		scripts[sh] = out
		for _, c := range tree().Sub {
			if !strings.Contains(out, c.Name) {
				t.Errorf("completion %s does not list command %s", sh, c.Name)
			}
		}
		for _, w := range []string{"kv", "failover", "--dest", "--rate", "--psk-file", "--require-config-version-never"} {
			in := w
			if sh == "fish" && strings.HasPrefix(w, "--") {
				in = "-l " + w[2:] // fish's spelling
			}
			if got := strings.Contains(out, in); got != (w != "--require-config-version-never") {
				t.Errorf("completion %s: contains %q = %v", sh, w, got)
			}
		}
	}
	dir := t.TempDir()
	bashFile := filepath.Join(dir, "mptcpkit.bash")
	if err := os.WriteFile(bashFile, []byte(scripts["bash"]), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("bash", "-n", bashFile).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, b)
	}
	for _, sh := range []string{"zsh", "fish"} {
		if _, err := exec.LookPath(sh); err != nil {
			if sh == "zsh" {
				t.Errorf("zsh is not installed (.ci/run installs it): cannot check the zsh script")
			} else {
				t.Logf("%s not installed: its script is checked by content only", sh)
			}
			continue
		}
		f := filepath.Join(dir, "mptcpkit."+sh)
		os.WriteFile(f, []byte(scripts[sh]), 0o644)
		if b, err := exec.Command(sh, "-n", f).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", sh, err, b)
		}
	}
	complete := func(words ...string) []string {
		script := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _mptcpkit; printf '%s\n' "${COMPREPLY[@]}"`
		b, err := exec.Command("bash", append([]string{"-c", script, "bash", bashFile}, words...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("completing %q: %v\n%s", words, err, b)
		}
		return strings.Fields(string(b))
	}
	for _, tt := range []struct {
		words []string
		want  string
	}{
		{[]string{"mptcpkit", "la"}, "lab"},
		{[]string{"mptcpkit", "-n", "lab:l1:client", "con"}, "conns"},
		{[]string{"mptcpkit", "lab", "k"}, "kv"},
		{[]string{"mptcpkit", "lab", "up", "--de"}, "--dest"},
		{[]string{"mptcpkit", "completion", ""}, ""},
	} {
		got := complete(tt.words...)
		if tt.want != "" && !strings.Contains(" "+strings.Join(got, " ")+" ", " "+tt.want+" ") {
			t.Errorf("completing %q gave %q, want %s among them", tt.words, got, tt.want)
		}
	}
}

// TestManPages: one page per command plus mptcpkit.1, each made from the
// command's --help (its examples appear in it), and man(1) renders them.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := runCLI(context.Background(), "man", "--dir", dir)
	if code != 0 {
		t.Fatalf("man --dir: exit %d: %s%s", code, out, errs)
	}
	for _, c := range append(tree().Sub, &Command{}) {
		file, args := "mptcpkit-"+c.Name+".1", []string{c.Name, "--help"}
		if c.Name == "" {
			file, args = "mptcpkit.1", []string{"--help"}
		}
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Errorf("no man page for %q: %v", c.Name, err)
			continue
		}
		help, _, _ := runCLI(context.Background(), args...)
		_, ex, _ := strings.Cut(help, "Examples:\n")
		first, _, _ := strings.Cut(ex, "\n")
		if first != "" && !strings.Contains(string(b), strings.ReplaceAll(first, `\`, `\e`)) {
			t.Errorf("%s lacks the help's first example %q", file, first)
		}
		if _, err := exec.LookPath("man"); err == nil {
			cmd := exec.Command("man", "-l", filepath.Join(dir, file))
			cmd.Env = append(os.Environ(), "MANPAGER=cat", "PAGER=cat", "MANWIDTH=100")
			r, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(r), "NAME") {
				t.Errorf("man -l %s: %v\n%s", file, err, r)
			}
		}
	}
}
