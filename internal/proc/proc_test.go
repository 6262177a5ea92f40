package proc_test

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/proc"
)

func TestSelf(t *testing.T) {
	me := os.Getpid()
	pids, err := proc.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, me) || !slices.Contains(pids, 1) {
		t.Errorf("PIDs() = %d pids without this process (%d) or pid 1", len(pids), me)
	}
	if !slices.IsSorted(pids) {
		t.Error("PIDs() is not sorted")
	}

	comm, err := proc.Comm(me)
	want := filepath.Base(os.Args[0])
	if len(want) > 15 {
		want = want[:15]
	}
	if err != nil || comm != want {
		t.Errorf("Comm(self) = %q, %v; want %q", comm, err, want)
	}
	if args, err := proc.Cmdline(me); err != nil || !slices.Equal(args, os.Args) {
		t.Errorf("Cmdline(self) = %q, %v; want %q", args, err, os.Args)
	}
	if st, err := proc.ReadStat(me); err != nil || st.PPID != os.Getppid() || st.State != 'R' && st.State != 'S' {
		t.Errorf("ReadStat(self) = %+v, %v; want PPID %d, state R or S", st, err, os.Getppid())
	}

	var want2 syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/net", &want2); err != nil {
		t.Fatal(err)
	}
	if ns, err := proc.NetNSOf(me); err != nil || ns != (proc.NetNS{Dev: uint64(want2.Dev), Ino: uint64(want2.Ino)}) {
		t.Errorf("NetNSOf(self) = %+v, %v; want dev %d ino %d", ns, err, want2.Dev, want2.Ino)
	}
}

// TestSocketFD: the descriptor of a listening socket shows up with its
// socket inode, as sockdiag reports it.
func TestSocketFD(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	raw, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	var st syscall.Stat_t
	raw.Control(func(s uintptr) { fd = int(s); err = syscall.Fstat(fd, &st) })
	if err != nil {
		t.Fatal(err)
	}
	fds, err := proc.FDs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(fds, func(a, b proc.FD) int { return a.Num - b.Num }) {
		t.Errorf("FDs not in order: %v", fds)
	}
	i := slices.IndexFunc(fds, func(f proc.FD) bool { return f.Num == fd })
	if i < 0 {
		t.Fatalf("FDs(self) has no fd %d: %v", fd, fds)
	}
	if ino, ok := fds[i].Inode("socket"); !ok || ino != st.Ino {
		t.Errorf("fd %d: %q: Inode(socket) = %d, %v; want %d", fd, fds[i].Target, ino, ok, st.Ino)
	}
	if _, ok := fds[i].Inode("net"); ok {
		t.Errorf("fd %d: %q is a net namespace too", fd, fds[i].Target)
	}
}

func TestInode(t *testing.T) {
	for _, c := range []struct {
		target, kind string
		ino          uint64
		ok           bool
	}{
		{"socket:[123]", "socket", 123, true},
		{"net:[4026531840]", "net", 4026531840, true},
		{"net:[4026531840]", "socket", 0, false},
		{"pipe:[7]", "socket", 0, false},
		{"/dev/null", "socket", 0, false},
		{"socket:[12", "socket", 0, false},
		{"socket:[x]", "socket", 0, false},
		{"", "socket", 0, false},
	} {
		ino, ok := proc.FD{Target: c.target}.Inode(c.kind)
		if ino != c.ino || ok != c.ok {
			t.Errorf("FD{%q}.Inode(%q) = %d, %v; want %d, %v", c.target, c.kind, ino, ok, c.ino, c.ok)
		}
	}
}

// TestChild: a child is listed with this process as parent and is alive;
// killed, it is a zombie until reaped (not alive), then gone.
func TestChild(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	reaped := false
	defer func() {
		if !reaped {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	if st, err := proc.ReadStat(pid); err != nil || st.PPID != os.Getpid() {
		t.Errorf("ReadStat(child) = %+v, %v; want parent %d", st, err, os.Getpid())
	}
	if !proc.Alive(pid) {
		t.Error("running child not alive")
	}
	kids, err := proc.Find(func(p int) bool {
		st, err := proc.ReadStat(p)
		return err == nil && st.PPID == os.Getpid()
	})
	if err != nil || !slices.Equal(kids, []int{pid}) {
		t.Errorf("Find(children) = %v, %v; want [%d]", kids, err, pid)
	}
	if all, err := proc.Find(func(int) bool { return true }); err != nil || slices.Contains(all, os.Getpid()) || !slices.Contains(all, pid) {
		t.Errorf("Find(all) = %d pids, %v; want the child and not this process", len(all), err)
	}
	// exec may not have happened yet: wait for the new command line.
	deadline := time.Now().Add(5 * time.Second)
	for {
		args, err := proc.Cmdline(pid)
		if err == nil && slices.Equal(args, cmd.Args) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Cmdline(child) = %q, %v; want %q", args, err, cmd.Args)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if comm, err := proc.Comm(pid); err != nil || comm != "sleep" {
		t.Errorf("Comm(child) = %q, %v", comm, err)
	}

	cmd.Process.Signal(syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := proc.ReadStat(pid)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("killed child in state %c, not a zombie", st.State)
		}
	}
	if proc.Alive(pid) {
		t.Error("zombie child alive")
	}
	if args, err := proc.Cmdline(pid); err != nil || args != nil {
		t.Errorf("Cmdline(zombie) = %q, %v; want nil", args, err)
	}
	cmd.Wait()
	reaped = true
	if proc.Alive(pid) {
		t.Error("reaped child alive")
	}
	if _, err := proc.Comm(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Comm(reaped child) error %v, want ErrNotExist", err)
	}
	if _, err := proc.NetNSOf(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("NetNSOf(reaped child) error %v, want ErrNotExist", err)
	}
}
