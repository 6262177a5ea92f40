package seccomp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// struct seccomp_data, seccomp_notif, seccomp_notif_resp, seccomp_notif_addfd
type data struct {
	Nr   int32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

type notif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  data
}

type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

type notifAddfd struct {
	ID         uint64
	Flags      uint32
	Srcfd      uint32
	Newfd      uint32
	NewfdFlags uint32
}

const (
	iocNotifRecv    = unix.SECCOMP_IOCTL_NOTIF_RECV // _IOWR('!', 0, struct seccomp_notif)
	iocNotifSend    = unix.SECCOMP_IOCTL_NOTIF_SEND // _IOWR('!', 1, struct seccomp_notif_resp)
	iocNotifIDValid = 0x40082102                    // _IOW('!', 2, __u64)
	iocNotifAddfd   = 0x40182103                    // _IOW('!', 3, struct seccomp_notif_addfd)
	iocNotifSetFl   = 0x40082104                    // _IOW('!', 4, __u64)
)

func init() {
	// The ioctl numbers encode the struct sizes; keep them in step.
	if unsafe.Sizeof(notif{}) != 80 || unsafe.Sizeof(notifResp{}) != 24 || unsafe.Sizeof(notifAddfd{}) != 24 {
		panic("seccomp: struct layout mismatch")
	}
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) (uintptr, error) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return r, nil
	}
}

// Stats counts what a Supervisor did.
type Stats struct {
	Forced   uint64 // sockets created as MPTCP and installed
	Fallback uint64 // calls let through as TCP because MPTCP could not be created
	Gone     uint64 // notifications whose caller died before the answer
}

// Supervisor answers the filter's notifications.
type Supervisor struct {
	Logger *slog.Logger // nil: no logging
	Stats  Stats
	// Received, if set, gets the id of every notification as it is
	// received, before it is answered: what a Keeper answers if this
	// process dies in between.
	Received *atomic.Uint64
}

// Serve answers notifications on listener fd until every process using
// the filter has exited (it returns nil) or ctx is done (it returns
// ctx.Err()). It does not close fd.
//
// Where the kernel has SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP it waits in SECCOMP_IOCTL_NOTIF_RECV itself, with
// SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: the kernel marks a call received
// as soon as it wakes this thread, on the caller's CPU, without a round
// trip through poll(2) first. There, ctx is only looked at when the
// listener wakes (a call, or no process left): cancel it together with
// killing the filtered processes. Older kernels: poll(2), then receive.
func (s *Supervisor) Serve(ctx context.Context, fd int) error {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// One OS thread serves every call: its network namespace and
	// credentials are known once, and it enters a caller's namespace
	// itself (and returns) instead of handing the work to another thread.
	runtime.LockOSThread()
	st, err := newServeState()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer func() {
		if st.close() {
			runtime.UnlockOSThread()
		} // else the thread is in a foreign namespace: it dies with this goroutine
	}()
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), iocNotifSetFl, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP); errno == 0 {
		return s.serveBlocking(ctx, fd, st, log)
	}
	return s.servePoll(ctx, fd, st, log)
}

// serveBlocking waits in SECCOMP_IOCTL_NOTIF_RECV, which on such kernels
// also returns (ENOENT) when the last process using the filter has gone.
func (s *Supervisor) serveBlocking(ctx context.Context, fd int, st *serveState, log *slog.Logger) error {
	misses := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var req notif
		if _, err := ioctl(fd, iocNotifRecv, unsafe.Pointer(&req)); err != nil {
			if !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("SECCOMP_IOCTL_NOTIF_RECV: %w", err)
			}
			// No call to receive: its caller was interrupted or died
			// meanwhile, or no process uses the filter any more.
			pfd := []unix.PollFd{{Fd: int32(fd)}}
			if n, _ := unix.Poll(pfd, 0); n > 0 {
				switch pollVerdict(pfd[0].Revents) {
				case pollDone:
					return nil
				case pollBad:
					return fmt.Errorf("seccomp listener: descriptor %d is not open", fd)
				}
			}
			s.Stats.Gone++
			if misses++; misses > 100 { // never spin on a listener that keeps saying so
				time.Sleep(time.Millisecond)
			}
			continue
		}
		misses = 0
		if s.Received != nil {
			s.Received.Store(req.ID)
		}
		if err := s.handle(fd, &req, st, log); err != nil {
			return err
		}
	}
}

