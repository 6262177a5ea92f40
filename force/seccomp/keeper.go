package seccomp

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Keep is the keeper's whole life: it holds a copy of listener fd while
// the supervisor (pid) lives, so that the filtered processes never see the
// listener close (the kernel then fails every filtered socket(2) with
// ENOSYS). When the supervisor dies (SIGKILL: it could do nothing), Keep
// answers every call, from then on, with SECCOMP_USER_NOTIF_FLAG_CONTINUE:
// the program gets the plain TCP socket it asked for. A call the supervisor
// had received but not answered (its id is in last) is answered the same
// way, so no caller waits forever. It returns when no process uses the
// filter any more.
func Keep(fd, pid int, last *atomic.Uint64) error {
	// pid is our parent: once it is gone, we have another one. Checked
	// after opening the pidfd, so the pidfd cannot name a reused pid.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("pidfd_open(%d): %w", pid, err)
	}
	if err == nil {
		defer unix.Close(pidfd)
		if unix.Getppid() == pid {
			if done, err := waitExit(fd, pidfd); done || err != nil {
				return err
			}
		}
	}
	cont := func(id uint64) {
		resp := notifResp{ID: id, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
		ioctl(fd, iocNotifSend, unsafe.Pointer(&resp)) // ENOENT/EINPROGRESS: answered or gone
	}
	if last != nil {
		if id := last.Load(); id != 0 {
			cont(id)
		}
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		pfd[0].Revents = 0
		_, err := unix.Poll(pfd, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		switch pollVerdict(pfd[0].Revents) {
		case pollDone:
			return nil
		case pollBad:
			return fmt.Errorf("seccomp listener: descriptor %d is not open", fd)
		case pollRetry:
			continue
		}
		var req notif
		if _, err := ioctl(fd, iocNotifRecv, unsafe.Pointer(&req)); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("SECCOMP_IOCTL_NOTIF_RECV: %w", err)
		}
		cont(req.ID)
	}
}

// waitExit waits until the process pidfd has exited (false) or no process
// uses the filter any more (true).
func waitExit(fd, pidfd int) (bool, error) {
	// Events 0 on the listener: only POLLHUP (no process left) wakes us,
	// not the calls the supervisor is there to answer.
	pfd := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}, {Fd: int32(fd)}}
	for {
		pfd[0].Revents, pfd[1].Revents = 0, 0
		_, err := unix.Poll(pfd, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll: %w", err)
		}
		if pfd[1].Revents&(unix.POLLHUP|unix.POLLNVAL) != 0 {
			return true, nil
		}
		if pfd[0].Revents != 0 {
			return false, nil
		}
	}
}
