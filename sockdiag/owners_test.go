package sockdiag_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mptcpkit/mptcpkit/sockdiag"
)

// TestOwners: a socket this process holds is mapped to this process, its
// task name and the descriptor's number, as `conns -p` prints them.
func TestOwners(t *testing.T) {
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(pair[0])
	defer syscall.Close(pair[1])
	var st syscall.Stat_t
	if err := syscall.Fstat(pair[1], &st); err != nil {
		t.Fatal(err)
	}
	owners, err := sockdiag.Owners()
	if err != nil {
		t.Fatal(err)
	}
	comm := filepath.Base(os.Args[0])
	if len(comm) > 15 {
		comm = comm[:15]
	}
	want := sockdiag.Process{PID: os.Getpid(), Comm: comm, FD: pair[1]}
	if got := owners[uint32(st.Ino)]; len(got) != 1 || got[0] != want {
		t.Errorf("Owners()[%d] = %+v, want [%+v]", st.Ino, got, want)
	}
}