// servePoll polls the listener and receives what it announces.
func (s *Supervisor) servePoll(ctx context.Context, fd int, st *serveState, log *slog.Logger) error {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	misses := 0 // polls and receives in a row that gave nothing
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		pfd[0].Revents = 0
		n, err := unix.Poll(pfd, 250)
		if errors.Is(err, unix.EINTR) || n == 0 {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll seccomp listener: %w", err)
		}
		switch pollVerdict(pfd[0].Revents) {
		case pollDone:
			return nil
		case pollBad:
			return fmt.Errorf("poll seccomp listener: descriptor %d is not open", fd)
		case pollRetry:
			if pfd[0].Revents&unix.POLLERR != 0 {
				misses++
				if misses > 100 {
					time.Sleep(time.Millisecond)
				}
			}
			continue
		}
		var req notif
		if _, err := ioctl(fd, iocNotifRecv, unsafe.Pointer(&req)); err != nil {
			if errors.Is(err, unix.ENOENT) { // the caller was interrupted or died meanwhile
				s.Stats.Gone++
				misses++
				if misses > 100 { // never spin on a listener that keeps saying so
					time.Sleep(time.Millisecond)
				}
				continue
			}
			return fmt.Errorf("SECCOMP_IOCTL_NOTIF_RECV: %w", err)
		}
		misses = 0
		if s.Received != nil {
			s.Received.Store(req.ID)
		}
		if err := s.handle(fd, &req, st, log); err != nil {
			return err
		}
	}
}

// What a poll of the listener means.
const (
	pollRetry = iota // nothing to receive yet: poll again
	pollRecv         // a notification waits
	pollDone         // no process uses the filter any more: nothing can be pending
	pollBad          // the descriptor is not open
)

func pollVerdict(revents int16) int {
	switch {
	case revents&unix.POLLHUP != 0:
		return pollDone
	case revents&unix.POLLNVAL != 0:
		return pollBad
	case revents&unix.POLLERR != 0:
		// The listener's poll answers POLLERR, and nothing else, when a
		// signal arrived while it waited for the notification lock (which
		// callers hold while they queue): not the end. Taking it for the
		// end closed the listener under running programs, whose socket(2)
		// then failed with ENOSYS.
		return pollRetry
	case revents&unix.POLLIN != 0:
		return pollRecv
	}
	return pollRetry
}

func (s *Supervisor) handle(fd int, req *notif, st *serveState, log *slog.Logger) error {
	family := int(uint32(req.Data.Args[0]))
	typ := int(uint32(req.Data.Args[1]))
	proto := int(uint32(req.Data.Args[2]))
	cont := func(why error) {
		s.Stats.Fallback++
		log.Debug("socket left as TCP", "pid", req.Pid, "family", family, "type", typ, "reason", why)
		resp := notifResp{ID: req.ID, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
		if _, err := ioctl(fd, iocNotifSend, unsafe.Pointer(&resp)); err != nil && !errors.Is(err, unix.ENOENT) {
			log.Warn("SECCOMP_IOCTL_NOTIF_SEND", "err", err)
		}
	}
	if (family != unix.AF_INET && family != unix.AF_INET6) || typ&0xf != unix.SOCK_STREAM ||
		(proto != 0 && proto != unix.IPPROTO_TCP) {
		cont(errors.New("not a TCP stream socket"))
		return nil
	}
	sock, err := st.socket(int(req.Pid), family, typ)
	if errors.Is(err, errGone) {
		s.Stats.Gone++
		return nil
	}
	var fatal *fatalError
	if errors.As(err, &fatal) {
		return err
	}
	if err != nil {
		cont(err)
		return nil
	}
	defer unix.Close(sock)
	newfd, err := s.install(fd, req, sock, typ&unix.SOCK_CLOEXEC != 0)
	if err != nil {
		if errors.Is(err, errGone) {
			s.Stats.Gone++
			return nil
		}
		log.Debug("install socket failed", "pid", req.Pid, "err", err)
		return nil
	}
	s.Stats.Forced++
	log.Debug("socket forced to MPTCP", "pid", req.Pid, "family", family, "type", typ, "fd", newfd)
	return nil
}

var errGone = errors.New("caller gone")

// install puts sock into the caller's descriptor table and answers the
// notification with the new descriptor number, in two steps:
//
//  1. SECCOMP_IOCTL_NOTIF_ADDFD, without SECCOMP_ADDFD_FLAG_SEND. If a
//     signal or a stop of this process interrupts it, the kernel either
//     withdraws the request before the caller installed anything or reports
//     the descriptor it did install; so retrying an interrupted ADDFD never
//     installs twice. (With ADDFD_FLAG_SEND the kernel marked the call
//     answered with 0 before the descriptor was in place: an interrupted
//     ADDFD then left the caller's socket(2) returning 0, its stdin.)
//  2. SECCOMP_IOCTL_NOTIF_SEND with the descriptor as the return value. It
//     does not sleep; the notification is still unanswered, so only ENOENT
//     (the caller is gone) can make it fail.
//
// If the caller is gone at step 2 it was killed (the filter waits killably
// once a call is received), and the descriptor goes with its table; before
// Linux 5.19 (no SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) a plain signal
// could also have interrupted the call, which the kernel restarts as a new
// notification, and then one descriptor stays open in the caller: Linux
// has no way to close another process's descriptor. It returns the new
// descriptor number, or errGone, or the error it answered the caller with.
func (s *Supervisor) install(fd int, req *notif, sock int, cloexec bool) (int, error) {
	add := notifAddfd{ID: req.ID, Srcfd: uint32(sock)}
	if cloexec {
		add.NewfdFlags = unix.O_CLOEXEC
	}
	newfd, err := ioctl(fd, iocNotifAddfd, unsafe.Pointer(&add)) // ioctl retries EINTR
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			// ENOENT: the call is no longer pending (the caller died, or a
			// signal interrupted it before the kernel took our request);
			// ESRCH: the caller left while our request was queued. Nothing
			// was installed, and there is nothing to answer.
			return -1, errGone
		}
		// e.g. EMFILE in the caller: that is the caller's error to see.
		errno, _ := err.(unix.Errno)
		if errno == 0 {
			errno = unix.EIO // never answer 0 with no error: socket(2) would return fd 0
		}
		resp := notifResp{ID: req.ID, Error: -int32(errno)}
		if _, serr := ioctl(fd, iocNotifSend, unsafe.Pointer(&resp)); serr != nil && errors.Is(serr, unix.ENOENT) {
			return -1, errGone
		}
		return -1, err
	}
	resp := notifResp{ID: req.ID, Val: int64(newfd)}
	if _, err := ioctl(fd, iocNotifSend, unsafe.Pointer(&resp)); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return -1, errGone
		}
		return -1, fmt.Errorf("SECCOMP_IOCTL_NOTIF_SEND: %w", err)
	}
	return int(newfd), nil
}

