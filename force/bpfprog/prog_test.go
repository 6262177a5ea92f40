package bpfprog_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/mptcpkit/mptcpkit/force/bpfprog"
	"github.com/mptcpkit/mptcpkit/force/cgroup"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"golang.org/x/sys/unix"
)

// ctxArgs lays out family, type, protocol as the fmod_ret trampoline does:
// one u64 per argument. The upper halves of int arguments are undefined on
// x86_64, so the test fills them with garbage the program must ignore.
func ctxArgs(family, typ, proto uint32, garbage bool) []byte {
	b := make([]byte, 32)
	var hi uint64
	if garbage {
		hi = 0xdeadbeef << 32
	}
	binary.NativeEndian.PutUint64(b[0:], hi|uint64(family))
	binary.NativeEndian.PutUint64(b[8:], hi|uint64(typ))
	binary.NativeEndian.PutUint64(b[16:], hi|uint64(proto))
	return b
}

type scope int

const (
	scopeNone     scope = iota // maps hold only unrelated entries
	scopeCgroup                // the task's own cgroup is in the map
	scopeAncestor              // the parent of the task's cgroup is in the map
	scopeComm                  // the task's name is in the map
)

func (s scope) String() string {
	return [...]string{"out-of-scope", "own-cgroup", "ancestor-cgroup", "comm"}[s]
}

