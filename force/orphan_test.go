package force_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"golang.org/x/sys/unix"
)

// orphanEnv makes the test binary, under run, start a grandchild and exit
// ("DIR"); the grandchild ("grand:DIR") makes a socket, writes its pid and
// the socket's protocol to DIR/ready, waits for DIR/go, makes another
// socket and writes its protocol (or the error) to DIR/result.
const orphanEnv = "MPTCPKIT_FORCE_TEST_ORPHAN"

func orphan(spec string) int {
	dir, grand := strings.CutPrefix(spec, "grand:")
	if !grand {
		exe, err := os.Executable()
		if err != nil {
			return 2
		}
		c := exec.Command(exe)
		c.Env = append(os.Environ(), orphanEnv+"=grand:"+dir)
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		return 0
	}
	proto := func() string {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return "error: " + err.Error()
		}
		defer unix.Close(fd)
		p, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
		if err != nil {
			return "error: " + err.Error()
		}
		return strconv.Itoa(p)
	}
	os.WriteFile(filepath.Join(dir, "ready.tmp"), []byte(fmt.Sprintf("%d %s", os.Getpid(), proto())), 0o644)
	os.Rename(filepath.Join(dir, "ready.tmp"), filepath.Join(dir, "ready"))
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "go")); err == nil {
			os.WriteFile(filepath.Join(dir, "result.tmp"), []byte(proto()), 0o644)
			os.Rename(filepath.Join(dir, "result.tmp"), filepath.Join(dir, "result"))
			return 0
		}
	}
	return 1
}

// waitFile waits up to 20 s for name and returns its content.
func waitFile(t *testing.T, name string) string {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(name); err == nil {
			return string(b)
		}
	}
	t.Fatalf("no %s after 20 s", name)
	return ""
}

// TestRunSupervisorKilled: when `mptcpkit run` is killed with SIGKILL, a
// process its command left running (a grandchild) gets plain TCP sockets
// from then on, as documented, instead of ENOSYS from every socket().
func TestRunSupervisorKilled(t *testing.T) {
	ns := nstest.New(t, "killed")
	dir := t.TempDir()
	cmd := command(t, ns, "run", "--method", "seccomp", "--", "env", orphanEnv+"="+dir, self(t))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()
	var grandchild int
	defer func() {
		if grandchild > 0 {
			unix.Kill(grandchild, unix.SIGKILL) // the keeper then exits too
		}
	}()
	var before string
	if _, err := fmt.Sscan(waitFile(t, filepath.Join(dir, "ready")), &grandchild, &before); err != nil {
		t.Fatal(err)
	}
	if before != strconv.Itoa(unix.IPPROTO_MPTCP) {
		t.Fatalf("grandchild's socket under run: protocol %s, want MPTCP", before)
	}
	// `ip netns exec` execs into mptcpkit: the same pid is the supervisor.
	if err := cmd.Process.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not die of SIGKILL")
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := waitFile(t, filepath.Join(dir, "result")); got != strconv.Itoa(unix.IPPROTO_TCP) {
		t.Errorf("grandchild's socket after the supervisor was killed: %s, want plain TCP (6)\nstderr: %s", got, stderr.String())
	}
}
