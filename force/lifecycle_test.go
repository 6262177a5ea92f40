package force_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/btf"
	"github.com/mptcpkit/mptcpkit/force/bpfprog"
	"github.com/mptcpkit/mptcpkit/force/cgroup"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/internal/proc"
)

// TestRunDaemon: a program that daemonizes (double fork, parent exits at
// once) keeps being forced after its parent exits, and run waits for it.
func TestRunDaemon(t *testing.T) {
	needPython(t)
	ns := nstest.New(t, "daemon")
	out := filepath.Join(t.TempDir(), "daemon.out")
	prog := fmt.Sprintf(`
import os, socket, time
if os.fork() > 0:
    os._exit(0)          # the parent returns at once
os.setsid()
if os.fork() > 0:
    os._exit(0)
time.sleep(1.0)          # the daemon, orphaned, works later
s = socket.socket()
open(%q, "w").write("%%d %%d" %% (s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL), os.getppid()))
`, out)
	for _, m := range methods(t) {
		t.Run(string(m), func(t *testing.T) {
			os.Remove(out)
			start := time.Now()
			cmd := command(t, ns, "run", "--method", string(m), "--", "python3", "-c", prog)
			output(t, cmd)
			took := time.Since(start)
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("run returned after %v before the daemon wrote its result: %v", took, err)
			}
			f := strings.Fields(string(b))
			if len(f) != 2 || f[0] != "262" {
				t.Errorf("daemon's socket: %q, want protocol 262", b)
			}
			if took < time.Second {
				t.Errorf("run returned after %v, before the daemon finished (1 s)", took)
			}
		})
	}
}

// TestRunExitStatus: exit codes and deaths by signal pass through, and a
// missing command is 127.
func TestRunExitStatus(t *testing.T) {
	ns := nstest.New(t, "exit")
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"true"}, 0},
		{[]string{"sh", "-c", "exit 7"}, 7},
		{[]string{"sh", "-c", "kill -TERM $$"}, 128 + 15},
		{[]string{"/nonexistent/mptcpkit-test-program"}, 127},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := command(t, ns, append([]string{"run", "--method", "seccomp", "--"}, tc.args...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.want {
				t.Errorf("exit status %d, want %d (stderr %q)", code, tc.want, stderr.String())
			}
		})
	}
}

