package cli

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

func TestProxyUsageErrors(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	short := filepath.Join(dir, "short")
	os.WriteFile(key, []byte("0123456789abcdef0123\n"), 0o600)
	os.WriteFile(short, []byte("abc\n"), 0o600)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"proxy"}, "proxy needs a verb"},
		{[]string{"proxy", "relay"}, `proxy: unknown verb "relay"`},
		{[]string{"proxy", "server", "--psk-file", key}, "--listen ADDR:PORT is required"},
		{[]string{"proxy", "server", "--listen", "7000", "--psk-file", key}, "want ADDR:PORT"},
		{[]string{"proxy", "server", "--listen", ":7000"}, "clients must authenticate"},
		{[]string{"proxy", "server", "--listen", ":7000", "--psk-file", short}, "use at least 16"},
		{[]string{"proxy", "server", "--listen", ":7000", "--psk-file", key, "--tls-cert", "c"}, "not both"},
		{[]string{"proxy", "server", "--listen", ":7000", "--tls-cert", "c"}, "--tls-cert, --tls-key and --client-ca together"},
		{[]string{"proxy", "server", "--listen", ":7000", "--psk-file", key, "--allow", "10.0.0.0/33"}, "--allow"},
		{[]string{"proxy", "server", "--listen", ":7000", "--psk-file", key, "--max-conns", "0"}, "at least 1"},
		{[]string{"proxy", "server", "--listen", ":7000", "--psk-file", key, "--idle-timeout", "-1s"}, "must not be negative"},
		{[]string{"proxy", "client", "--socks5", "--psk-file", key}, "--server HOST:PORT is required"},
		{[]string{"proxy", "client", "--server", "h:1", "--psk-file", key}, "exactly one of --to"},
		{[]string{"proxy", "client", "--server", "h:1", "--to", "a:1", "--socks5", "--psk-file", key}, "exactly one of --to"},
		{[]string{"proxy", "client", "--server", "h:1", "--to", "a", "--psk-file", key}, "want HOST:PORT"},
		{[]string{"proxy", "client", "--server", "h:1", "--socks5", "--tproxy", "--psk-file", key}, "--tproxy goes with --transparent"},
		{[]string{"proxy", "client", "--server", "h:1", "--socks5"}, "the server wants proof"},
		{[]string{"proxy", "server", "--listen", ":7000", "--psk-file", key, "--deny", "::ffff:0:0/80"}, "write the IPv4 part as an IPv4 prefix"},
		{[]string{"proxy", "client", "--server", "h:1", "--socks5", "--listen", "0.0.0.0:1080", "--psk-file", key}, "--socks-allow-from CIDR"},
		{[]string{"proxy", "client", "--server", "h:1", "--to", "a:1", "--allow-remote-socks", "--psk-file", key}, "go with --socks5"},
		{[]string{"proxy", "client", "--server", "h:1", "--socks5", "--socks-allow-from", "10.0.0.0/8", "--allow-remote-socks", "--psk-file", key}, "not both"},
		{[]string{"proxy", "client", "--server", "h:1", "--socks5", "--socks-allow-from", "x", "--psk-file", key}, "--socks-allow-from"},
		{[]string{"proxy", "convert", "--listen", ":5124"}, "--allow-from CIDR,... is required"},
		{[]string{"proxy", "convert", "--allow-from", "10.0.0.0/8"}, "--listen ADDR:PORT is required"},
		{[]string{"proxy", "convert", "--listen", ":5124", "--allow-from", "x"}, "--allow-from"},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, errs, code := runCLI(ctx, tt.args...)
		cancel()
		if code != 2 || !strings.Contains(errs, tt.want) || !strings.Contains(errs, "--help") {
			t.Errorf("mptcpkit %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tt.args, " "), code, errs, tt.want)
		}
	}
}

// TestProxyHelpSaysPSKDoesNotEncrypt: the help says, next to the TLS
// option, that a pre-shared key authenticates but does not encrypt (issue
// 12.12); so do the README and docs/proxy.md.
func TestProxyHelpSaysPSKDoesNotEncrypt(t *testing.T) {
	for _, args := range [][]string{{"proxy", "--help"}, {"proxy", "server", "--help"}, {"proxy", "client", "--help"}} {
		out, _, _ := runCLI(context.Background(), args...)
		if !strings.Contains(out, "does not encrypt") || !strings.Contains(out, "TLS") {
			t.Errorf("mptcpkit %s does not say that PSK mode does not encrypt:\n%s", strings.Join(args, " "), out)
		}
	}
	for _, f := range []string{"../../README.md", "../../docs/proxy.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "does not encrypt") {
			t.Errorf("%s does not say that PSK mode does not encrypt", f)
		}
	}
}

