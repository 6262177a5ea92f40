package force_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/force"
	"github.com/mptcpkit/mptcpkit/force/bpfprog"
	"github.com/mptcpkit/mptcpkit/force/cgroup"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/mptcp"
	"golang.org/x/sys/unix"
)

// dialerEnv makes the test binary a long-running client: for every line on
// stdin it creates a socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0) (as an
// unmodified program does), connects to the address in the variable, sends
// dialerBytes, waits for the extra subflow (if MPTCP) and the server's
// count, and prints a dialResult as JSON.
const dialerEnv = "MPTCPKIT_FORCE_TEST_DIALER"

const dialerBytes = 4 << 20

type dialResult struct {
	Proto    int    `json:"proto"`
	Subflows int    `json:"subflows"` // extra subflows seen before closing
	Server   string `json:"server"`   // what the server says it received
	Err      string `json:"err,omitempty"`
}

func dialer(addr string) int {
	sc := bufio.NewScanner(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	for sc.Scan() {
		r, err := dialConn(addr)
		if err != nil {
			r.Err = err.Error()
		}
		enc.Encode(r)
	}
	return 0
}

func dialConn(addr string) (dialResult, error) {
	var r dialResult
	ap, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return r, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return r, err
	}
	r.Proto, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	sa := &unix.SockaddrInet4{Port: ap.Port}
	copy(sa.Addr[:], ap.IP.To4())
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return r, err
	}
	f := os.NewFile(uintptr(fd), "dial")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return r, err
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for sent := 0; sent < dialerBytes; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			return r, err
		}
		// The kernel path manager adds the second subflow once the
		// connection is established: keep sending until it is there.
		if r.Proto == unix.IPPROTO_MPTCP && r.Subflows == 0 {
			if info, err := mptcp.Info(c); err == nil {
				r.Subflows = int(info.Subflows)
			}
			if r.Subflows == 0 && sent+len(buf) >= dialerBytes && time.Now().Before(deadline) {
				sent -= len(buf) // wait for the join with more data in flight
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	c.(*net.TCPConn).CloseWrite()
	line, err := bufio.NewReader(c).ReadString('\n')
	r.Server = strings.TrimSpace(line)
	return r, err
}

// twoPathLab makes client and server namespaces joined by two veth pairs,
// with a subflow endpoint on the client's second path, and an MPTCP server
// on path 1 answering each connection with the byte count it received.
func twoPathLab(t *testing.T) (client *nstest.NS, addr string) {
	client, server := nstest.Pair(t, nstest.Paths(2, "10.0", "fc", "fs"))
	for _, ns := range []*nstest.NS{client, server} {
		ns.Run(t, "ip", "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2")
	}
	client.Run(t, "ip", "route", "add", "10.0.1.0/24", "via", "10.0.2.2", "dev", "fc2", "metric", "100", "table", "100")
	client.Run(t, "ip", "rule", "add", "from", "10.0.2.1", "table", "100")
	client.Run(t, "ip", "mptcp", "endpoint", "add", "10.0.2.1", "dev", "fc2", "subflow")
	var ln net.Listener
	server.Do(t, func() (err error) {
		ln, err = mptcp.Listen("tcp", "10.0.1.2:0")
		return err
	})
	t.Cleanup(func() { ln.Close() })
	nstest.Serve(ln, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		fmt.Fprintf(c, "%d\n", n)
	})
	return client, ln.Addr().String()
}