// waitGone waits until no process has marker in its command line.
func waitGone(t *testing.T, marker string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		pids, _ := proc.PIDs()
		for _, pid := range pids {
			args, _ := proc.Cmdline(pid)
			line := strings.Join(args, " ")
			if strings.Contains(line, marker) && proc.Alive(pid) {
				left = append(left, strconv.Itoa(pid)+": "+line)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, l := range left {
				if pid, err := strconv.Atoi(strings.SplitN(l, ":", 2)[0]); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			t.Fatalf("processes left behind: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func runCgroupsLeft(t *testing.T) []string {
	root, err := cgroup.Root()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := filepath.Glob(filepath.Join(root, "*", "mptcpkit-run-*"))
	m2, _ := filepath.Glob(filepath.Join(root, "mptcpkit-run-*"))
	return append(m, m2...)
}

// TestRunSignals: SIGTERM to run reaches the command (which exits with its
// own status); SIGKILL to run kills the command too; nothing stays behind
// (no process, no run cgroup).
func TestRunSignals(t *testing.T) {
	needPython(t)
	ns := nstest.New(t, "sig")
	for _, m := range methods(t) {
		t.Run(string(m)+"/SIGTERM", func(t *testing.T) {
			marker := fmt.Sprintf("mptcpkit-test-sigterm-%d-%s", os.Getpid(), m)
			prog := `import signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))
print("ready", flush=True)
time.sleep(60)  # ` + marker
			cmd := command(t, ns, "run", "--method", string(m), "--", "python3", "-c", prog)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
				t.Fatalf("read ready: %q %v", line, err)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 42 {
				t.Errorf("run after SIGTERM: %v, want exit status 42 (the command's)", err)
			}
			waitGone(t, marker)
			if left := runCgroupsLeft(t); len(left) > 0 {
				t.Errorf("run cgroups left: %v", left)
			}
			if _, err := os.Stat(filepath.Join(bpfprog.PinDir, "link")); err == nil {
				t.Errorf("BPF link still pinned at %s", bpfprog.PinDir)
			}
		})
		t.Run(string(m)+"/SIGKILL", func(t *testing.T) {
			marker := fmt.Sprintf("mptcpkit-test-sigkill-%d-%s", os.Getpid(), m)
			cmd := command(t, ns, "run", "--method", string(m), "--", "python3", "-c",
				"import time; print('ready', flush=True); time.sleep(60) # "+marker)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			cmd.Process.Kill()
			cmd.Wait()
			waitGone(t, marker)
		})
	}
}

// TestRunMethodChoice: auto says on -v which method it took and why;
// --method bpf on a kernel that refuses trampolines fails clearly, naming
// the cause and the way out, without running the command.
func TestRunMethodChoice(t *testing.T) {
	ns := nstest.New(t, "method")
	bpfOK := len(methods(t)) == 2
	// -n: `ip netns exec` would hide the cgroup v2 file system bpf needs.
	cmd := exec.Command(self(t), "-n", ns.Name, "run", "-v", "--", "true")
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run -v -- true: %v\n%s", err, stderr.String())
	}
	want := "method seccomp (BPF is not usable: "
	if bpfOK {
		want = "method bpf ("
	}
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("run -v says %q, want it to contain %q", stderr.String(), want)
	}
	if bpfOK {
		return
	}
	marker := filepath.Join(t.TempDir(), "ran")
	cmd = command(t, ns, "run", "--method", "bpf", "--", "touch", marker)
	stderr.Reset()
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("run --method bpf: %v, want exit status 1", err)
	}
	// Kernels before 6.6 (Debian's 6.1 in the matrix) lack the function;
	// others (the CI host) refuse trampolines.
	why := "refused the BPF trampoline"
	if noFunction(t) {
		why = "has no function update_socket_protocol (it was added in Linux 6.6)"
	}
	for _, w := range []string{why, "--method seccomp"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("run --method bpf says %q, want it to contain %q", stderr.String(), w)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran although the method failed")
	}
}

// TestRunSocketActivation: descriptors systemd passes (LISTEN_FDS) reach
// the command at the same numbers, with LISTEN_PID set to the command's pid.
func TestRunSocketActivation(t *testing.T) {
	ns := nstest.New(t, "listen")
	f, err := os.CreateTemp(t.TempDir(), "listen-fd")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// sh execs mptcpkit, so $$ is mptcpkit's pid: LISTEN_PID names it, as
	// systemd would. The command prints its pid, LISTEN_PID and what fd 3 is.
	inner := `echo "$$ $LISTEN_PID $LISTEN_FDS $(readlink /proc/self/fd/3)"`
	cmd := ns.Command("sh", "-c", `LISTEN_FDS=1 LISTEN_PID=$$ exec "$0" run --method seccomp -- sh -c "$1"`, self(t), inner)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	cmd.ExtraFiles = []*os.File{f}
	out := strings.Fields(output(t, cmd))
	if len(out) != 4 || out[0] != out[1] || out[2] != "1" || out[3] != f.Name() {
		t.Errorf("command saw pid, LISTEN_PID, LISTEN_FDS, fd 3 = %q; want its own pid twice, 1, %s", out, f.Name())
	}
}

// TestRunTerminalSIGINT: on a terminal, Ctrl-C reaches the command exactly
// once (the terminal sends it to the whole foreground group; run must not
// forward it a second time).
func TestRunTerminalSIGINT(t *testing.T) {
	needPython(t)
	ns := nstest.New(t, "tty")
	prog := "import signal, time\nn = [0]\nsignal.signal(signal.SIGINT, lambda *a: n.__setitem__(0, n[0] + 1))\n" +
		"print('ready', flush=True)\ntime.sleep(1)\nprint('sigint', n[0], flush=True)\n"
	term, err := filepath.Abs("testdata/onterminal.py")
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command("python3", term, self(t), "run", "--method", "seccomp", "--", "python3", "-c", prog)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	out := output(t, cmd)
	if !strings.Contains(out, "sigint 1\n") || !strings.Contains(out, "status 0") {
		t.Errorf("want the command to see one SIGINT and exit 0; got %q", out)
	}
}

// noFunction says whether the kernel's BTF lacks update_socket_protocol.
func noFunction(t *testing.T) bool {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatalf("kernel BTF: %v", err)
	}
	var fn *btf.Func
	return errors.Is(spec.TypeByName(bpfprog.KernelFunction, &fn), btf.ErrNotFound)
}