// TestDecisions runs the program on the real kernel verifier and interpreter
// (BPF_PROG_TEST_RUN on the same instructions loaded as a raw tracepoint
// program) for every row of family × type × flags × protocol × scope.
func TestDecisions(t *testing.T) {
	nstest.Require(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	maps, err := bpfprog.NewMaps()
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	prog, err := bpfprog.NewRawTracepointProgram(maps)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()

	// Put this test process in <root>/mptcpkit-test-<pid>/inner for the
	// run, so own and ancestor cgroups are ids nobody else uses.
	root, err := cgroup.Root()
	if err != nil {
		t.Fatal(err)
	}
	orig, err := cgroup.Of(0)
	if err != nil {
		t.Fatal(err)
	}
	outer := filepath.Join(root, fmt.Sprintf("mptcpkit-test-%s-%d", t.Name(), os.Getpid()))
	inner := filepath.Join(outer, "inner")
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cgroup.Move(filepath.Join(root, orig), 0); err != nil {
			t.Error(err)
		}
		if err := cgroup.Remove(outer); err != nil {
			t.Error(err)
		}
	})
	if err := cgroup.Move(inner, 0); err != nil {
		t.Fatal(err)
	}
	outerID, err := cgroup.ID(outer)
	if err != nil {
		t.Fatal(err)
	}
	innerID, err := cgroup.ID(inner)
	if err != nil {
		t.Fatal(err)
	}
	commB, err := os.ReadFile("/proc/thread-self/comm")
	if err != nil {
		t.Fatal(err)
	}
	var comm, otherComm [bpfprog.CommLen]byte
	copy(comm[:], strings.TrimSpace(string(commB)))
	copy(otherComm[:], "not-this-task")
	one := uint32(1)

	setScope := func(s scope) {
		for _, m := range []*ebpf.Map{maps.Cgroups, maps.Comms} {
			var k []byte
			it := m.Iterate()
			var keys [][]byte
			var v uint32
			for it.Next(&k, &v) {
				keys = append(keys, append([]byte(nil), k...))
			}
			for _, k := range keys {
				if err := m.Delete(k); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Unrelated entries are always present: they must never match.
		if err := maps.Cgroups.Put(uint64(1<<62), one); err != nil {
			t.Fatal(err)
		}
		if err := maps.Comms.Put(otherComm, one); err != nil {
			t.Fatal(err)
		}
		var err error
		switch s {
		case scopeCgroup:
			err = maps.Cgroups.Put(innerID, one)
		case scopeAncestor:
			err = maps.Cgroups.Put(outerID, one)
		case scopeComm:
			err = maps.Comms.Put(comm, one)
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	families := []uint32{unix.AF_INET, unix.AF_INET6, unix.AF_UNIX, unix.AF_PACKET, unix.AF_NETLINK, unix.AF_INET | 0x100}
	// SOCK_STREAM|0x10 masks to SOCK_STREAM: the program masks with 0xf as the kernel does.
	types := []uint32{unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_RAW, unix.SOCK_SEQPACKET, unix.SOCK_STREAM | 0x10, unix.SOCK_DGRAM | 0x10}
	flags := []uint32{0, unix.SOCK_NONBLOCK, unix.SOCK_CLOEXEC, unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC}
	protos := []uint32{0, unix.IPPROTO_TCP, unix.IPPROTO_UDP, unix.IPPROTO_MPTCP, unix.IPPROTO_SCTP, unix.IPPROTO_TCP | 0x100}
	rows, forced := 0, 0
	for _, s := range []scope{scopeNone, scopeCgroup, scopeAncestor, scopeComm} {
		setScope(s)
		for _, fam := range families {
			for _, typ := range types {
				for _, fl := range flags {
					for _, proto := range protos {
						for _, garbage := range []bool{false, true} {
							want := uint32(0)
							if s != scopeNone && (fam == unix.AF_INET || fam == unix.AF_INET6) &&
								(typ|fl)&0xf == unix.SOCK_STREAM && (proto == 0 || proto == unix.IPPROTO_TCP) {
								want = unix.IPPROTO_MPTCP
								forced++
							}
							got, err := prog.Run(&ebpf.RunOptions{Context: ctxArgs(fam, typ|fl, proto, garbage)})
							if err != nil {
								t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
							}
							rows++
							if got != want {
								t.Errorf("%v family=%d type=%#x protocol=%d garbage=%v: got %d, want %d",
									s, fam, typ|fl, proto, garbage, got, want)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d rows checked on the kernel, %d forced to MPTCP", rows, forced)
}

// TestAttach attaches the fmod_ret program where the kernel allows it and
// checks a socket created in scope is MPTCP; where the kernel refuses, it
// skips with the kernel's reason.
func TestAttach(t *testing.T) {
	nstest.Require(t)
	maps, err := bpfprog.NewMaps()
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	att, err := bpfprog.Attach(maps)
	if errors.Is(err, bpfprog.ErrNotSupported) {
		t.Skipf("kernel refuses the fmod_ret program: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	commB, _ := os.ReadFile("/proc/thread-self/comm")
	var comm [bpfprog.CommLen]byte
	copy(comm[:], strings.TrimSpace(string(commB)))
	proto := func() int {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		p, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := proto(); p != unix.IPPROTO_TCP {
		t.Errorf("out of scope: SO_PROTOCOL %d, want %d", p, unix.IPPROTO_TCP)
	}
	if err := maps.Comms.Put(comm, uint32(1)); err != nil {
		t.Fatal(err)
	}
	if p := proto(); p != unix.IPPROTO_MPTCP {
		t.Errorf("in scope: SO_PROTOCOL %d, want %d", p, unix.IPPROTO_MPTCP)
	}
}

// BenchmarkDecision runs the program through BPF_PROG_TEST_RUN (one
// syscall per run: raw tracepoint test runs take no repeat count), for a
// socket that exits early (UDP) and a TCP socket out of scope (comm and
// cgroup lookups, then the ancestor walk up to this task's cgroup depth):
// the difference is what the scope check costs inside a socket() call.
func BenchmarkDecision(b *testing.B) {
	maps, err := bpfprog.NewMaps()
	if err != nil {
		b.Fatal(err)
	}
	defer maps.Close()
	prog, err := bpfprog.NewRawTracepointProgram(maps)
	if err != nil {
		b.Fatal(err)
	}
	defer prog.Close()
	for _, bc := range []struct {
		name string
		ctx  []byte
	}{
		{"udp-early-exit", ctxArgs(unix.AF_INET, unix.SOCK_DGRAM, 0, false)},
		{"tcp-out-of-scope", ctxArgs(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0, false)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opts := &ebpf.RunOptions{Context: bc.ctx}
			for b.Loop() {
				if _, err := prog.Run(opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
