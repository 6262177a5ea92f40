package force_test

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mptcpkit/mptcpkit/force"
	"github.com/mptcpkit/mptcpkit/force/bpfprog"
	"github.com/mptcpkit/mptcpkit/internal/cli"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// The test binary doubles as the mptcpkit command: with mainEnv set it runs
// cli.Main, so `self run ...` and the shim (/proc/self/exe) need no build.
const mainEnv = "MPTCPKIT_FORCE_TEST_MAIN"

func TestMain(m *testing.M) {
	if a := os.Getenv(dialerEnv); a != "" {
		os.Exit(dialer(a))
	}
	if d := os.Getenv(orphanEnv); d != "" {
		os.Exit(orphan(d))
	}
	if d := os.Getenv(stormEnv); d != "" {
		os.Exit(socketStorm(d))
	}
	if n := os.Getenv(loopEnv); n != "" {
		os.Exit(socketLoop(n))
	}
	if os.Getenv(mainEnv) == "1" {
		os.Exit(cli.Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// needPython skips t where python3 is missing: the kernel matrix's VMs
// have busybox and static programs only (TestRunGo covers them there).
func needPython(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skipf("python3 is not installed here (%v)", err)
	}
}

func self(t testing.TB) string {
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// methods returns the methods this kernel can test, and logs why bpf is
// not among them.
func methods(t *testing.T) []force.Method {
	ms := []force.Method{force.Seccomp}
	m, err := bpfprog.NewMaps()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := bpfprog.NewProgram(m)
	if err != nil {
		t.Logf("method bpf not tested: %v", err)
		return ms
	}
	p.Close()
	return append(ms, force.BPF)
}

// command runs `mptcpkit ARGS...` (the test binary) inside ns: with `ip
// netns exec`, except for the bpf method, which needs the cgroup v2 and bpf
// file systems `ip netns exec` hides: `mptcpkit -n NS run` then.
func command(t testing.TB, ns *nstest.NS, args ...string) *exec.Cmd {
	cmd := ns.Command(self(t), args...)
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--method" && args[i+1] == string(force.BPF) {
			cmd = exec.Command(self(t), append([]string{"-n", ns.Name}, args...)...)
			break
		}
	}
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	return cmd
}

func output(t testing.TB, cmd *exec.Cmd) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", strings.Join(cmd.Args, " "), err, stdout.String(), stderr.String())
		}
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s: still running after 90 s\nstderr: %s", strings.Join(cmd.Args, " "), stderr.String())
	}
	return stdout.String()
}

type sockInfo struct {
	Proto    int  `json:"proto"`
	Nonblock bool `json:"nonblock"`
	Cloexec  bool `json:"cloexec"`
	Owned    bool `json:"uid"` // the socket's owner is the process's uid
}

func pythonSockets(t *testing.T, cmd *exec.Cmd) map[string]sockInfo {
	t.Helper()
	out := output(t, cmd)
	var got map[string]sockInfo
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	return got
}

func wantSockets(tcp int) map[string]sockInfo {
	return map[string]sockInfo{
		"tcp4":            {tcp, false, true, true},
		"tcp6":            {tcp, false, true, true},
		"tcp4_explicit":   {tcp, false, true, true},
		"tcp4_nonblock":   {tcp, true, true, true},
		"udp4":            {17, false, true, true},
		"unix":            {0, false, true, true},
		"mptcp":           {262, false, true, true},
		"tcp4_libc":       {tcp, false, false, true},
		"tcp4_libc_flags": {tcp, true, true, true},
	}
}

