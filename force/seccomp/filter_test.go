package seccomp

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// TestFilterDecisions runs the classic BPF filter in x/net/bpf's VM over
// every row of arch × syscall × family × type (with flags) × protocol. The
// VM loads words big-endian where seccomp loads them in host order, so the
// input has each 32-bit field the filter reads written big-endian.
func TestFilterDecisions(t *testing.T) {
	a := Arch{Audit: unix.AUDIT_ARCH_X86_64, SocketNr: 41}
	raw := Filter(a)
	insns := make([]bpf.RawInstruction, len(raw))
	for i, r := range raw {
		insns[i] = bpf.RawInstruction{Op: r.Code, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	prog, ok := bpf.Disassemble(insns)
	if !ok {
		t.Fatal("filter does not disassemble")
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	rows, notified := 0, 0
	for _, arch := range []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386} {
		for _, nr := range []uint32{41, 42, 41 | 0x40000000} {
			for _, fam := range []uint32{unix.AF_INET, unix.AF_INET6, unix.AF_UNIX, unix.AF_NETLINK, unix.AF_PACKET} {
				for _, typ := range []uint32{unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_RAW, unix.SOCK_SEQPACKET} {
					for _, fl := range []uint32{0, unix.SOCK_NONBLOCK, unix.SOCK_CLOEXEC, unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC} {
						for _, proto := range []uint32{0, unix.IPPROTO_TCP, unix.IPPROTO_UDP, unix.IPPROTO_MPTCP, unix.IPPROTO_SCTP} {
							in := make([]byte, 64)
							binary.BigEndian.PutUint32(in[offNr:], nr)
							binary.BigEndian.PutUint32(in[offArch:], arch)
							binary.BigEndian.PutUint32(in[offArg0:], fam)
							binary.BigEndian.PutUint32(in[offArg1:], typ|fl)
							binary.BigEndian.PutUint32(in[offArg2:], proto)
							got, err := vm.Run(in)
							if err != nil {
								t.Fatal(err)
							}
							want := unix.SECCOMP_RET_ALLOW
							if arch == unix.AUDIT_ARCH_X86_64 && nr == 41 && (fam == unix.AF_INET || fam == unix.AF_INET6) &&
								typ == unix.SOCK_STREAM && (proto == 0 || proto == unix.IPPROTO_TCP) {
								want = unix.SECCOMP_RET_USER_NOTIF
								notified++
							}
							rows++
							if uint32(got) != uint32(want) {
								t.Errorf("arch=%#x nr=%#x family=%d type=%#x proto=%d: got %#x, want %#x", arch, nr, fam, typ|fl, proto, got, want)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d rows, %d notified", rows, notified)
}