func TestProxyHelp(t *testing.T) {
	for _, args := range [][]string{{"proxy", "--help"}, {"proxy", "server", "--help"}, {"proxy", "client", "-h"}, {"proxy", "convert", "--help"}} {
		out, _, code := runCLI(context.Background(), args...)
		if code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, "Examples:") {
			t.Errorf("mptcpkit %s: exit %d, output lacks Usage/Examples:\n%s", strings.Join(args, " "), code, out)
		}
	}
}

// TestProxyCLI runs both ends with -n NETNS as a user would and relays one
// connection: client ns → server ns → destination ns.
func TestProxyCLI(t *testing.T) {
	cli, srv, dst := nstest.New(t, "cli"), nstest.New(t, "srv"), nstest.New(t, "dst")
	nstest.Link(t, cli, "c1", "10.0.1.1/24", srv, "s1", "10.0.1.2/24")
	nstest.Link(t, cli, "c2", "10.0.2.1/24", srv, "s2", "10.0.2.2/24")
	nstest.Link(t, srv, "sd", "10.9.0.1/24", dst, "d0", "10.9.0.2/24")
	cli.Run(t, "ip", "rule", "add", "from", "10.0.2.1", "table", "102")
	cli.Run(t, "ip", "route", "add", "10.0.1.2/32", "dev", "c2", "table", "102")
	cli.Run(t, "ip", "mptcp", "endpoint", "add", "10.0.2.1", "dev", "c2", "subflow")
	dst.Run(t, "ip", "route", "add", "default", "via", "10.9.0.1")
	key := filepath.Join(t.TempDir(), "key")
	os.WriteFile(key, []byte("a-proxy-test-key-0123456789\n"), 0o600)

	var ln net.Listener
	dst.Do(t, func() (err error) { ln, err = net.Listen("tcp4", "10.9.0.2:5001"); return err })
	defer ln.Close()
	nstest.Echo(ln)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan string, 2)
	start := func(args ...string) {
		go func() {
			var out, errb syncWriter
			err := Run(ctx, args, &out, &errb)
			done <- strings.Join(args[2:4], " ") + ": " + errString(err) + "\n" + errb.String()
		}()
	}
	start("-n", srv.Name, "proxy", "server", "--listen", "10.0.1.2:7000", "--psk-file", key)
	time.Sleep(300 * time.Millisecond)
	start("-n", cli.Name, "proxy", "client", "--server", "10.0.1.2:7000", "--listen", "127.0.0.1:6000", "--to", "10.9.0.2:5001", "--psk-file", key)
	var c net.Conn
	for i := 0; i < 50; i++ {
		var err error
		if cli.NetNS.Do(func() (err error) { c, err = net.Dial("tcp", "127.0.0.1:6000"); return err }); c != nil {
			break
		} else if i == 49 {
			t.Fatalf("client listener: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	_, err := io.ReadFull(c, buf)
	// `mptcpkit conns` in the server namespace shows the proxied
	// connection with its two subflows (one per path).
	var conns string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if conns, _, _ = runCLI(context.Background(), "-n", srv.Name, "conns"); strings.Contains(conns, "subflows 2") {
			break
		}
	}
	if !strings.Contains(conns, "10.0.1.2:7000") || !strings.Contains(conns, "subflows 2") || !strings.Contains(conns, "10.0.2.1:") {
		t.Errorf("mptcpkit conns in the server namespace does not show the proxy connection with 2 subflows:\n%s", conns)
	}
	c.Close()
	time.Sleep(100 * time.Millisecond) // let the end of the connection be logged
	cancel()
	logs := <-done + <-done
	if err != nil || string(buf) != "hello" {
		t.Fatalf("echo through the proxy: %q, %v\n%s", buf, err, logs)
	}
	for _, w := range []string{"proxy server listening", "relaying", "connection ended", "up_bytes=5", "proxy server stopped", "proxy client stopped"} {
		if !strings.Contains(logs, w) {
			t.Errorf("logs lack %q:\n%s", w, logs)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// syncWriter is a bytes buffer safe for the concurrent writes of a logger.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
