package nstest_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

func TestLinkPing(t *testing.T) {
	a := nstest.New(t, "a")
	b := nstest.New(t, "b")
	nstest.Link(t, a, "mkt0", "10.99.1.1/24", b, "mkt0", "10.99.1.2/24")
	if got := a.ReadSysctl(t, "net.mptcp.enabled"); got != "1" {
		t.Fatalf("net.mptcp.enabled = %q in a new namespace", got)
	}
	var ln net.Listener
	b.Do(t, func() (err error) { ln, err = net.Listen("tcp", "10.99.1.2:0"); return err })
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	var c net.Conn
	a.Do(t, func() (err error) { c, err = net.DialTimeout("tcp", ln.Addr().String(), 3*time.Second); return err })
	defer c.Close()
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q, %v", buf, err)
	}
	out := a.Run(t, "ip", "-br", "addr", "show", "mkt0")
	if !strings.Contains(out, "10.99.1.1/24") {
		t.Fatalf("ip addr in a: %q", out)
	}
}

// TestPair: each path of a Pair carries traffic between its two addresses,
// MPTCP is on in both namespaces, and the namespaces are named after the
// test.
func TestPair(t *testing.T) {
	paths := nstest.Paths(3, "10.98", "c", "s")
	if p := paths[2]; p != (nstest.Path{ClientIf: "c3", ClientCIDR: "10.98.3.1/24", ServerIf: "s3", ServerCIDR: "10.98.3.2/24"}) {
		t.Fatalf("Paths: path 3 is %+v", p)
	}
	c, s := nstest.Pair(t, paths)
	for _, ns := range []*nstest.NS{c, s} {
		if !strings.Contains(ns.Name, "TestPair") {
			t.Errorf("namespace %s does not name the test", ns.Name)
		}
		if got := ns.ReadSysctl(t, "net.mptcp.enabled"); got != "1" {
			t.Errorf("%s: net.mptcp.enabled = %q", ns.Name, got)
		}
	}
	for _, p := range paths {
		var ln net.Listener
		s.Do(t, func() (err error) { ln, err = net.Listen("tcp", nstest.IP(p.ServerCIDR).String()+":0"); return err })
		defer ln.Close()
		go func() {
			if c, err := ln.Accept(); err == nil {
				c.Close()
			}
		}()
		c.Do(t, func() error {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: nstest.IP(p.ClientCIDR)}, Timeout: 3 * time.Second}
			conn, err := d.Dial("tcp", ln.Addr().String())
			if err == nil {
				conn.Close()
			}
			return err
		})
	}
}

// TestWaitSubflows: it returns once the count is reached.
func TestWaitSubflows(t *testing.T) {
	calls := 0
	grow := func(any) ([]int, error) {
		calls++
		return make([]int, min(calls, 3)), nil
	}
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	if sfs := nstest.WaitSubflows(t, c1, grow, 3); len(sfs) != 3 || calls != 3 {
		t.Errorf("got %d subflows after %d polls, want 3 after 3", len(sfs), calls)
	}
}

// TestListenDial: an MPTCP connection between the namespaces of a Pair,
// from the address asked for, into a Sink.
func TestListenDial(t *testing.T) {
	c, s := nstest.Pair(t, nstest.Paths(2, "10.97", "c", "s"))
	ln := s.Listen(t, "10.97.1.2:0")
	nstest.Sink(ln)
	conn := c.Dial(t, "10.97.2.1", ln.Addr().String())
	if got := conn.LocalAddr().(*net.TCPAddr).IP.String(); got != "10.97.2.1" {
		t.Errorf("dialled from %s, want 10.97.2.1", got)
	}
	if mp, err := conn.(*net.TCPConn).MultipathTCP(); err != nil || !mp {
		t.Errorf("MultipathTCP = %v, %v; want an MPTCP connection", mp, err)
	}
	if _, err := conn.Write(make([]byte, 1<<16)); err != nil {
		t.Fatal(err)
	}
}
