package inetdiag_test

import (
	"context"
	"encoding/binary"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/internal/inetdiag"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/mptcp"
)

var record = flag.Bool("record", false, "record inet_diag replies of a live MPTCP connection into testdata/")

// TestRecord captures one MPTCP socket and its TCP subflow as the kernel
// describes them (go test ./internal/inetdiag -run TestRecord -args -record).
func TestRecord(t *testing.T) {
	if !*record {
		t.Skip("recording only with -record")
	}
	ns := nstest.New(t, "rec")
	var ln net.Listener
	var c net.Conn
	ns.Do(t, func() (err error) {
		if ln, err = mptcp.Listen("tcp", "127.0.0.1:5399"); err != nil {
			return err
		}
		c, err = mptcp.DialContext(context.Background(), "tcp", "127.0.0.1:5399")
		return err
	})
	defer ln.Close()
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c.Write([]byte("x"))
	s.Read(make([]byte, 1))
	nc, err := inetdiag.Dial(ns.FD())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for name, r := range map[string]inetdiag.Request{
		"mptcp": {Family: unix.AF_INET, Protocol: inetdiag.ProtoMPTCP, Ext: inetdiag.ExtInfo, States: inetdiag.AllConnected, Dump: true},
		"tcp":   {Family: unix.AF_INET, Protocol: inetdiag.ProtoTCP, Ext: inetdiag.ExtInfo | inetdiag.ExtCong, States: inetdiag.AllConnected, Dump: true},
	} {
		body, _ := r.MarshalBinary()
		msgs, err := nc.Execute(netlink.Message{Header: netlink.Header{Type: unix.SOCK_DIAG_BY_FAMILY, Flags: netlink.Request | netlink.Dump}, Data: body})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			// Keep the client's side (local port != 5399).
			if binary.BigEndian.Uint16(m.Data[4:]) == 5399 {
				continue
			}
			os.WriteFile(filepath.Join("testdata", name+".bin"), m.Data, 0o644)
			t.Logf("%s: %d bytes", name, len(m.Data))
		}
	}
}

func read(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The recorded replies (Linux 6.18): the client end of 127.0.0.1:* ->
// 127.0.0.1:5399 as an MPTCP socket and as its TCP subflow.
func TestParseMsgRecorded(t *testing.T) {
	msk, err := inetdiag.ParseMsg(read(t, "mptcp.bin"))
	if err != nil {
		t.Fatal(err)
	}
	sf, err := inetdiag.ParseMsg(read(t, "tcp.bin"))
	if err != nil {
		t.Fatal(err)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	for name, m := range map[string]*inetdiag.Msg{"mptcp": msk, "tcp": sf} {
		if m.Family != unix.AF_INET || m.State != inetdiag.StateEstablished || m.ID.Remote != netip.AddrPortFrom(lo, 5399) || m.ID.Local.Addr() != lo {
			t.Errorf("%s: %+v", name, m)
		}
	}
	if msk.ID.Local != sf.ID.Local {
		t.Errorf("MPTCP socket %v and its subflow %v differ", msk.ID.Local, sf.ID.Local)
	}
	info, err := mptcp.ParseInfo(msk.Info)
	if err != nil {
		t.Fatalf("MPTCP socket INET_DIAG_INFO: %v", err)
	}
	if sf.ULPName != "mptcp" || sf.MPTCP == nil {
		t.Fatalf("subflow ULP %q %+v; want mptcp info", sf.ULPName, sf.MPTCP)
	}
	if sf.MPTCP.TokenLoc != info.Token || info.Token == 0 {
		t.Errorf("subflow token %08x, connection token %08x", sf.MPTCP.TokenLoc, info.Token)
	}
	if sf.MPTCP.Flags&inetdiag.FlagMCapLoc == 0 || sf.MPTCP.IDLoc != 0 {
		t.Errorf("initial subflow flags %#x id %d; want MP_CAPABLE, id 0", sf.MPTCP.Flags, sf.MPTCP.IDLoc)
	}
	ti, err := mptcp.ParseTCPInfo(sf.Info)
	if err != nil || ti.BytesSent != 1 || ti.State != 1 {
		t.Errorf("subflow tcp_info %+v, %v; want 1 byte sent, established", ti, err)
	}
	if sf.Cong == "" {
		t.Error("no congestion control name")
	}
	// Truncated attribute sections are errors, not panics.
	b := read(t, "tcp.bin")
	for _, n := range []int{0, 10, 71, 75} {
		if _, err := inetdiag.ParseMsg(b[:n]); err == nil && n < 72 {
			t.Errorf("ParseMsg(%d bytes) succeeded", n)
		}
	}
}

func TestRequestMarshal(t *testing.T) {
	r := inetdiag.Request{
		Family: unix.AF_INET, Protocol: inetdiag.ProtoMPTCP, Ext: inetdiag.ExtInfo, States: 1 << 1,
		ID: inetdiag.SockID{Local: netip.MustParseAddrPort("10.0.0.1:258"), Remote: netip.MustParseAddrPort("10.0.0.2:80")},
	}
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		2, 0, 2, 0, // family, protocol (in the attribute), ext, pad
		2, 0, 0, 0, // states (native endian)
		1, 2, 0, 80, // sport, dport (big endian)
		10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, // ifindex
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // no cookie
		8, 0, 3, 0, 6, 1, 0, 0, // INET_DIAG_REQ_PROTOCOL = 262
	}
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("expected bytes are little-endian")
	}
	if diff := cmp.Diff(want, b); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func FuzzParseMsg(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := inetdiag.ParseMsg(b)
		if err != nil {
			return
		}
		if len(m.Info) > len(b) {
			t.Fatalf("info of %d bytes from %d", len(m.Info), len(b))
		}
	})
}