func script(t *testing.T) string {
	needPython(t)
	p, err := filepath.Abs("testdata/sockets.py")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunPython: a Python program's TCP sockets are MPTCP under run (with
// their NONBLOCK/CLOEXEC flags as asked), UDP, unix and explicit MPTCP
// sockets are untouched, a grandchild is forced too, and outside run the
// same program gets plain TCP.
func TestRunPython(t *testing.T) {
	py := script(t)
	ns := nstest.New(t, "py")
	t.Run("outside", func(t *testing.T) {
		got := pythonSockets(t, ns.Command("python3", py))
		if d := cmp.Diff(wantSockets(6), got); d != "" {
			t.Errorf("(-want +got)\n%s", d)
		}
	})
	for _, m := range methods(t) {
		t.Run(string(m), func(t *testing.T) {
			got := pythonSockets(t, command(t, ns, "run", "--method", string(m), "--", "python3", py))
			if d := cmp.Diff(wantSockets(262), got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
		t.Run(string(m)+"/as-nobody", func(t *testing.T) {
			// The sockets must belong to the program's user, not to the
			// supervisor (root): iptables' owner match and uid routing see it.
			src, err := os.ReadFile(py)
			if err != nil {
				t.Fatal(err)
			}
			got := pythonSockets(t, command(t, ns, "run", "--method", string(m), "--",
				"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", string(src)))
			if d := cmp.Diff(wantSockets(262), got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
		t.Run(string(m)+"/grandchild", func(t *testing.T) {
			got := pythonSockets(t, command(t, ns, "run", "--method", string(m), "--",
				"sh", "-c", "sh -c 'python3 "+py+"; exit $?'; exit $?"))
			if d := cmp.Diff(wantSockets(262), got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

var dialOnce struct {
	sync.Once
	path string
	err  error
}

// dialProgram builds testdata/dial as a static (CGO_ENABLED=0) Go binary
// whose go.mod names Go 1.22, so nothing in it asks for MPTCP.
// Where there is no Go toolchain (the kernel matrix's VMs), the runner
// builds it beforehand and names it in MPTCPKIT_FORCE_TEST_DIAL.
func dialProgram(t *testing.T) string {
	if p := os.Getenv("MPTCPKIT_FORCE_TEST_DIAL"); p != "" {
		return p
	}
	dialOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mptcpkit-force-test-dial-")
		if err != nil {
			dialOnce.err = err
			return
		}
		src, err := os.ReadFile("testdata/dial/main.go.txt")
		if err != nil {
			dialOnce.err = err
			return
		}
		os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644)
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module dial\n\ngo 1.22\n"), 0o644)
		cmd := exec.Command("go", "build", "-o", "dial", ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			dialOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		dialOnce.path = filepath.Join(dir, "dial")
	})
	if dialOnce.err != nil {
		t.Fatal(dialOnce.err)
	}
	return dialOnce.path
}

// mptcpServer listens with MPTCP on 127.0.0.1 inside ns and answers every
// connection with "hello\n".
func mptcpServer(t *testing.T, ns *nstest.NS) string {
	var ln net.Listener
	ns.Do(t, func() error {
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(true)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello\n"))
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// TestRunGo: a static Go binary's default net.Dial connection reports
// MultipathTCP() true under run, false outside; also when a grandchild
// dials, and when the supervisor runs outside the command's namespace
// (-n NS: the socket must be made in the command's namespace).
func TestRunGo(t *testing.T) {
	dial := dialProgram(t)
	f, err := elf.Open(dial)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s is dynamically linked; the test needs a static binary", dial)
		}
	}
	f.Close()
	ns := nstest.New(t, "go")
	addr := mptcpServer(t, ns)
	if got := output(t, ns.Command(dial, addr)); got != "mptcp=false server=hello\n" {
		t.Errorf("outside run: %q, want mptcp=false", got)
	}
	for _, m := range methods(t) {
		t.Run(string(m), func(t *testing.T) {
			if got := output(t, command(t, ns, "run", "--method", string(m), "--", dial, addr)); got != "mptcp=true server=hello\n" {
				t.Errorf("under run: %q, want mptcp=true", got)
			}
		})
		t.Run(string(m)+"/grandchild", func(t *testing.T) {
			got := output(t, command(t, ns, "run", "--method", string(m), "--", "sh", "-c", "sh -c '"+dial+" "+addr+"'; true"))
			if got != "mptcp=true server=hello\n" {
				t.Errorf("grandchild under run: %q, want mptcp=true", got)
			}
		})
		t.Run(string(m)+"/supervisor-in-other-netns", func(t *testing.T) {
			cmd := exec.Command(self(t), "-n", ns.Name, "run", "--method", string(m), "--", dial, addr)
			cmd.Env = append(os.Environ(), mainEnv+"=1")
			if got := output(t, cmd); got != "mptcp=true server=hello\n" {
				t.Errorf("-n %s run: %q, want mptcp=true", ns.Name, got)
			}
		})
	}
}

// TestRunMPTCPDisabled: with net.mptcp.enabled=0 the program under run still
// works, over TCP.
func TestRunMPTCPDisabled(t *testing.T) {
	ns := nstest.New(t, "off")
	addr := mptcpServer(t, ns) // created before disabling: a listener that falls back
	ns.Sysctl(t, "net.mptcp.enabled", "0")
	dial := dialProgram(t)
	for _, m := range methods(t) {
		if m == force.BPF {
			// The BPF program cannot fall back per socket: run refuses
			// it, says why and what to do, and auto takes seccomp.
			t.Run("bpf-refused", func(t *testing.T) {
				cmd := command(t, ns, "run", "--method", "bpf", "--", dial, addr)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				err := cmd.Run()
				if err == nil {
					t.Fatal("run --method bpf with MPTCP disabled succeeded; want a refusal")
				}
				for _, w := range []string{"net.mptcp.enabled is 0", "--method seccomp"} {
					if !strings.Contains(stderr.String(), w) {
						t.Errorf("stderr %q does not contain %q", stderr.String(), w)
					}
				}
				cmd = exec.Command(self(t), "-n", ns.Name, "run", "-v", "--", dial, addr)
				cmd.Env = append(os.Environ(), mainEnv+"=1")
				stderr.Reset()
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil || string(out) != "mptcp=false server=hello\n" {
					t.Errorf("auto with MPTCP disabled: %q %v\n%s", out, err, stderr.String())
				}
				if !strings.Contains(stderr.String(), "method seccomp (BPF is not usable: net.mptcp.enabled is 0") {
					t.Errorf("auto's reason: %q, want seccomp because net.mptcp.enabled is 0", stderr.String())
				}
			})
			continue
		}
		t.Run(string(m), func(t *testing.T) {
			if got := output(t, command(t, ns, "run", "--method", string(m), "--", dial, addr)); got != "mptcp=false server=hello\n" {
				t.Errorf("under run with MPTCP disabled: %q, want a working TCP connection", got)
			}
			got := pythonSockets(t, command(t, ns, "run", "--method", string(m), "--", "python3", script(t)))
			want := wantSockets(6)
			want["mptcp"] = sockInfo{Proto: -int(syscall.ENOPROTOOPT)} // explicit MPTCP fails when disabled
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}
