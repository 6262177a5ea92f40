package force_test

import (
	"bytes"
	"encoding/json"
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

// stormEnv makes the test binary create TCP sockets for a duration and
// check each: it must be a socket (not a standard descriptor, not some
// other file) of protocol MPTCP. It prints "CALLS WRONG EINTR".
const stormEnv = "MPTCPKIT_FORCE_TEST_STORM"

func socketStorm(spec string) int {
	d, err := time.ParseDuration(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	calls, wrong, eintr := 0, 0, 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		calls++
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err == unix.EINTR {
			eintr++
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "socket: %v\n", err)
			return 1
		}
		if fd <= 2 {
			wrong++
			if wrong <= 5 {
				fmt.Fprintf(os.Stderr, "socket() returned standard descriptor %d\n", fd)
			}
			continue // not ours to close
		}
		if p, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil || p != unix.IPPROTO_MPTCP {
			wrong++
			if wrong <= 5 {
				fmt.Fprintf(os.Stderr, "socket() returned fd %d: protocol %d (%v), want MPTCP\n", fd, p, err)
			}
		}
		unix.Close(fd)
	}
	fmt.Printf("%d %d %d\n", calls, wrong, eintr)
	return 0
}

// TestRunStopContinue: while a program under `run --method seccomp` makes
// sockets in a loop, the supervisor is stopped and continued thousands of
// times (SIGSTOP/SIGCONT, and SIGTSTP as Ctrl-Z sends). A stop used to
// interrupt SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND after
// the kernel had marked the call answered, so socket() returned 0 (stdin).
// No call may return anything but an MPTCP socket.
func TestRunStopContinue(t *testing.T) {
	ns := nstest.New(t, "stopcont")
	cmd := command(t, ns, "run", "--method", "seccomp", "--", "env", stormEnv+"=3s", self(t))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// `ip netns exec` execs into mptcpkit: the same pid is the supervisor.
	pid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		unix.Kill(pid, unix.SIGCONT)
		cmd.Process.Kill()
	}()
	cycles := stopStorm(t, pid, done, 20*time.Second)
	if t.Failed() {
		return
	}
	calls, wrong := stormResult(t, cmd, &stdout, &stderr)
	t.Logf("%d socket() calls, %d stop/continue cycles of the supervisor", calls, cycles)
	if wrong != 0 {
		t.Errorf("%d of %d socket() calls returned a wrong descriptor\nstderr: %s", wrong, calls, stderr.String())
	}
	minCycles, minCalls := 500, 1000
	if emulated, _ := nstest.Emulated(); emulated {
		minCycles, minCalls = 100, 500 // emulated: 414 cycles and ~5,000 calls in 3 s seen
	}
	if cycles < minCycles || calls < minCalls {
		t.Errorf("too little happened to mean anything: %d calls, %d cycles", calls, cycles)
	}
}

// stopStorm stops and continues pid until done says the command exited,
// alternating SIGSTOP and SIGTSTP, and returns how many cycles it made.
func stopStorm(t *testing.T, pid int, done <-chan error, limit time.Duration) int {
	t.Helper()
	timeout := time.After(limit)
	cycles := 0
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
			return cycles
		case <-timeout:
			t.Errorf("run still running after %v", limit)
			return cycles
		default:
		}
		stop := unix.SIGSTOP
		if cycles%2 == 1 {
			stop = unix.SIGTSTP
		}
		unix.Kill(pid, stop)
		time.Sleep(50 * time.Microsecond)
		unix.Kill(pid, unix.SIGCONT)
		time.Sleep(400 * time.Microsecond)
		cycles++
	}
}

func stormResult(t *testing.T, cmd *exec.Cmd, stdout, stderr *bytes.Buffer) (calls, wrong int) {
	t.Helper()
	f := strings.Fields(stdout.String())
	if len(f) != 3 {
		t.Fatalf("%s: output %q\nstderr: %s", strings.Join(cmd.Args, " "), stdout.String(), stderr.String())
	}
	calls, _ = strconv.Atoi(f[0])
	wrong, _ = strconv.Atoi(f[1])
	return calls, wrong
}

// TestRunUnderAlarms: a program (Python) whose SIGALRM handler, every
// 200 us, has no SA_RESTART gets from socket() under `run` an MPTCP socket
// every time, or EINTR, and nothing else. EINTR is the kernel's answer when
// the signal arrives before the supervisor has received the call (see
// seccomp.Install and the README): it cannot be avoided with seccomp user
// notification; the test logs how often it happened.
func TestRunUnderAlarms(t *testing.T) {
	ns := nstest.New(t, "eintr")
	py, err := filepath.Abs("testdata/eintr.py")
	if err != nil {
		t.Fatal(err)
	}
	out := output(t, command(t, ns, "run", "--method", "seccomp", "--", "python3", py, "3"))
	var got struct{ Calls, EINTR, Wrong, Alarms int }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	t.Logf("%d socket() calls, %d failed with EINTR, %d SIGALRM", got.Calls, got.EINTR, got.Alarms)
	if got.Wrong != 0 {
		t.Errorf("%d of %d socket() calls returned a socket that is not MPTCP", got.Wrong, got.Calls)
	}
	enough := 1000
	if emulated, _ := nstest.Emulated(); emulated {
		enough = 100 // emulated: Python makes ~300 calls a second
	}
	if got.Calls < enough || got.Alarms < enough {
		t.Errorf("too little happened to mean anything: %+v", got)
	}
}
