package sockdiag_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/sockdiag"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestJoin(t *testing.T) {
	msk := func(local, remote string, token uint32, flags mptcp.InfoFlags) sockdiag.MPTCPSocket {
		return sockdiag.MPTCPSocket{
			Socket: sockdiag.Socket{Local: ap(local), Remote: ap(remote), State: 1},
			Info:   &mptcp.ConnInfo{Size: 96, Token: token, Flags: flags},
		}
	}
	sf := func(local, remote string, token uint32, flags uint32) sockdiag.TCPSocket {
		return sockdiag.TCPSocket{
			Socket: sockdiag.Socket{Local: ap(local), Remote: ap(remote), State: 1},
			ULP:    "mptcp", MPTCP: &sockdiag.SubflowInfo{Token: token, Flags: flags},
		}
	}
	plain := sockdiag.TCPSocket{Socket: sockdiag.Socket{Local: ap("10.0.0.1:22"), Remote: ap("10.0.0.9:5000")}}
	msks := []sockdiag.MPTCPSocket{
		msk("10.0.1.1:2000", "10.0.1.2:80", 0xbbbb, 0),
		msk("10.0.1.1:1000", "10.0.1.2:80", 0xaaaa, 0),
	}
	tcps := []sockdiag.TCPSocket{
		sf("10.0.2.1:3000", "10.0.1.2:80", 0xaaaa, sockdiag.FlagJoinLocal|sockdiag.FlagBackupLocal),
		plain,
		sf("10.0.1.1:1000", "10.0.1.2:80", 0xaaaa, sockdiag.FlagMCapLocal),
		sf("10.0.1.1:2000", "10.0.1.2:80", 0xbbbb, sockdiag.FlagMCapLocal),
		sf("10.0.9.9:1", "10.0.1.2:80", 0xcccc, 0), // its connection is gone
	}
	conns, err := sockdiag.Join(msks, tcps)
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		Local    string
		Subflows []string
		Backups  int
	}
	var got []view
	for _, c := range conns {
		v := view{Local: c.Local.String()}
		for _, s := range c.Subflows {
			v.Subflows = append(v.Subflows, s.Local.String())
			if s.MPTCP.Backup() {
				v.Backups++
			}
		}
		got = append(got, v)
	}
	want := []view{
		{"10.0.1.1:1000", []string{"10.0.1.1:1000", "10.0.2.1:3000"}, 1},
		{"10.0.1.1:2000", []string{"10.0.1.1:2000"}, 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Join (-want +got):\n%s", diff)
	}

	// No ULP info at all (no CAP_NET_ADMIN): the connections come back
	// without subflows and the error says why.
	bare := []sockdiag.TCPSocket{plain, {Socket: sockdiag.Socket{Local: ap("10.0.1.1:1000"), Remote: ap("10.0.1.2:80")}}}
	conns, err = sockdiag.Join(msks, bare)
	if !errors.Is(err, sockdiag.ErrNoULPInfo) || len(conns) != 2 {
		t.Errorf("Join without ULP info = %d conns, %v; want 2 and ErrNoULPInfo", len(conns), err)
	}
	// A fallback connection has no MPTCP subflows to expect.
	if _, err := sockdiag.Join([]sockdiag.MPTCPSocket{msk("10.0.1.1:1", "10.0.1.2:80", 1, mptcp.InfoFallback)}, bare); err != nil {
		t.Errorf("Join of a fallback without ULP info: %v", err)
	}
}

