// Command mkpkg builds mptcpkit's .deb and .rpm packages from the checkout it
// runs in: it builds the binary with the version stamped in, has that binary
// write its man pages and shell completions, stages them with the daemon's
// systemd unit (ExecStart pointing at /usr/bin/mptcpkit), and packages the
// stage with nFPM (internal/packaging).
//
//	go run ./internal/packaging/cmd/mkpkg [--version 0.1.0] [--arch amd64] [--out dist]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/packaging"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "mkpkg: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	version := flag.String("version", "", "package version (default 0.0.0+git<date>.<commit>)")
	arch := flag.String("arch", runtime.GOARCH, "GOARCH to build for")
	out := flag.String("out", "dist", "where the packages go")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("no arguments expected (got %q); see -h", flag.Arg(0))
	}
	if _, err := os.Stat("cmd/mptcpkit"); err != nil {
		return fmt.Errorf("run mkpkg from the top of the mptcpkit checkout (no cmd/mptcpkit here)")
	}
	mtime := commitTime()
	if *version == "" {
		*version = "0.0.0+git" + mtime.UTC().Format("20060102") + "." + gitShort()
	}
	*version = strings.TrimPrefix(*version, "v")
	stage, err := os.MkdirTemp("", "mkpkg-stage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	p := func(rel string) string { return filepath.Join(stage, rel) }
	for _, d := range []string{"usr/bin", "usr/lib/systemd/system", "usr/share/man/man1",
		"usr/share/bash-completion/completions", "usr/share/zsh/vendor-completions", "usr/share/fish/vendor_completions.d"} {
		if err := os.MkdirAll(p(d), 0o755); err != nil {
			return err
		}
	}
	bin := p("usr/bin/mptcpkit")
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X github.com/mptcpkit/mptcpkit/internal/buildinfo.stamped="+*version,
		"-o", bin, "./cmd/mptcpkit")
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+*arch, "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	// The man pages and completions come from the binary's own help; when
	// cross-building, from a host build of the same tree.
	gen := bin
	if *arch != runtime.GOARCH {
		gen = filepath.Join(stage, "mptcpkit-host")
		b := exec.Command("go", "build", "-buildvcs=false", "-o", gen, "./cmd/mptcpkit")
		b.Stdout, b.Stderr = os.Stderr, os.Stderr
		if err := b.Run(); err != nil {
			return fmt.Errorf("go build (host): %w", err)
		}
		defer os.Remove(gen)
	}
	if err := exec.Command(gen, "man", "--dir", p("usr/share/man/man1"), "--gzip").Run(); err != nil {
		return fmt.Errorf("mptcpkit man: %w", err)
	}
	for sh, dst := range map[string]string{
		"bash": "usr/share/bash-completion/completions/mptcpkit",
		"zsh":  "usr/share/zsh/vendor-completions/_mptcpkit",
		"fish": "usr/share/fish/vendor_completions.d/mptcpkit.fish",
	} {
		b, err := exec.Command(gen, "completion", sh).Output()
		if err != nil {
			return fmt.Errorf("mptcpkit completion %s: %w", sh, err)
		}
		if err := os.WriteFile(p(dst), b, 0o644); err != nil {
			return err
		}
	}
	unit, err := os.ReadFile("deploy/systemd/mptcpkit-daemon.service")
	if err != nil {
		return err
	}
	unit = []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/mptcpkit", "/usr/bin/mptcpkit"))
	if err := os.WriteFile(p("usr/lib/systemd/system/mptcpkit-daemon.service"), unit, 0o644); err != nil {
		return err
	}
	if gen != bin {
		os.Remove(gen)
	}
	pkgs, err := packaging.Build(packaging.Spec{Stage: packaging.Stage(stage), Version: *version, Arch: *arch, OutDir: *out, MTime: mtime})
	if err != nil {
		return err
	}
	for _, f := range pkgs {
		fmt.Println(f)
	}
	return nil
}

// commitTime is SOURCE_DATE_EPOCH, else the checkout's commit time, else now.
func commitTime() time.Time {
	if s, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		return time.Unix(s, 0)
	}
	if b, err := exec.Command("git", "log", "-1", "--format=%ct").Output(); err == nil {
		if s, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			return time.Unix(s, 0)
		}
	}
	return time.Now()
}

func gitShort() string {
	b, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
