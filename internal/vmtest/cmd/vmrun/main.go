// Command vmrun runs Go test packages inside a qemu virtual machine booted
// with one of the installed kernels:
//
//	go run ./internal/vmtest/cmd/vmrun -kernel 6.12 ./force/... -- -test.run TestRunGo
//
// It builds each package's test binary with CGO_ENABLED=0, the mptcpkit
// command and the test helper programs, puts them with busybox, the module
// sources (for testdata) and the kernel's modules into an initramfs, boots
// it and runs every test binary in its package directory. The exit status
// is 0 when every package passed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/vmtest"
)

// helpers are programs tests would otherwise build with `go build` at run
// time (the guest has no Go toolchain): env var -> source file and go.mod.
var helpers = []struct {
	env, src, gomod string
}{
	{"MPTCPKIT_FORCE_TEST_DIAL", "force/testdata/dial/main.go.txt", "module dial\n\ngo 1.22\n"},
}

// programs are host tools the tests run, copied with their libraries when
// the host has them.
// nbdkit, fio, nbd-client and nbdkit's memory plugin (a shared object it
// loads: copied with its libraries too) are lab/storage's TestKernelClient.
var programs = []string{"ip", "setpriv", "nft", "tc", "sleep", "nbdkit", "fio", "nbd-client",
	"/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-memory-plugin.so"}

func main() {
	os.Exit(run())
}

func run() int {
	kernel := flag.String("kernel", "", "kernel version to boot: a release installed in /boot, or a prefix of one (6.12, 6.1)")
	timeout := flag.Duration("timeout", 30*time.Minute, "kill the VM after this long")
	mem := flag.Int("m", 1536, "guest memory in MiB")
	cpus := flag.Int("smp", 2, "guest CPUs")
	mods := flag.String("modules", "", "comma-separated extra kernel modules to load")
	keep := flag.String("initramfs", "", "write the initramfs here and keep it")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: vmrun -kernel VERSION [flags] PACKAGES... [-- TEST-BINARY-FLAGS...]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *kernel == "" || flag.NArg() == 0 {
		flag.Usage()
		return 2
	}
	pkgs, testFlags := flag.Args(), []string(nil)
	for i, a := range pkgs {
		if a == "--" {
			pkgs, testFlags = pkgs[:i], pkgs[i+1:]
			break
		}
	}
	k, err := vmtest.FindKernel(*kernel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmrun:", err)
		return 2
	}
	status, err := boot(k, pkgs, testFlags, *timeout, *mem, *cpus, *mods, *keep)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmrun:", err)
		return 1
	}
	return status
}

type pkg struct{ importPath, dir, bin string }

