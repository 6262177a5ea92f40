package daemon_test

import (
	"io"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/mptcp"
)

// TestUserspaceAdopt: a client connection opened before the daemon started
// gets its subflows once the daemon runs; a server-side connection in the
// same namespace is left alone.
func TestUserspaceAdopt(t *testing.T) {
	c, s := userspacePair(t, nstest.Paths(2, "10.86", "mk", "mk"))

	dialFrom := func(ns *nstest.NS, local, addr string) net.Conn {
		conn := ns.Dial(t, local, addr)
		conn.Write([]byte("hello"))
		return conn
	}
	// Client side: c -> s.
	sln := s.Listen(t, "10.86.1.2:5201")
	go func() {
		for {
			a, err := sln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, a)
		}
	}()
	client := dialFrom(c, "10.86.1.1", "10.86.1.2:5201")
	// Server side in c: s -> c.
	cln := c.Listen(t, "10.86.1.1:7000")
	accepted := make(chan net.Conn, 1)
	go func() {
		a, err := cln.Accept()
		if err == nil {
			accepted <- a
			io.Copy(io.Discard, a)
		}
	}()
	dialFrom(s, "10.86.1.2", "10.86.1.1:7000")
	server := <-accepted
	time.Sleep(100 * time.Millisecond) // both fully established

	start(t, c, daemon.Config{})
	locals := func(conn net.Conn) string {
		sfs, err := mptcp.Subflows(conn)
		if err != nil {
			t.Fatal(err)
		}
		var l []string
		for _, sf := range sfs {
			l = append(l, sf.Local.Addr().String())
		}
		sort.Strings(l)
		return strings.Join(l, " ")
	}
	for deadline := time.Now().Add(2 * time.Second); locals(client) != "10.86.1.1 10.86.2.1"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("connection opened before the daemon: subflows from %q", locals(client))
		}
	}
	if got := locals(server); got != "10.86.1.1" {
		t.Errorf("server-side connection got subflows: %q", got)
	}
}