// startDialer starts the test binary, copied under name (its comm), as a
// dialer inside ns; dial() makes it connect once and returns the result.
func startDialer(t *testing.T, ns *nstest.NS, name, addr string) (cmd *exec.Cmd, dial func() dialResult) {
	exe := filepath.Join(t.TempDir(), name)
	src, err := os.ReadFile(self(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, src, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd = ns.Command(exe)
	cmd.Env = append(os.Environ(), dialerEnv+"="+addr)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	dec := json.NewDecoder(outp)
	return cmd, func() dialResult {
		t.Helper()
		if _, err := io.WriteString(in, "dial\n"); err != nil {
			t.Fatal(err)
		}
		var r dialResult
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("dialer: %v", err)
		}
		return r
	}
}

// pidOf returns the dialer's pid: `ip netns exec` execs it in place.
func pidOf(t *testing.T, cmd *exec.Cmd) int { return cmd.Process.Pid }

// startForce runs `mptcpkit force ARGS` and waits until it says it is active.
func startForce(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(self(t), append([]string{"force"}, args...)...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil || !strings.Contains(line, "are MPTCP until Ctrl-C") {
		t.Fatalf("force %v: %q %v", args, line, err)
	}
	go io.Copy(io.Discard, stderr)
	return cmd
}

func needBPF(t *testing.T) {
	t.Helper()
	if err := bpfprog.Probe(); err != nil {
		t.Skipf("the kernel cannot run the BPF program (TestRunMethodChoice checks the message): %v", err)
	}
}

// wantMPTCP checks a connection made under force: MPTCP, 2 subflows, and
// every byte arrived.
func wantMPTCP(t *testing.T, r dialResult) {
	t.Helper()
	if r.Err != "" || r.Proto != unix.IPPROTO_MPTCP || r.Subflows < 1 || r.Server != fmt.Sprint(dialerBytes) {
		t.Errorf("under force: %+v, want protocol 262, 1 extra subflow, server got %d bytes", r, dialerBytes)
	}
}

func wantTCP(t *testing.T, r dialResult, when string) {
	t.Helper()
	if r.Err != "" || r.Proto != unix.IPPROTO_TCP || r.Server != fmt.Sprint(dialerBytes) {
		t.Errorf("%s: %+v, want a TCP connection carrying %d bytes", when, r, dialerBytes)
	}
}

// pinsLeft returns what is pinned in the shared program's directory.
func pinsLeft() []string {
	ents, _ := os.ReadDir(bpfprog.PinDir)
	var n []string
	for _, e := range ents {
		n = append(n, e.Name())
	}
	return n
}

// TestForceComm: `mptcpkit force --comm NAME` turns the new sockets of a
// program that was already running into MPTCP sockets that carry real
// traffic over 2 subflows; before force and after it exits, the same
// process gets TCP, and nothing stays pinned.
func TestForceComm(t *testing.T) {
	needBPF(t)
	ns, addr := twoPathLab(t)
	name := fmt.Sprintf("mkfc%d", os.Getpid()%100000)
	_, dial := startDialer(t, ns, name, addr)
	wantTCP(t, dial(), "before force")
	f := startForce(t, "--comm", name)
	wantMPTCP(t, dial())
	f.Process.Signal(syscall.SIGTERM)
	if err := f.Wait(); err != nil {
		t.Errorf("force after SIGTERM: %v, want exit status 0", err)
	}
	if left := pinsLeft(); len(left) != 0 {
		t.Errorf("pinned after force exited: %v", left)
	}
	wantTCP(t, dial(), "after force exited")
}

// TestForceCgroup: `mptcpkit force --cgroup PATH` does the same for a
// program in that cgroup, while a `run --method bpf` shares the program
// (one link); the last to leave unpins it.
func TestForceCgroup(t *testing.T) {
	needBPF(t)
	ns, addr := twoPathLab(t)
	root, err := cgroup.Root()
	if err != nil {
		t.Fatal(err)
	}
	rel := fmt.Sprintf("/mptcpkit-test-force-%d", os.Getpid())
	dir := filepath.Join(root, rel)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd, dial := startDialer(t, ns, "mkfg-dialer", addr)
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if err := cgroup.Remove(dir); err != nil {
			t.Error(err)
		}
	})
	if err := cgroup.Move(dir, pidOf(t, cmd)); err != nil {
		t.Fatal(err)
	}
	wantTCP(t, dial(), "before force")
	f := startForce(t, "--cgroup", rel)
	wantMPTCP(t, dial())

	// A concurrent run joins the same link: one tracing link in the kernel.
	run := command(t, ns, "run", "--method", string(force.BPF), "--", "sleep", "3")
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- run.Wait() }()
	time.Sleep(time.Second)
	if n := tracingLinks(t); n != 1 {
		t.Errorf("%d tracing links with force and run both active, want 1 (shared)", n)
	}
	f.Process.Signal(syscall.SIGTERM)
	f.Wait()
	if n := tracingLinks(t); n != 1 {
		t.Errorf("force left while run still uses the program: %d tracing links, want 1", n)
	}
	wantTCP(t, dial(), "after force exited (run still active)")
	if err := <-runDone; err != nil {
		t.Errorf("run: %v", err)
	}
	if left := pinsLeft(); len(left) != 0 {
		t.Errorf("pinned after the last user left: %v", left)
	}
	if n := tracingLinks(t); n != 0 {
		t.Errorf("%d tracing links left", n)
	}
}

// TestForceSIGKILL: a `force` or a `run --method bpf` killed with SIGKILL
// cannot clean up, yet nothing stays: no pins, and the kernel releases the
// link with the last descriptor on it; the next run removes the killed
// run's cgroup.
func TestForceSIGKILL(t *testing.T) {
	needBPF(t)
	name := fmt.Sprintf("mkfk%d", os.Getpid()%100000)
	f := startForce(t, "--comm", name)
	if n := tracingLinks(t); n != 1 {
		t.Errorf("%d tracing links while force runs, want 1", n)
	}
	f.Process.Kill()
	f.Wait()
	if left, n := pinsLeft(), tracingLinks(t); len(left) != 0 || n != 0 {
		t.Errorf("force killed with SIGKILL left pins %v and %d tracing links", left, n)
	}

	ns := nstest.New(t, "kill")
	run := command(t, ns, "run", "--method", string(force.BPF), "--", "sleep", "30")
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for tracingLinks(t) != 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	run.Process.Kill()
	run.Wait()
	deadline = time.Now().Add(10 * time.Second)
	for tracingLinks(t) != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if left, n := pinsLeft(), tracingLinks(t); len(left) != 0 || n != 0 {
		t.Errorf("run killed with SIGKILL left pins %v and %d tracing links", left, n)
	}
	output(t, command(t, ns, "run", "--method", string(force.BPF), "--", "true"))
	if left := runCgroupsLeft(t); len(left) != 0 {
		t.Errorf("run cgroups left after the next run: %v", left)
	}
}

// tracingLinks counts the kernel's links to our program.
func tracingLinks(t *testing.T) int {
	t.Helper()
	n, err := bpfprog.Links()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
