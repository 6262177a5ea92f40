package proxy_test

import (
	"context"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/proxy"
)

func TestFixedForward(t *testing.T) {
	l := newLab(t, false)
	l.startServer(t, l.serverConfig(t))
	l.startClient(t, l.clientConfig(t, proxy.ModeFixed), "127.0.0.1:6000", false)
	upload(t, dialApp(t, l.cli, "127.0.0.1:6000"), 4<<20, 0)
	line := l.waitLog(t, "side=server", "connection ended", "to="+destAddr)
	for _, w := range []string{"up_bytes=4194305", "down_bytes=1048608", "end=closed"} {
		if !contains(line, w) {
			t.Errorf("server log %q lacks %s", line, w)
		}
	}
}

// TestConnSubflows checks the proxy's MPTCP connection uses both paths.
func TestConnSubflows(t *testing.T) {
	l := newLab(t, false)
	l.startServer(t, l.serverConfig(t))
	c := l.clientConfig(t, proxy.ModeFixed)
	conn, err := c.Connect(context.Background(), c.To)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := mptcp.StateOf(conn)
	if err != nil || st != mptcp.Active {
		t.Fatalf("proxy connection MPTCP state = %v, %v; want Active", st, err)
	}
	var n int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		sfs, err := mptcp.Subflows(conn)
		if err != nil {
			t.Fatal(err)
		}
		if n = len(sfs); n == 2 {
			break
		}
	}
	if n != 2 {
		t.Fatalf("proxy connection has %d subflows, want 2", n)
	}
	echo(t, conn)
}

func contains(s, sub string) bool { return len(sub) == 0 || len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0) }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
