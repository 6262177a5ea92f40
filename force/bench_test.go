package force_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/force"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"golang.org/x/sys/unix"
)

// loopEnv makes the test binary create and close N TCP sockets and print
// the nanoseconds per socket()+close().
const loopEnv = "MPTCPKIT_FORCE_TEST_SOCKET_LOOP"

func socketLoop(spec string) int {
	nStr, asked, _ := strings.Cut(spec, ":")
	askProto := 0
	if asked == "mptcp" {
		askProto = unix.IPPROTO_MPTCP
	}
	n, err := strconv.Atoi(nStr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	proto := -1
	start := time.Now()
	for i := 0; i < n; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, askProto)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if i == 0 {
			proto, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
		}
		unix.Close(fd)
	}
	fmt.Printf("%d %d\n", time.Since(start).Nanoseconds()/int64(max(n, 1)), proto)
	return 0
}

// BenchmarkSocket measures socket(AF_INET, SOCK_STREAM)+close() without
// the tool ("none": plain TCP; "none-mptcp": the program itself asks for
// IPPROTO_MPTCP, the floor any method can reach) and under each method (the
// benchmark re-executes the test binary under `mptcpkit run`), inside a test
// namespace.
func BenchmarkSocket(b *testing.B) {
	ns := nstest.New(b, "bench")
	modes := []string{"none", "none-mptcp", string(force.Seccomp), string(force.BPF)}
	for _, mode := range modes {
		b.Run(mode, func(b *testing.B) {
			loop := fmt.Sprintf("%s=%d", loopEnv, b.N)
			if mode == "none-mptcp" {
				loop += ":mptcp"
			}
			cmd := ns.Command(self(b))
			cmd.Env = append(os.Environ(), loop)
			if !strings.HasPrefix(mode, "none") {
				// command: `-n NS run` for bpf, which `ip netns exec` would
				// deprive of the cgroup v2 file system.
				cmd = command(b, ns, "run", "--method", mode, "--", "env", loop, self(b))
			}
			b.ResetTimer()
			out, err := cmd.CombinedOutput()
			b.StopTimer()
			if err != nil {
				if mode == string(force.BPF) && strings.Contains(string(out), "not supported by this kernel") {
					b.Skipf("bpf: %s", strings.TrimSpace(string(out)))
				}
				b.Fatalf("%v: %s", err, out)
			}
			var ns int64
			var proto int
			if _, err := fmt.Sscan(string(out), &ns, &proto); err != nil {
				b.Fatalf("parse %q: %v", out, err)
			}
			want := 262
			if mode == "none" {
				want = 6
			}
			if proto != want {
				b.Fatalf("socket protocol %d, want %d", proto, want)
			}
			b.ReportMetric(float64(ns), "ns/socket")
		})
	}
}