// fatalError is a failure after which the serving thread is unusable.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

type nsKey struct{ dev, ino uint64 }

// serveState is what the serving thread (locked for all of Serve) knows
// about itself, so that a call costs as few system calls as possible: its
// own network namespace and ids, and the last foreign namespace it entered
// (kept open: programs under run rarely change namespace; the descriptor
// keeps that one namespace alive until Serve returns).
type serveState struct {
	own      nsKey
	ownFD    int
	lastKey  nsKey
	lastFD   int // -1: none
	uid, gid int
	tainted  bool // could not return to its own namespace
}

func newServeState() (*serveState, error) {
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open own network namespace: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &serveState{own: nsKey{st.Dev, st.Ino}, ownFD: fd, lastFD: -1, uid: unix.Geteuid(), gid: unix.Getegid()}, nil
}

// close releases the descriptors and reports whether the thread is back in
// its own namespace (and may be unlocked).
func (st *serveState) close() bool {
	unix.Close(st.ownFD)
	if st.lastFD >= 0 {
		unix.Close(st.lastFD)
	}
	return !st.tainted
}

// socket creates the MPTCP socket for the calling thread pid (a
// notification's pid is the thread's): in its network namespace, owned by
// its effective uid and gid. Two stats tell both: the link
// /proc/PID/ns/net is owned by the task's effective ids (root for a
// non-dumpable task), and what it points to is the namespace.
//
// The pid may have been reused by the time it is resolved; then the
// notification's caller is dead, and ADDFD, which checks the notification,
// fails: the socket made meanwhile is closed without reaching anyone.
func (st *serveState) socket(pid, family, typ int) (int, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/ns/net"
	var link, ns unix.Stat_t
	if err := unix.Lstat(path, &link); err != nil {
		return -1, errGone
	}
	if err := unix.Stat(path, &ns); err != nil {
		return -1, errGone
	}
	ids := [2]int{int(link.Uid), int(link.Gid)}
	key := nsKey{ns.Dev, ns.Ino}
	if key == st.own {
		return st.socketAs(ids, family, typ)
	}
	if key != st.lastKey || st.lastFD < 0 {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, errGone
		}
		var got unix.Stat_t
		if err := unix.Fstat(fd, &got); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if st.lastFD >= 0 {
			unix.Close(st.lastFD)
		}
		st.lastFD, st.lastKey = fd, nsKey{got.Dev, got.Ino}
	}
	if err := unix.Setns(st.lastFD, unix.CLONE_NEWNET); err != nil {
		return -1, fmt.Errorf("enter the caller's network namespace: %w", err)
	}
	sock, err := st.socketAs(ids, family, typ)
	if rerr := unix.Setns(st.ownFD, unix.CLONE_NEWNET); rerr != nil {
		st.tainted = true
		if err == nil {
			unix.Close(sock)
		}
		return -1, &fatalError{fmt.Errorf("return to the supervisor's network namespace: %w", rerr)}
	}
	return sock, err
}

// socketAs creates a socket on the (locked) serving thread with its
// file-system uid and gid set to the caller's, so the socket's owner (its
// inode, and so sk_uid: what iptables' owner match and uid routing rules
// see) is the caller, not the supervisor. Credentials are per thread in
// Linux; they are restored before it returns.
func (st *serveState) socketAs(ids [2]int, family, typ int) (int, error) {
	typ |= unix.SOCK_CLOEXEC
	if ids[0] == st.uid && ids[1] == st.gid {
		return unix.Socket(family, typ, unix.IPPROTO_MPTCP)
	}
	oldGid, _ := unix.SetfsgidRetGid(ids[1])
	oldUid, _ := unix.SetfsuidRetUid(ids[0])
	fd, err := unix.Socket(family, typ, unix.IPPROTO_MPTCP)
	unix.SetfsuidRetUid(oldUid)
	unix.SetfsgidRetGid(oldGid)
	return fd, err
}
