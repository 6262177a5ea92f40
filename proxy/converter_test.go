package proxy_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/proxy"
	"github.com/mptcpkit/mptcpkit/proxy/convert"
)

// tfoDial dials addr from ns over MPTCP with TCP_FASTOPEN_CONNECT: the first
// Write goes out in the SYN.
func tfoDial(t *testing.T, ns *nstest.NS, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN_CONNECT, 1) })
		return serr
	}}
	d.SetMultipathTCP(true)
	var c net.Conn
	ns.Do(t, func() (err error) { c, err = d.Dial("tcp", addr); return err })
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func netstat(t *testing.T, ns *nstest.NS, key string) int64 {
	out := ns.Run(t, "cat", "/proc/net/netstat")
	lines := strings.Split(out, "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j := range names {
			if names[j] == key && j < len(vals) {
				v, _ := strconv.ParseInt(vals[j], 10, 64)
				return v
			}
		}
	}
	return -1
}

// TestConverter: RFC 8803 server mode. The Convert message and the first
// application bytes travel in the SYN (TCP Fast Open over MPTCP); what is
// refused or unsupported gets an Error TLV.
func TestConverter(t *testing.T) {
	l := newLab(t, false)
	l.srv.Sysctl(t, "net.ipv4.tcp_fastopen", "514") // 0x202: server, no cookie needed
	l.cli.Sysctl(t, "net.ipv4.tcp_fastopen", "5")   // 0x5: client, send data without a cookie
	base := l.serverConfig(t)
	allow, _ := proxy.ParsePrefixes("10.0.1.0/24")
	cv := &proxy.Converter{AllowFrom: allow, Policy: base.Policy, Dial: base.Dial, Logger: base.Logger}
	var ln net.Listener
	err := l.srv.NetNS.Do(func() (err error) {
		ln, err = proxy.ListenConvert(context.Background(), "10.0.1.2:7100", 64)
		return err
	})
	if errors.Is(err, proxy.ErrNoTFO) {
		t.Skipf("kernel: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	serve(t, func(ctx context.Context) error { return cv.Serve(ctx, ln) })

	passive := netstat(t, l.srv, "TCPFastOpenPassive")
	c := tfoDial(t, l.cli, "10.0.1.2:7100")
	msg := convert.AppendConnect(nil, netip.MustParseAddrPort(destAddr))
	if _, err := c.Write(append(msg, "Ehello"...)); err != nil {
		t.Fatal(err)
	}
	if err := convert.ReadReply(c); err != nil {
		t.Fatalf("converter reply: %v", err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("echo through the converter: %q, %v", buf, err)
	}
	if got := netstat(t, l.srv, "TCPFastOpenPassive"); got <= passive {
		t.Errorf("TCPFastOpenPassive %d -> %d: the Convert message did not come in the SYN", passive, got)
	}
	c.Close()
	l.waitLog(t, "relaying (convert)", "to="+destAddr)

	refused := func(name string, payload []byte, want convert.ErrorCode) {
		t.Run(name, func(t *testing.T) {
			c := tfoDial(t, l.cli, "10.0.1.2:7100")
			c.Write(payload)
			var ce *convert.Error
			if err := convert.ReadReply(c); !errors.As(err, &ce) || ce.Code != want {
				t.Fatalf("reply %v, want Error TLV %v", err, want)
			}
		})
	}
	accepted := l.dest.accepted.Load()
	refused("denied destination", convert.AppendConnect(nil, netip.MustParseAddrPort("127.0.0.1:5001")), convert.ErrNotAuthorized)
	refused("closed port", convert.AppendConnect(nil, netip.MustParseAddrPort("10.9.0.2:5999")), convert.ErrConnectionReset)
	cookie := append(convert.AppendConnect(nil, netip.MustParseAddrPort(destAddr)), convert.TypeCookie, 1, 0, 0)
	cookie[1] = 7
	refused("cookie TLV", cookie, convert.ErrUnsupportedMessage)
	refused("version 2", append([]byte{2}, msg[1:]...), convert.ErrUnsupportedVersion)
	t.Run("client not in AllowFrom", func(t *testing.T) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("10.0.2.1")}}
		d.SetMultipathTCP(true)
		var c net.Conn
		l.cli.Do(t, func() (err error) { c, err = d.Dial("tcp", "10.0.1.2:7100"); return err })
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(msg)
		var ce *convert.Error
		if err := convert.ReadReply(c); !errors.As(err, &ce) || ce.Code != convert.ErrNotAuthorized {
			t.Fatalf("reply %v, want Error TLV %v", err, convert.ErrNotAuthorized)
		}
	})
	if got := l.dest.accepted.Load(); got != accepted {
		t.Errorf("destination saw %d connections from refused requests", got-accepted)
	}
	l.waitLog(t, "refused: destination denied", "code=\"not authorized\"")
	l.waitLog(t, "refused: client not in --allow-from", "from=10.0.2.1:")
}
