package seccomp

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"golang.org/x/sys/unix"
)

// childEnv makes the test binary a filtered child: it installs the filter
// on its locked thread, sends the listener on fd 3 and creates sockets.
const childEnv = "MPTCPKIT_SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(threadEnv); path != "" {
		os.Exit(threadChild(path))
	}
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(child(spec))
	}
	if n := os.Getenv(loopEnv); n != "" {
		os.Exit(loopChild(n))
	}
	os.Exit(m.Run())
}

// child installs the filter on its locked thread, sends the listener on
// fd 3, starts two workers (they inherit the filter) and creates sockets
// itself; spec is the duration. A worker ("worker:DURATION") creates
// sockets from four goroutines, so from several threads. SIGALRM arrives
// every 100 us in every process. Every socket is checked: a socket (not
// some other descriptor), MPTCP, with the flags asked for. It prints how
// many sockets were made.
func child(spec string) int {
	worker := strings.HasPrefix(spec, "worker:")
	d, err := time.ParseDuration(strings.TrimPrefix(spec, "worker:"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var workers []*exec.Cmd
	var outs []*strings.Builder
	if !worker {
		runtime.LockOSThread() // the filter is on this thread only
		lfd, err := Install()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if err := unix.Sendmsg(3, []byte{0}, unix.UnixRights(lfd), nil, 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		unix.Close(lfd)
		unix.Close(3)
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		for i := 0; i < 2; i++ {
			// Forked from this (filtered) thread: the worker inherits it.
			w := exec.Command(exe)
			w.Env = append(os.Environ(), childEnv+"=worker:"+d.String())
			out := new(strings.Builder)
			w.Stdout, w.Stderr = out, os.Stderr
			if err := w.Start(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			workers = append(workers, w)
			outs = append(outs, out)
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGALRM)
	go func() {
		for range sigs {
		}
	}()
	tv := unix.Timeval{Usec: 100}
	if _, err := unix.Setitimer(unix.ItimerReal, unix.Itimerval{Interval: tv, Value: tv}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var mu sync.Mutex
	total, code := 0, 0
	add := func(n int, err error) {
		mu.Lock()
		defer mu.Unlock()
		total += n
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if worker {
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				add(makeSockets(d))
			}()
		}
		wg.Wait()
	} else {
		add(makeSockets(d)) // on the filtered thread
	}
	for i, w := range workers {
		if err := w.Wait(); err != nil {
			fmt.Fprintf(os.Stderr, "worker: %v\n", err)
			code = 1
		}
		n, _ := strconv.Atoi(strings.TrimSpace(outs[i].String()))
		total += n
	}
	fmt.Println(total)
	return code
}

// makeSockets creates, checks and closes sockets for d.
func makeSockets(d time.Duration) (int, error) {
	flagsets := []int{0, unix.SOCK_CLOEXEC, unix.SOCK_NONBLOCK, unix.SOCK_CLOEXEC | unix.SOCK_NONBLOCK}
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); n++ {
		fl := flagsets[n%len(flagsets)]
		fam := unix.AF_INET
		if n%2 == 1 {
			fam = unix.AF_INET6
		}
		fd, err := unix.Socket(fam, unix.SOCK_STREAM|fl, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("pid %d tid %d: socket #%d: %w", os.Getpid(), unix.Gettid(), n, err)
		}
		if err := check(fd, fl); err != nil {
			return n, fmt.Errorf("pid %d tid %d: socket #%d (flags %#x) = %d: %w", os.Getpid(), unix.Gettid(), n, fl, fd, err)
		}
		unix.Close(fd)
	}
	return n, nil
}

func check(fd, flags int) error {
	if fd <= 2 {
		return fmt.Errorf("socket(2) returned a standard descriptor")
	}
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil {
		return fmt.Errorf("SO_PROTOCOL: %w", err)
	}
	if proto != unix.IPPROTO_MPTCP {
		return fmt.Errorf("protocol %d, want %d (MPTCP)", proto, unix.IPPROTO_MPTCP)
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if got, want := fl&unix.O_NONBLOCK != 0, flags&unix.SOCK_NONBLOCK != 0; got != want {
		return fmt.Errorf("O_NONBLOCK %v, want %v", got, want)
	}
	fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		return err
	}
	if got, want := fdfl&unix.FD_CLOEXEC != 0, flags&unix.SOCK_CLOEXEC != 0; got != want {
		return fmt.Errorf("FD_CLOEXEC %v, want %v", got, want)
	}
	return nil
}

// signalThreads sends sig to every thread of this process every interval
// until stop is closed.
func signalThreads(stop <-chan struct{}, sig unix.Signal, every time.Duration) {
	pid := os.Getpid()
	for {
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
		ents, _ := os.ReadDir("/proc/self/task")
		for _, e := range ents {
			if tid, err := strconv.Atoi(e.Name()); err == nil {
				unix.Tgkill(pid, tid, sig)
			}
		}
	}
}

// TestServeUnderSignals: the supervisor's threads get signals all the time
// (the Go runtime preempts with SIGURG; a subreaper gets SIGCHLD) while a
// child, itself interrupted by SIGALRM every 100 us, creates sockets as
// fast as it can. Every socket(2) must return an MPTCP socket with the
// asked flags; never another descriptor (a signal that interrupts
// SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND leaves the
// caller's socket(2) returning 0, its stdin).
func TestServeUnderSignals(t *testing.T) {
	if _, err := NativeArch(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stdout, stderr strings.Builder
	cmd, lfd := startFiltered(ctx, t, childEnv+"=2s", &stdout, &stderr)
	defer unix.Close(lfd)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		signalThreads(stop, unix.SIGURG, 20*time.Microsecond)
	}()
	var s Supervisor
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.Serve(ctx, lfd) }()
	werr := cmd.Wait()
	close(stop)
	wg.Wait()
	if err := <-serveErr; err != nil {
		t.Errorf("Serve: %v", err)
	}
	t.Logf("child made %s sockets; supervisor: %+v", strings.TrimSpace(stdout.String()), s.Stats)
	if werr != nil {
		t.Fatalf("child: %v: %s", werr, stderr.String())
	}
	if s.Stats.Forced == 0 {
		t.Errorf("no socket forced")
	}
}

// TestPollVerdict: POLLHUP (no process left) ends the loop even with
// POLLIN; POLLERR alone (the poll was interrupted waiting for the
// notification lock) does not.
func TestPollVerdict(t *testing.T) {
	for _, tt := range []struct {
		revents int16
		want    int
	}{
		{0, pollRetry},
		{unix.POLLIN, pollRecv},
		{unix.POLLIN | unix.POLLOUT, pollRecv},
		{unix.POLLOUT, pollRetry},
		{unix.POLLERR, pollRetry},
		{unix.POLLHUP, pollDone},
		{unix.POLLIN | unix.POLLHUP, pollDone},
		{unix.POLLERR | unix.POLLHUP, pollDone},
		{unix.POLLNVAL, pollBad},
	} {
		if got := pollVerdict(tt.revents); got != tt.want {
			t.Errorf("pollVerdict(%#x) = %d, want %d", tt.revents, got, tt.want)
		}
	}
}

// threadEnv makes the test binary install the filter on a thread that is
// not the thread-group leader, move that thread alone into the network
// namespace at the given path, make a socket there and say where it is.
const threadEnv = "MPTCPKIT_SECCOMP_TEST_THREAD"

func threadChild(path string) int {
	errc := make(chan error, 1)
	go func() {
		// Find a thread that is not the leader; leave the others locked
		// (they die with their goroutines) so none is picked twice.
		for i := 0; ; i++ {
			runtime.LockOSThread()
			if unix.Gettid() != os.Getpid() {
				break
			}
			if i > 10 {
				errc <- fmt.Errorf("no thread but the leader")
				return
			}
			done := make(chan struct{})
			go func() { runtime.LockOSThread(); <-done }()
			close(done)
			// Let go of the leader; start over on a fresh goroutine.
			go func() { errc <- threadSocket(path) }()
			return
		}
		errc <- threadSocket(path)
	}()
	if err := <-errc; err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// threadSocket runs on a locked thread other than the leader.
func threadSocket(path string) error {
	runtime.LockOSThread()
	if unix.Gettid() == os.Getpid() {
		return fmt.Errorf("still on the leader thread")
	}
	lfd, err := Install()
	if err != nil {
		return err
	}
	if err := unix.Sendmsg(3, []byte{0}, unix.UnixRights(lfd), nil, 0); err != nil {
		return err
	}
	unix.Close(lfd)
	nsfd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if err := check(fd, unix.SOCK_CLOEXEC); err != nil {
		return err
	}
	sockNS, err := unix.IoctlRetInt(fd, unix.SIOCGSKNS)
	if err != nil {
		return fmt.Errorf("SIOCGSKNS: %w", err)
	}
	var got, want, leader unix.Stat_t
	unix.Fstat(sockNS, &got)
	unix.Fstat(nsfd, &want)
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", os.Getpid()), &leader); err != nil {
		return err
	}
	if got.Ino == leader.Ino {
		return fmt.Errorf("the socket is in the leader's namespace (inode %d), not the thread's (%d)", got.Ino, want.Ino)
	}
	if got.Ino != want.Ino {
		return fmt.Errorf("the socket is in namespace inode %d, want the thread's %d", got.Ino, want.Ino)
	}
	return nil
}

// TestServeThreadNetNS: a notification names the calling thread; when that
// thread alone has moved to another network namespace, the MPTCP socket is
// made in the thread's namespace, not its process leader's.
func TestServeThreadNetNS(t *testing.T) {
	if _, err := NativeArch(); err != nil {
		t.Skip(err)
	}
	ns := nstest.New(t, "thread")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stderr strings.Builder
	cmd, lfd := startFiltered(ctx, t, threadEnv+"=/run/netns/"+ns.Name, nil, &stderr)
	defer unix.Close(lfd)
	s := Supervisor{Logger: slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.Serve(ctx, lfd) }()
	werr := cmd.Wait()
	if err := <-serveErr; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if werr != nil {
		t.Fatalf("child: %v: %s", werr, stderr.String())
	}
	if s.Stats.Forced != 1 {
		t.Errorf("stats %+v, want 1 socket forced", s.Stats)
	}
}

// startFiltered starts this test binary as a child (env selects its role)
// that installs the socket(2) filter and sends back the listener fd over a
// socketpair; the child is killed when ctx ends.
func startFiltered(ctx context.Context, t testing.TB, env string, stdout, stderr *strings.Builder) (*exec.Cmd, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent, childEnd := os.NewFile(uintptr(fds[0]), "parent"), os.NewFile(uintptr(fds[1]), "child")
	defer parent.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), env)
	cmd.ExtraFiles = []*os.File{childEnd}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	childEnd.Close()
	go func() {
		<-ctx.Done()
		cmd.Process.Kill()
	}()
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(parent.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil || oobn == 0 {
		cmd.Wait()
		t.Fatalf("no listener from the child (%v): %s", err, stderr.String())
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		t.Fatalf("control message from the child: %v", err)
	}
	lfds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	return cmd, lfds[0]
}

type tlog struct{ t *testing.T }

func (w tlog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