func TestFilter(t *testing.T) {
	c := sockdiag.Connection{
		MPTCPSocket: sockdiag.MPTCPSocket{Socket: sockdiag.Socket{Local: ap("10.0.1.1:1000"), Remote: ap("10.0.1.2:80")}},
		Subflows:    []sockdiag.TCPSocket{{Socket: sockdiag.Socket{Local: ap("10.0.2.1:3000"), Remote: ap("10.0.1.2:80")}}},
	}
	for _, tc := range []struct {
		f    sockdiag.Filter
		want bool
	}{
		{sockdiag.Filter{}, true},
		{sockdiag.Filter{Port: 80}, true},
		{sockdiag.Filter{Port: 3000}, true},
		{sockdiag.Filter{LocalPort: 80}, false},
		{sockdiag.Filter{RemotePort: 80, LocalPort: 1000}, true},
		{sockdiag.Filter{Addr: netip.MustParsePrefix("10.0.2.0/24")}, true},
		{sockdiag.Filter{Addr: netip.MustParsePrefix("10.0.2.0/24"), LocalPort: 1000}, false},
		{sockdiag.Filter{Addr: netip.MustParsePrefix("192.168.0.0/16")}, false},
	} {
		if got := tc.f.Match(&c); got != tc.want {
			t.Errorf("%+v.Match = %v, want %v", tc.f, got, tc.want)
		}
	}
}

func TestRates(t *testing.T) {
	conn := func(sent, recv uint64) []sockdiag.Connection {
		return []sockdiag.Connection{{Subflows: []sockdiag.TCPSocket{{
			Socket: sockdiag.Socket{Local: ap("10.0.1.1:1"), Remote: ap("10.0.1.2:2"), Cookie: 7},
			TCP:    &mptcp.TCPInfo{BytesSent: sent, BytesReceived: recv},
		}}}}
	}
	t0 := time.Unix(100, 0)
	a := sockdiag.NewByteCounts(conn(1000, 0), t0)
	b := sockdiag.NewByteCounts(conn(3000, 500), t0.Add(2*time.Second))
	r := sockdiag.Rates(a, b)
	key := sockdiag.SubflowKey{Local: ap("10.0.1.1:1"), Remote: ap("10.0.1.2:2"), Cookie: 7}
	if len(r) != 1 || r[key] != (sockdiag.Rate{Sent: 1000, Received: 250}) {
		t.Errorf("Rates = %v; want 1000 B/s sent, 250 B/s received", r)
	}
	if r := sockdiag.Rates(b, a); len(r) != 0 {
		t.Errorf("Rates backwards = %v, want none", r)
	}
	if r := sockdiag.Rates(nil, b); len(r) != 0 {
		t.Errorf("Rates without a previous snapshot = %v", r)
	}
}

