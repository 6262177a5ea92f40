package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/internal/feature"
)

// ErrNotSupported is wrapped when the kernel or architecture cannot do
// what this package needs; a kernel's lack is an *UnsupportedFeatureError.
// It is the same error as bpfprog.ErrNotSupported and mptcp.ErrNotSupported.
var ErrNotSupported = feature.ErrNotSupported

// UnsupportedFeatureError names a feature the running kernel lacks and the
// first Linux release that has it; errors.Is(err, ErrNotSupported) holds.
type UnsupportedFeatureError = feature.UnsupportedFeatureError

// Arch describes the system-call ABI the filter checks.
type Arch struct {
	Audit    uint32 // AUDIT_ARCH_* in seccomp_data.arch
	SocketNr uint32 // number of socket(2)
}

// NativeArch returns the ABI of the running binary.
func NativeArch() (Arch, error) {
	switch runtime.GOARCH {
	case "amd64":
		return Arch{Audit: unix.AUDIT_ARCH_X86_64, SocketNr: 41}, nil
	case "arm64":
		return Arch{Audit: unix.AUDIT_ARCH_AARCH64, SocketNr: 198}, nil
	case "riscv64":
		return Arch{Audit: unix.AUDIT_ARCH_RISCV64, SocketNr: 198}, nil
	}
	return Arch{}, fmt.Errorf("seccomp filter for %s: %w (supported: amd64, arm64, riscv64)", runtime.GOARCH, ErrNotSupported)
}

// offsets in struct seccomp_data (little endian: low 32 bits first)
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16
	offArg1 = 24
	offArg2 = 32
)

func stmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
func jump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

// Filter returns the classic BPF program: USER_NOTIF for socket(2) with
// family AF_INET/AF_INET6, (type & 0xf) == SOCK_STREAM and protocol 0 or
// IPPROTO_TCP on the native ABI; ALLOW for everything else (other ABIs, such
// as x32 and i386 calls on x86_64, are left alone).
func Filter(a Arch) []unix.SockFilter {
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		and = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	// Jump offsets count instructions skipped; ALLOW is at index 13,
	// NOTIFY at 14.
	f := []unix.SockFilter{
		/* 0 */ stmt(ld, offArch),
		/* 1 */ jump(jeq, a.Audit, 0, 11), // → 13 allow
		/* 2 */ stmt(ld, offNr),
		/* 3 */ jump(jeq, a.SocketNr, 0, 9), // → 13
		/* 4 */ stmt(ld, offArg0),
		/* 5 */ jump(jeq, unix.AF_INET, 1, 0), // → 7
		/* 6 */ jump(jeq, unix.AF_INET6, 0, 6), // → 13
		/* 7 */ stmt(ld, offArg1),
		/* 8 */ stmt(and, 0xf),
		/* 9 */ jump(jeq, unix.SOCK_STREAM, 0, 3), // → 13
		/* 10 */ stmt(ld, offArg2),
		/* 11 */ jump(jeq, 0, 2, 0), // → 14 notify
		/* 12 */ jump(jeq, unix.IPPROTO_TCP, 1, 0), // → 14, else 13
		/* 13 */ stmt(ret, unix.SECCOMP_RET_ALLOW),
		/* 14 */ stmt(ret, unix.SECCOMP_RET_USER_NOTIF),
	}
	return f
}

// Install installs the filter on the calling thread and returns the
// listener descriptor (close-on-exec). Call it on a locked OS thread just
// before execve: only that thread (and what it execs and forks) is filtered.
// Without CAP_SYS_ADMIN it sets no_new_privs first, as the kernel requires.
func Install() (int, error) {
	a, err := NativeArch()
	if err != nil {
		return -1, err
	}
	if !hasSysAdmin() {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return -1, fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
		}
	}
	filter := Filter(a)
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// WAIT_KILLABLE_RECV (where the kernel has it): once the supervisor has taken a
	// call, only a fatal signal interrupts the caller's wait, as none
	// interrupts a real socket(2). Otherwise a signal handler without
	// SA_RESTART (Python's, for one) would make socket(2) fail with EINTR,
	// which programs do not expect from it. Older kernels: without it.
	fd, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER|unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, uintptr(unsafe.Pointer(&prog)))
	if errno == unix.EINVAL {
		fd, _, errno = unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
			unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&prog)))
	}
	runtime.KeepAlive(filter)
	if errno != 0 {
		if errno == unix.EINVAL || errno == unix.ENOSYS {
			return -1, fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER): %v: %w", errno,
				&UnsupportedFeatureError{Name: "seccomp user notification", MinimumVersion: "5.0", Config: "CONFIG_SECCOMP_FILTER"})
		}
		return -1, fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER): %w", errno)
	}
	return int(fd), nil
}

func hasSysAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Effective&(1<<unix.CAP_SYS_ADMIN) != 0
}