func boot(k *vmtest.Kernel, patterns, testFlags []string, timeout time.Duration, mem, cpus int, mods, keep string) (int, error) {
	start := time.Now()
	root, err := goOutput("list", "-m", "-f", "{{.Dir}}")
	if err != nil {
		return -1, err
	}
	root = strings.TrimSpace(root)
	list, err := goOutput(append([]string{"list", "-f", "{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}\t{{.Dir}}{{end}}"}, patterns...)...)
	if err != nil {
		return -1, err
	}
	build, err := os.MkdirTemp("", "vmrun-")
	if err != nil {
		return -1, err
	}
	defer os.RemoveAll(build)
	var pkgs []pkg
	for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
		ip, dir, ok := strings.Cut(l, "\t")
		if !ok {
			continue
		}
		bin := strings.ReplaceAll(strings.TrimPrefix(ip, "github.com/mptcpkit/mptcpkit/"), "/", "_") + ".test"
		if _, err := goOutput("test", "-c", "-o", filepath.Join(build, bin), ip); err != nil {
			return -1, err
		}
		pkgs = append(pkgs, pkg{ip, dir, bin})
	}
	if len(pkgs) == 0 {
		return -1, fmt.Errorf("no test packages match %s", strings.Join(patterns, " "))
	}
	files := map[string]string{root: root, "/vmtest/tests": build}
	if _, err := goOutput("build", "-o", filepath.Join(build, "mptcpkit"), "./cmd/mptcpkit"); err != nil {
		return -1, err
	}
	files["/usr/local/bin/mptcpkit"] = filepath.Join(build, "mptcpkit")
	env := []string{"MPTCPKIT_VM=" + k.Release, "MPTCPKIT_VM_ACCEL=" + vmtest.Accel(), "GOTRACEBACK=all"}
	for _, h := range helpers {
		dir := filepath.Join(build, "helper-"+h.env)
		os.MkdirAll(dir, 0o755)
		src, err := os.ReadFile(filepath.Join(root, h.src))
		if err != nil {
			return -1, err
		}
		os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644)
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte(h.gomod), 0o644)
		cmd := exec.Command("go", "build", "-o", "helper", ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			return -1, fmt.Errorf("build %s: %v\n%s", h.src, err, out)
		}
		files["/vmtest/helpers/"+h.env] = filepath.Join(dir, "helper")
		env = append(env, h.env+"=/vmtest/helpers/"+h.env)
	}
	var progs []string
	for _, p := range programs {
		if filepath.IsAbs(p) {
			if _, err := os.Stat(p); err == nil {
				progs = append(progs, p)
			}
		} else if _, err := exec.LookPath(p); err == nil {
			progs = append(progs, p)
		}
	}
	// A real sleep at /bin/sleep: daemon tests copy it under another name,
	// which busybox's applet would not answer to.
	if sl, err := exec.LookPath("sleep"); err == nil {
		files["/bin/sleep"] = sl
	}
	// Python, for the tests that run Python programs: the interpreter, its
	// standard library without tests and build files, and the libraries
	// its extension modules load.
	var skip []string
	if py, err := filepath.EvalSymlinks("/usr/bin/python3"); err == nil {
		lib := filepath.Join("/usr/lib", filepath.Base(py))
		if _, err := os.Stat(lib); err == nil {
			progs = append(progs, "/usr/bin/python3")
			files[lib] = lib
			exts, _ := filepath.Glob(filepath.Join(lib, "lib-dynload", "*.so"))
			progs = append(progs, exts...)
			cfgs, _ := filepath.Glob(filepath.Join(lib, "config-*"))
			for _, c := range cfgs {
				skip = append(skip, filepath.Base(c))
			}
			skip = append(skip, "test", "idlelib", "tkinter", "ensurepip", "lib2to3", "pydoc_data", "distutils", "turtledemo")
		}
	}
	var script strings.Builder
	script.WriteString("fail=0\n")
	for _, p := range pkgs {
		args := append([]string{"/vmtest/tests/" + p.bin, "-test.count=1"}, testFlags...)
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		fmt.Fprintf(&script, "cd %s\n%s\nst=$?\necho \"vmrun: %s exit status $st\"\n[ $st = 0 ] || fail=1\n",
			p.dir, strings.Join(quoted, " "), p.importPath)
	}
	script.WriteString("exit $fail\n")
	var extra []string
	if mods != "" {
		extra = strings.Split(mods, ",")
	}
	fmt.Fprintf(os.Stderr, "vmrun: %d test binaries built in %.0f s; booting %s (%s)\n", len(pkgs), time.Since(start).Seconds(), k.Release, vmtest.Accel())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	bootStart := time.Now()
	status, err := vmtest.Run(ctx, vmtest.Config{
		Kernel: k, Modules: extra, Files: files, SkipDirs: skip, Programs: progs, Env: env,
		Script: script.String(), Output: os.Stdout, MemoryMB: mem, CPUs: cpus, Initramfs: keep,
	})
	fmt.Fprintf(os.Stderr, "vmrun: %s: guest ran %.0f s, exit status %d\n", k.Release, time.Since(bootStart).Seconds(), status)
	return status, err
}

func goOutput(args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}