// TestConnectionsLive: both ends of a two-subflow connection, seen from
// their namespaces, agree with what the sockets themselves say.
func TestConnectionsLive(t *testing.T) {
	cli, srv := nstest.Pair(t, nstest.Paths(2, "10.0", "c", "s"))
	for _, ns := range []*nstest.NS{cli, srv} {
		ns.Run(t, "ip", "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2")
	}
	cli.Run(t, "ip", "mptcp", "endpoint", "add", "10.0.2.1", "dev", "c2", "subflow", "backup")
	var ln, plainLn net.Listener
	srv.Do(t, func() (err error) {
		if ln, err = mptcp.Listen("tcp", "10.0.1.2:5401"); err != nil {
			return err
		}
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		plainLn, err = lc.Listen(context.Background(), "tcp", "10.0.1.2:5402")
		return err
	})
	defer ln.Close()
	defer plainLn.Close()
	var c, fb net.Conn
	cli.Do(t, func() (err error) {
		if c, err = mptcp.Dial("tcp", "10.0.1.2:5401"); err != nil {
			return err
		}
		fb, err = mptcp.Dial("tcp", "10.0.1.2:5402")
		return err
	})
	defer c.Close()
	defer fb.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ps, err := plainLn.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	c.Write(make([]byte, 1000))
	io.ReadFull(s, make([]byte, 1000))
	nstest.WaitSubflows(t, c, mptcp.Subflows, 2)
	info, err := mptcp.Info(c)
	if err != nil {
		t.Fatal(err)
	}

	dc, err := sockdiag.Dial(&sockdiag.Config{NetNS: cli.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	conns, err := dc.Connections()
	if err != nil {
		t.Fatal(err)
	}
	var mp, fallback *sockdiag.Connection
	for i := range conns {
		switch conns[i].Remote.Port() {
		case 5401:
			mp = &conns[i]
		case 5402:
			fallback = &conns[i]
		}
	}
	if mp == nil || fallback == nil {
		t.Fatalf("connections: %+v; want one to :5401 and one to :5402", conns)
	}
	// mptcp_info's byte counters came with Linux 6.5 (struct size): on
	// older kernels (Debian's 6.1 in the kernel matrix) they read 0.
	if mp.Token() != info.Token || mp.Fallback() || mp.Info.HasByteCounters() && mp.Info.BytesSent != 1000 {
		t.Errorf("MPTCP connection token %08x (socket says %08x), fallback %v, sent %d", mp.Token(), info.Token, mp.Fallback(), mp.Info.BytesSent)
	}
	if !mp.Info.HasByteCounters() {
		t.Logf("this kernel's mptcp_info (%d bytes) has no byte counters", mp.Info.Size)
	}
	if len(mp.Subflows) != 2 {
		t.Fatalf("MPTCP connection has %d subflows, want 2: %+v", len(mp.Subflows), mp.Subflows)
	}
	var sent uint64
	for _, sf := range mp.Subflows {
		second := sf.Local.Addr() == netip.MustParseAddr("10.0.2.1")
		if sf.MPTCP.Backup() != second || sf.Remote != ap("10.0.1.2:5401") || sf.TCP == nil {
			t.Errorf("subflow %v -> %v: backup %v, tcp_info %v", sf.Local, sf.Remote, sf.MPTCP.Backup(), sf.TCP != nil)
			continue
		}
		sent += sf.TCP.BytesSent
	}
	if sent < 1000 {
		t.Errorf("subflows sent %d bytes, want >= 1000", sent)
	}
	if !fallback.Fallback() {
		t.Errorf("connection to the plain TCP server: fallback flag not set: %+v", fallback.Info)
	}

	// The server's view: the same connection, token of its own.
	ds, err := sockdiag.Dial(&sockdiag.Config{NetNS: srv.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	all, err := ds.Connections()
	if err != nil {
		t.Fatal(err)
	}
	sconns := (sockdiag.Filter{LocalPort: 5401}).Apply(all)
	if len(sconns) != 1 || len(sconns[0].Subflows) != 2 || sconns[0].Remote != mp.Local {
		t.Errorf("server side: %+v; want one connection from %v with 2 subflows", sconns, mp.Local)
	}
}

// TestDualStack: a dual-stack (AF_INET6) MPTCP listener accepting an IPv4
// client. The server's MPTCP socket carries v4-mapped addresses; both
// sockdiag and mptcp.Subflows report plain IPv4 and find the subflow.
func TestDualStack(t *testing.T) {
	ns := nstest.New(t, "ds")
	var ln net.Listener
	var c net.Conn
	ns.Do(t, func() (err error) {
		if ln, err = mptcp.Listen("tcp", "[::]:5403"); err != nil {
			return err
		}
		c, err = mptcp.Dial("tcp4", "127.0.0.1:5403")
		return err
	})
	defer ln.Close()
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dc, err := sockdiag.Dial(&sockdiag.Config{NetNS: ns.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	conns, err := dc.Connections()
	if err != nil {
		t.Fatal(err)
	}
	srv := (sockdiag.Filter{LocalPort: 5403}).Apply(conns)
	if len(srv) != 1 || srv[0].Local != ap("127.0.0.1:5403") || len(srv[0].Subflows) != 1 || srv[0].Subflows[0].Local != ap("127.0.0.1:5403") {
		t.Fatalf("server side of the dual-stack connection: %+v", srv)
	}
	sfs, err := mptcp.Subflows(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(sfs) != 1 || sfs[0].Local.Addr().Unmap() != netip.MustParseAddr("127.0.0.1") || !sfs[0].Diag {
		t.Errorf("mptcp.Subflows(server conn) = %+v; want one 127.0.0.1 subflow with diag data", sfs)
	}
}
