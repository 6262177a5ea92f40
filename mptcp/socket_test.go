package mptcp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// TestListenWith: a listener and a connection opened in another namespace
// stay there, MPTCP or plain TCP as asked, and Strict refuses a namespace
// where MPTCP is off instead of serving plain TCP.
func TestListenWith(t *testing.T) {
	ns := nstest.New(t, "lw")
	ctx := context.Background()
	ln, err := ListenWith(ctx, "tcp", "127.0.0.1:5210", ListenOptions{NetNS: ns.NetNS, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ok, err := IsMPTCPListener(ln); err != nil || !ok {
		t.Errorf("IsMPTCPListener(MPTCP listener) = %v, %v; want true", ok, err)
	}
	// 127.0.0.1:5210 answers only inside ns: the listener lives there.
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := DialWith(ctx, "tcp", "127.0.0.1:5210", DialOptions{NetNS: ns.NetNS})
	if err != nil {
		t.Fatalf("DialWith in the listener's namespace: %v", err)
	}
	defer c.Close()
	if st, err := StateOf(c); err != nil || st != Active {
		t.Errorf("StateOf(DialWith MPTCP) = %v, %v; want active", st, err)
	}

	plain, err := ListenWith(ctx, "tcp", "127.0.0.1:5211", ListenOptions{NetNS: ns.NetNS, TCP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if ok, err := IsMPTCPListener(plain); err != nil || ok {
		t.Errorf("IsMPTCPListener(TCP listener) = %v, %v; want false", ok, err)
	}
	go func() {
		if c, err := plain.Accept(); err == nil {
			c.Close()
		}
	}()
	tc, err := DialWith(ctx, "tcp", "127.0.0.1:5211", DialOptions{NetNS: ns.NetNS, TCP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if st, err := StateOf(tc); err != nil || st != NotRequested {
		t.Errorf("StateOf(DialWith TCP) = %v, %v; want not-requested", st, err)
	}

	if _, err := ListenWith(ctx, "tcp", "127.0.0.1:5212", ListenOptions{Strict: true, TCP: true}); err == nil {
		t.Error("ListenWith(Strict and TCP) did not fail")
	}
	if _, err := ListenWith(ctx, "udp", "127.0.0.1:5212", ListenOptions{}); !errors.Is(err, ErrNotTCP) {
		t.Errorf("ListenWith(udp) = %v; want ErrNotTCP", err)
	}

	off := nstest.New(t, "off")
	off.Sysctl(t, "net.mptcp.enabled", "0")
	if ln, err := ListenWith(ctx, "tcp", "127.0.0.1:5213", ListenOptions{NetNS: off.NetNS, Strict: true}); !errors.Is(err, ErrNoMPTCP) {
		if ln != nil {
			ln.Close()
		}
		t.Errorf("strict ListenWith with net.mptcp.enabled=0 = %v; want ErrNoMPTCP", err)
	}
	ln2, err := ListenWith(ctx, "tcp", "127.0.0.1:5213", ListenOptions{NetNS: off.NetNS})
	if err != nil {
		t.Fatalf("ListenWith (not strict) with net.mptcp.enabled=0: %v", err)
	}
	defer ln2.Close()
	if ok, err := IsMPTCPListener(ln2); err != nil || ok {
		t.Errorf("IsMPTCPListener(fallen-back listener) = %v, %v; want false", ok, err)
	}
}

// TestUnwrap: TCPConn and RawConn see through NetConn wrappers and refuse
// what has no TCP socket under it.
func TestUnwrap(t *testing.T) {
	ns := nstest.New(t, "uw")
	_, accepted := listen(t, ns, "127.0.0.1:5214", true)
	c := dialIn(t, ns, "127.0.0.1:5214")
	accept(t, accepted)
	wrapped := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	tc, err := TCPConn(wrapped)
	if err != nil || tc != c.(*net.TCPConn) {
		t.Errorf("TCPConn(*tls.Conn) = %p, %v; want the conn under it %p", tc, err, c)
	}
	if rc, err := RawConn(wrapped); err != nil || rc == nil {
		t.Errorf("RawConn(*tls.Conn) = %v, %v", rc, err)
	}
	for name, nc := range map[string]net.Conn{"nil": nil, "pipe": pipeConn(t), "tls over pipe": tls.Client(pipeConn(t), &tls.Config{})} {
		if _, err := TCPConn(nc); !errors.Is(err, ErrNotTCP) {
			t.Errorf("TCPConn(%s) = %v; want ErrNotTCP", name, err)
		}
		if _, err := RawConn(nc); !errors.Is(err, ErrNotTCP) {
			t.Errorf("RawConn(%s) = %v; want ErrNotTCP", name, err)
		}
	}
	if _, err := ListenerRawConn(nil); !errors.Is(err, ErrNotTCP) {
		t.Errorf("ListenerRawConn(nil) = %v; want ErrNotTCP", err)
	}
}

func TestLogAttrs(t *testing.T) {
	for _, tc := range []struct {
		st   State
		err  error
		want []any
	}{
		{Active, nil, []any{"mptcp", "active"}},
		{Fallback, nil, []any{"mptcp", "fallback", "mptcp_why", Fallback.Reason()}},
		{Unknown, errors.New("boom"), []any{"mptcp", "unknown", "mptcp_why", "boom"}},
	} {
		if got := LogAttrs(tc.st, tc.err); !slices.Equal(got, tc.want) {
			t.Errorf("LogAttrs(%v, %v) = %v; want %v", tc.st, tc.err, got, tc.want)
		}
	}
}
