package mptcp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// twoPaths is a client and a server namespace joined by two veth pairs:
// 10.0.1.0/24 (path 1) and 10.0.2.0/24 (path 2). Both sides allow 2
// subflows; the client has a subflow endpoint on path 2, so every MPTCP
// connection to 10.0.1.2 gets a second subflow 10.0.2.1 -> 10.0.1.2.
type twoPaths struct {
	client, server *nstest.NS
}

func newTwoPaths(t *testing.T) *twoPaths {
	t.Helper()
	p := &twoPaths{client: nstest.New(t, "cli"), server: nstest.New(t, "srv")}
	nstest.Link(t, p.client, "c1", "10.0.1.1/24", p.server, "s1", "10.0.1.2/24")
	nstest.Link(t, p.client, "c2", "10.0.2.1/24", p.server, "s2", "10.0.2.2/24")
	for _, ns := range []*nstest.NS{p.client, p.server} {
		ns.Run(t, "ip", "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2")
	}
	p.client.Run(t, "ip", "mptcp", "endpoint", "add", "10.0.2.1", "dev", "c2", "subflow")
	return p
}

// listen opens a listener in ns (MPTCP if mptcp is true) that accepts
// connections into the returned channel.
func listen(t *testing.T, ns *nstest.NS, addr string, useMPTCP bool) (net.Listener, <-chan net.Conn) {
	t.Helper()
	var ln net.Listener
	ns.Do(t, func() (err error) {
		lc := &net.ListenConfig{}
		lc.SetMultipathTCP(useMPTCP)
		ln, err = lc.Listen(context.Background(), "tcp", addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	ch := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(ch)
				return
			}
			t.Cleanup(func() { c.Close() })
			ch <- c
		}
	}()
	return ln, ch
}

func dialIn(t *testing.T, ns *nstest.NS, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	ns.Do(t, func() (err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err = DialContext(ctx, "tcp", addr)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func accept(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted within 5s")
	}
	return nil
}

// waitSubflows polls Subflows until it returns n subflows.
func waitSubflows(t *testing.T, c net.Conn, n int) []Subflow {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sfs, err := Subflows(c)
		if err != nil {
			t.Fatalf("Subflows: %v", err)
		}
		if len(sfs) == n {
			return sfs
		}
		if time.Now().After(deadline) {
			t.Fatalf("Subflows: got %d subflows after 5s, want %d: %+v", len(sfs), n, sfs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTwoSubflows(t *testing.T) {
	p := newTwoPaths(t)
	_, accepted := listen(t, p.server, "10.0.1.2:5201", true)
	c := dialIn(t, p.client, "10.0.1.2:5201")
	s := accept(t, accepted)

	for name, conn := range map[string]net.Conn{"client": c, "server": s} {
		st, err := StateOf(conn)
		if err != nil || st != Active {
			t.Fatalf("%s: StateOf = %v, %v; want active", name, st, err)
		}
	}
	// The path manager adds subflows once the connection is fully
	// established, which takes data in flight: send one byte first.
	if _, err := c.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	sfs := waitSubflows(t, c, 2)
	type ends struct{ local, remote netip.Addr }
	got := map[ends]bool{}
	for _, sf := range sfs {
		got[ends{sf.Local.Addr(), sf.Remote.Addr()}] = true
		if sf.Remote.Port() != 5201 {
			t.Errorf("subflow %d remote port %d, want 5201", sf.ID, sf.Remote.Port())
		}
		if sf.TCPState != 1 {
			t.Errorf("subflow %d TCP state %d, want 1 (established)", sf.ID, sf.TCPState)
		}
	}
	for _, want := range []ends{
		{netip.MustParseAddr("10.0.1.1"), netip.MustParseAddr("10.0.1.2")},
		{netip.MustParseAddr("10.0.2.1"), netip.MustParseAddr("10.0.1.2")},
	} {
		if !got[want] {
			t.Errorf("no subflow %v -> %v in %+v", want.local, want.remote, sfs)
		}
	}

	// Send N bytes; the server reads them all.
	const N = 8<<20 + 1 // with the first byte
	done := make(chan error, 1)
	go func() {
		n, err := io.Copy(io.Discard, s)
		if err == nil && n != N-1 {
			err = errors.New("short read")
		}
		done <- err
	}()
	buf := make([]byte, 64<<10)
	for sent := 1; sent < N; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until everything is acked at the MPTCP level.
	deadline := time.Now().Add(5 * time.Second)
	var info *ConnInfo
	for {
		var err error
		if info, err = Info(c); err != nil {
			t.Fatal(err)
		}
		if info.BytesAcked >= N || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !info.HasByteCounters() {
		t.Skipf("kernel fills only %d bytes of mptcp_info: no byte counters before 6.5", info.Size)
	}
	if info.BytesAcked != N {
		t.Errorf("Info: bytes_acked %d, want %d", info.BytesAcked, N)
	}
	if info.BytesSent < N || info.BytesSent > N+info.BytesRetrans {
		t.Errorf("Info: bytes_sent %d, want %d (+ %d retransmitted)", info.BytesSent, N, info.BytesRetrans)
	}
	if info.TotalSubflows() != 2 {
		t.Errorf("Info: %d subflows, want 2", info.TotalSubflows())
	}
	sfs = waitSubflows(t, c, 2)
	var sent, acked, retrans uint64
	for _, sf := range sfs {
		sent += sf.BytesSent
		acked += sf.BytesAcked
		retrans += sf.BytesRetrans
		t.Logf("subflow %d %v->%v sent %d acked %d retrans %d rtt %v cwnd %d", sf.ID, sf.Local, sf.Remote, sf.BytesSent, sf.BytesAcked, sf.BytesRetrans, sf.RTT, sf.Cwnd)
	}
	// tcpi_bytes_acked counts acked sequence space, which includes each
	// subflow's SYN: one more per subflow.
	acked -= uint64(len(sfs))
	if acked < N || acked > N+retrans {
		t.Errorf("subflows acked %d bytes in total, want %d (+%d retransmitted)", acked, N, retrans)
	}
	// Data-level retransmissions (reinjections on another subflow) are
	// new bytes for the subflow carrying them: mptcp_info counts them.
	t.Logf("mptcp_info: sent %d acked %d retrans %d (%d times)", info.BytesSent, info.BytesAcked, info.BytesRetrans, info.Retransmits)
	if sent < N || sent > N+retrans+info.BytesRetrans {
		t.Errorf("subflows sent %d bytes in total, want %d (+%d retransmitted by TCP, +%d reinjected by MPTCP)", sent, N, retrans, info.BytesRetrans)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatalf("server read: %v", err)
	}
}
