package nstest

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// Listen opens an MPTCP listener on addr inside the namespace; it is closed
// when t ends.
func (ns *NS) Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	ns.Do(t, func() (err error) {
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(true)
		ln, err = lc.Listen(context.Background(), "tcp", addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Dial connects over MPTCP from inside the namespace to addr, from the
// local IP address local ("" for any), giving up after 3 s; the connection
// is closed when t ends.
func (ns *NS) Dial(t testing.TB, local, addr string) net.Conn {
	t.Helper()
	var conn net.Conn
	ns.Do(t, func() (err error) {
		d := net.Dialer{Timeout: 3 * time.Second}
		if local != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
		}
		d.SetMultipathTCP(true)
		conn, err = d.Dial("tcp", addr)
		return err
	})
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Sink accepts every connection on ln and reads each to its end, in the
// background, until ln is closed.
func Sink(ln net.Listener) {
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, conn); conn.Close() }()
		}
	}()
}

// Serve accepts every connection on ln and runs serve on each in its own
// goroutine, closing the connection when serve returns, until ln is closed.
func Serve(ln net.Listener, serve func(net.Conn)) {
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer conn.Close(); serve(conn) }()
		}
	}()
}

// Echo serves every connection on ln by writing back what it reads, until
// ln is closed.
func Echo(ln net.Listener) {
	Serve(ln, func(c net.Conn) { io.Copy(c, c) })
}
