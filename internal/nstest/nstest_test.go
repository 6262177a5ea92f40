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
