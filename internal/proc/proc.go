// Package proc reads the process table in /proc: which processes exist, what
// they run (comm, cmdline, state, parent), which network namespace they live
// in and which descriptors they hold.
//
// It is the module's one /proc walker: sockdiag maps socket inodes to their
// owners with it, doctor lists processes, the daemon looks for other MPTCP
// managers, the lab finds its leftover processes and force its children.
// It reads files and nothing else, and does no work at package
// initialisation (every CLI call pays that).
//
// Processes come and go while they are read: a function given a pid that
// has exited returns an error (fs.ErrNotExist or ESRCH), which a walker
// takes as "skip it".
package proc

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Root is where procfs is mounted.
const Root = "/proc"

func path(pid int, name string) string {
	return Root + "/" + strconv.Itoa(pid) + "/" + name
}

// PIDs lists the processes (thread-group leaders) in ascending order.
func PIDs() ([]int, error) {
	d, err := os.Open(Root)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// Find lists the processes other than this one for which match reports
// true, in ascending order. Processes that end meanwhile are for match to
// skip: it gets errors from the functions of this package then.
func Find(match func(pid int) bool) ([]int, error) {
	pids, err := PIDs()
	if err != nil {
		return nil, err
	}
	me := os.Getpid()
	var out []int
	for _, pid := range pids {
		if pid != me && match(pid) {
			out = append(out, pid)
		}
	}
	return out, nil
}

// Comm returns the task name of pid (/proc/PID/comm without its newline;
// at most 15 bytes, as the kernel stores it).
func Comm(pid int) (string, error) {
	b, err := os.ReadFile(path(pid, "comm"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Cmdline returns the arguments of pid (/proc/PID/cmdline split at its NUL
// bytes); nil for a process without any, such as a kernel thread or a
// zombie.
func Cmdline(pid int) ([]string, error) {
	b, err := os.ReadFile(path(pid, "cmdline"))
	if err != nil {
		return nil, err
	}
	s := strings.TrimRight(string(b), "\x00")
	if s == "" {
		return nil, nil
	}
	return strings.Split(s, "\x00"), nil
}

// NetNS identifies a network namespace: the device and inode of its nsfs
// file, as stat(2) of /proc/PID/ns/net or fstat(2) of a namespace
// descriptor reports them.
type NetNS struct {
	Dev, Ino uint64
}

// NetNSOf returns the network namespace pid lives in.
func NetNSOf(pid int) (NetNS, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path(pid, "ns/net"), &st); err != nil {
		return NetNS{}, &os.PathError{Op: "stat", Path: path(pid, "ns/net"), Err: err}
	}
	return NetNS{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}, nil
}

// Stat is what the module needs of /proc/PID/stat.
type Stat struct {
	State byte // R, S, D, T, Z (zombie), X (dead), ...
	PPID  int  // the parent's pid
}

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	p := path(pid, "stat")
	b, err := os.ReadFile(p)
	if err != nil {
		return Stat{}, err
	}
	// "PID (COMM) STATE PPID ...": comm may hold spaces and parentheses,
	// so the fields start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Stat{}, &os.PathError{Op: "parse", Path: p, Err: syscall.EINVAL}
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return Stat{}, &os.PathError{Op: "parse", Path: p, Err: syscall.EINVAL}
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return Stat{}, &os.PathError{Op: "parse", Path: p, Err: err}
	}
	return Stat{State: f[0][0], PPID: ppid}, nil
}

// Alive reports whether pid exists and has not exited: a zombie (exited,
// not yet reaped) or a process that cannot be read is not alive.
func Alive(pid int) bool {
	st, err := ReadStat(pid)
	return err == nil && st.State != 'Z' && st.State != 'X'
}

// FD is an open descriptor of a process.
type FD struct {
	Num int
	// Target is what /proc/PID/fd/NUM links to: a path, or for anonymous
	// inodes "socket:[INODE]", "net:[INODE]", "pipe:[INODE]", ...; "" if
	// it could not be read (closed meanwhile).
	Target string
}

// FDs lists the descriptors pid holds, in ascending order. Reading another
// user's needs CAP_SYS_PTRACE.
func FDs(pid int) ([]FD, error) {
	dir := path(pid, "fd")
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	fds := make([]FD, 0, len(names))
	for _, n := range names {
		num, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		target, _ := os.Readlink(dir + "/" + n)
		fds = append(fds, FD{Num: num, Target: target})
	}
	slices.SortFunc(fds, func(a, b FD) int { return a.Num - b.Num })
	return fds, nil
}

// Inode returns the inode of an anonymous-inode target of that kind:
// Inode("socket") of "socket:[123]" is 123, true.
func (f FD) Inode(kind string) (uint64, bool) {
	rest, ok := strings.CutPrefix(f.Target, kind+":[")
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, "]")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(rest, 10, 64)
	return ino, err == nil
}
