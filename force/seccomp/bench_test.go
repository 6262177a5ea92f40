package seccomp

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// loopEnv makes the test binary a filtered child that makes N sockets.
const loopEnv = "MPTCPKIT_SECCOMP_TEST_LOOP"

func loopChild(spec string) int {
	n, err := strconv.Atoi(spec)
	if err != nil {
		return 2
	}
	runtime.LockOSThread()
	lfd, err := Install()
	if err != nil {
		return 2
	}
	if err := unix.Sendmsg(3, []byte{0}, unix.UnixRights(lfd), nil, 0); err != nil {
		return 2
	}
	unix.Close(lfd)
	unix.Close(3)
	for i := 0; i < n; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return 1
		}
		unix.Close(fd)
	}
	return 0
}

// BenchmarkServe runs the supervisor in this process for a filtered child
// that makes b.N TCP sockets (closing each): ns/op is the wall time per
// socket(2) as the child sees it (round trips included), cpu-ns/socket the
// supervisor's own CPU time per call. Profile it with -cpuprofile.
func BenchmarkServe(b *testing.B) {
	if _, err := NativeArch(); err != nil {
		b.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stderr strings.Builder
	cmd, lfd := startFiltered(ctx, b, loopEnv+"="+strconv.Itoa(b.N), nil, &stderr)
	defer unix.Close(lfd)
	var before, after unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &before)
	b.ResetTimer()
	var s Supervisor
	if err := s.Serve(ctx, lfd); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	unix.Getrusage(unix.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/socket")
	if err := cmd.Wait(); err != nil {
		b.Fatalf("child: %v: %s", err, stderr.String())
	}
	if s.Stats.Forced != uint64(b.N) {
		b.Fatalf("stats %+v, want %d forced", s.Stats, b.N)
	}
}
