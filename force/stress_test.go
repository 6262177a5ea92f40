package force_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"golang.org/x/sys/unix"
)

// TestRunSeccompStress: for 3 s a multithreaded Python program under `run
// --method seccomp` makes sockets from six threads (blocking and
// SOCK_NONBLOCK), connects the blocking ones to its own listener and
// echoes bytes over them, while another thread forks short-lived children
// that make a socket each, SIGALRM interrupts the program every 0.5 ms and
// every thread of the supervisor gets SIGURG every 50 us (as Go's own
// preemption does, more often). Every socket must be MPTCP with the asked
// flags; a signal interrupting SECCOMP_IOCTL_NOTIF_ADDFD used to make
// socket(2) return 0 (stdin), seen as ENOTSOCK.
func TestRunSeccompStress(t *testing.T) {
	needPython(t)
	if emulated, _ := nstest.Emulated(); emulated {
		t.Skip("under qemu TCG emulation too little happens in 3 s for the activity floor to mean anything")
	}
	ns := nstest.New(t, "stress")
	py, err := filepath.Abs("testdata/stress.py")
	if err != nil {
		t.Fatal(err)
	}
	cmd := command(t, ns, "run", "--method", "seccomp", "--", "python3", "-W", "ignore", py, "3")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// `ip netns exec` execs into mptcpkit: the same pid is the supervisor.
	pid := cmd.Process.Pid
	tick := time.NewTicker(50 * time.Microsecond)
	defer tick.Stop()
	timeout := time.After(20 * time.Second)
	signals := 0
	var werr error
wait:
	for {
		select {
		case werr = <-done:
			break wait
		case <-timeout:
			cmd.Process.Kill()
			<-done
			t.Fatalf("run still running after 20 s\nstderr: %s", stderr.String())
		case <-tick.C:
			ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
			for _, e := range ents {
				if tid, err := strconv.Atoi(e.Name()); err == nil && unix.Tgkill(pid, tid, unix.SIGURG) == nil {
					signals++
				}
			}
		}
	}
	if werr != nil {
		t.Fatalf("run: %v\nstdout: %s\nstderr: %s", werr, stdout.String(), stderr.String())
	}
	var got struct {
		Sockets, EINTR, Connections, Children, Alarms int
		Errors                                        []string
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("decode %q: %v\nstderr: %s", stdout.String(), err, stderr.String())
	}
	t.Logf("%d sockets (%d socket(2) calls interrupted), %d connections, %d children, %d SIGALRM in the program, %d SIGURG to the supervisor's threads",
		got.Sockets, got.EINTR, got.Connections, got.Children, got.Alarms, signals)
	for _, e := range got.Errors {
		t.Error(e)
	}
	if got.Sockets < 100 || got.Connections < 50 || got.Children < 10 || got.Alarms < 100 {
		t.Errorf("too little happened in 3 s to mean anything: %+v", got)
	}
}
