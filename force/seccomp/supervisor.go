package seccomp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"
	"unsafe"

	"github.com/mptcpkit/mptcpkit/netns"
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
	Log   *slog.Logger // nil: no logging
	Stats Stats
}

// Serve answers notifications on listener fd until every process using
// the filter has exited (the listener reports POLLHUP; it returns nil) or ctx
// is done (it returns ctx.Err()). It does not close fd.
func (s *Supervisor) Serve(ctx context.Context, fd int) error {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
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
		s.handle(fd, &req, log)
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

func (s *Supervisor) handle(fd int, req *notif, log *slog.Logger) {
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
		return
	}
	sock, err := s.socket(fd, req, family, typ)
	if errors.Is(err, errGone) {
		s.Stats.Gone++
		return
	}
	if err != nil {
		cont(err)
		return
	}
	defer unix.Close(sock)
	newfd, err := s.install(fd, req, sock, typ&unix.SOCK_CLOEXEC != 0)
	if err != nil {
		if errors.Is(err, errGone) {
			s.Stats.Gone++
			return
		}
		log.Debug("install socket failed", "pid", req.Pid, "err", err)
		return
	}
	s.Stats.Forced++
	log.Debug("socket forced to MPTCP", "pid", req.Pid, "family", family, "type", typ, "fd", newfd)
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

// socket creates the MPTCP socket in the caller's network namespace.
func (s *Supervisor) socket(fd int, req *notif, family, typ int) (int, error) {
	nsPath := fmt.Sprintf("/proc/%d/ns/net", req.Pid)
	fsids, err := fsIDs(int(req.Pid))
	if err != nil {
		return -1, errGone
	}
	create := func() (int, error) {
		// The pid may have been reused since the notification: check the
		// notification is still live after resolving the namespace.
		id := req.ID
		if _, err := ioctl(fd, iocNotifIDValid, unsafe.Pointer(&id)); err != nil {
			return -1, errGone
		}
		return socketAs(fsids, family, typ|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
	}
	target, err := os.Readlink(nsPath)
	if err != nil {
		return -1, errGone
	}
	// Compare with the namespace of the thread that would make the socket,
	// not the process's (/proc/self is the thread-group leader, which a
	// program embedding this package may have moved elsewhere).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if own, err := os.Readlink("/proc/thread-self/ns/net"); err == nil && target == own {
		return create()
	}
	f, err := os.Open(nsPath)
	if err != nil {
		return -1, errGone
	}
	defer f.Close()
	ns, err := netns.FromFD(int(f.Fd()))
	if err != nil {
		return -1, err
	}
	defer ns.Close()
	sock := -1
	err = ns.Do(func() error {
		var err error
		sock, err = create()
		return err
	})
	return sock, err
}

// fsIDs returns the caller's uid and gid as the owner of /proc/PID (its
// effective ids, which are its file-system ids unless it changed those
// alone; a non-dumpable process shows root). Cheaper than parsing
// /proc/PID/status on every socket.
func fsIDs(pid int) ([2]int, error) {
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d", pid), &st); err != nil {
		return [2]int{}, err
	}
	return [2]int{int(st.Uid), int(st.Gid)}, nil
}

// socketAs creates a socket on a locked thread whose file-system uid and
// gid are the caller's, so the socket's owner (its inode, and so sk_uid:
// what iptables' owner match and uid routing rules see) is the caller, not
// the supervisor. Credentials are per thread in Linux; they are restored
// before the thread is unlocked.
func socketAs(ids [2]int, family, typ, proto int) (int, error) {
	if ids[0] == unix.Geteuid() && ids[1] == unix.Getegid() {
		return unix.Socket(family, typ, proto)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	oldGid, _ := unix.SetfsgidRetGid(ids[1])
	oldUid, _ := unix.SetfsuidRetUid(ids[0])
	fd, err := unix.Socket(family, typ, proto)
	unix.SetfsuidRetUid(oldUid)
	unix.SetfsgidRetGid(oldGid)
	return fd, err
}
