package mptcp_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"

	"github.com/mptcpkit/mptcpkit/mptcp"
)

// A client that asks for MPTCP and keeps working when the server does not
// speak it: the connection falls back to TCP, and StateOf says so.
func Example_clientWithFallback() {
	// A server that speaks plain TCP only (Go's listeners use MPTCP by
	// default since 1.24, so switch it off).
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()

	conn, err := mptcp.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	state, err := mptcp.StateOf(conn)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("state:", state)
	if state != mptcp.Active {
		fmt.Println("why:", state.Reason())
	}
	// Output:
	// state: fallback
	// why: fallback: the peer did not negotiate MPTCP (it does not support it, or a middlebox stripped the MPTCP options)
}

// A server that accepts MPTCP and plain TCP clients alike and tells them
// apart.
func Example_serverWithFallback() {
	ln, err := mptcp.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	for _, client := range []string{"mptcp", "tcp"} {
		var d net.Dialer
		d.SetMultipathTCP(client == "mptcp")
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()

		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		// StateOfAccepted knows that a plain TCP socket accepted from an
		// MPTCP listener is a fallback (the kernel leaves no mark on it).
		state, err := mptcp.StateOfAccepted(ln, conn)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s client: %v\n", client, state)
		conn.Close()
	}
	// Output:
	// mptcp client: active
	// tcp client: fallback
}

// Printing the subflows of a connection, with the connection-level
// counters.
func ExampleSubflows() {
	ln, err := mptcp.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	conn, err := mptcp.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(make([]byte, 1000)); err != nil {
		log.Fatal(err)
	}

	sfs, err := mptcp.Subflows(conn)
	if err != nil {
		log.Fatal(err)
	}
	for _, sf := range sfs {
		// In a real program: fmt.Printf("%d %v -> %v rtt %v cwnd %d sent %d\n",
		//	sf.ID, sf.Local, sf.Remote, sf.RTT, sf.Cwnd, sf.BytesSent)
		fmt.Printf("subflow %d: %v -> %v, to the server: %v\n", sf.ID, sf.Local.Addr(), sf.Remote.Addr(), sf.Remote.String() == ln.Addr().String())
		break // the loopback connection has one subflow (unless endpoints are configured)
	}
	info, err := mptcp.Info(conn)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token set:", info.Token != 0)
	// Output:
	// subflow 1: 127.0.0.1 -> 127.0.0.1, to the server: true
	// token set: true
}
