package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// selfCommand is how printed example commands ("Try: ...") should call
// this program so that they work when pasted: "mptcpkit" when that is what
// PATH finds, else the running binary's absolute path. A binary made by
// `go run` is deleted when it exits, so then it says how to install one.
func selfCommand() (cmd, note string) {
	exe, err := os.Executable()
	if err != nil {
		return "mptcpkit", ""
	}
	return selfCommandFor(exe, exec.LookPath)
}

func selfCommandFor(exe string, lookPath func(string) (string, error)) (cmd, note string) {
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	if p, err := lookPath("mptcpkit"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil && r == exe {
			return "mptcpkit", ""
		}
	}
	if filepath.Base(exe) != "mptcpkit" || strings.Contains(exe, string(filepath.Separator)+"go-build") {
		// go run's temporary binary, or a test binary.
		return "mptcpkit", "(mptcpkit is not on PATH: install it with `go install ./cmd/mptcpkit` from the checkout, which puts it in $(go env GOPATH)/bin)"
	}
	return exe, ""
}
