package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// bgCLI is a mptcpkit command running in the background.
type bgCLI struct {
	cancel context.CancelFunc
	stderr *syncWriter
	done   chan error
}

func startCLI(t *testing.T, args ...string) *bgCLI {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &bgCLI{cancel: cancel, stderr: &syncWriter{}, done: make(chan error, 1)}
	go func() { b.done <- Run(ctx, args, io.Discard, b.stderr) }()
	t.Cleanup(func() { b.stop(t) })
	return b
}

// stop cancels the command and returns its error.
func (b *bgCLI) stop(t *testing.T) error {
	b.cancel()
	select {
	case err := <-b.done:
		b.done <- err
		return err
	case <-time.After(20 * time.Second):
		t.Errorf("command did not stop 20 s after cancel:\n%s", b.stderr.String())
		return nil
	}
}

// wait waits until stderr contains all of words, or the command ends.
func (b *bgCLI) wait(t *testing.T, words ...string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		s := b.stderr.String()
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(s, w)
		}
		if ok {
			return
		}
		select {
		case err := <-b.done:
			b.done <- err
			t.Fatalf("command ended (%v) before logging %q:\n%s", err, words, b.stderr.String())
		default:
		}
	}
	t.Fatalf("stderr lacks %q:\n%s", words, b.stderr.String())
}

// proxyPair is a client namespace linked to a server namespace (10.0.1.1 ↔
// 10.0.1.2, and 10.0.2.1 ↔ 10.0.2.2) and a key file.
func proxyPair(t *testing.T) (cli, srv *nstest.NS, key string) {
	cli, srv = nstest.New(t, "cli"), nstest.New(t, "srv")
	nstest.Link(t, cli, "c1", "10.0.1.1/24", srv, "s1", "10.0.1.2/24")
	nstest.Link(t, cli, "c2", "10.0.2.1/24", srv, "s2", "10.0.2.2/24")
	key = filepath.Join(t.TempDir(), "key")
	os.WriteFile(key, []byte("a-proxy-test-key-0123456789\n"), 0o600)
	return cli, srv, key
}

// TestProxyClientChecksServer: at start the client runs a real handshake
// with its server and says the result: authenticated (with the MPTCP
// state), a wrong key (exit with the fix), or no answer (a warning, and it
// keeps serving) — issue 13.5.
func TestProxyClientChecksServer(t *testing.T) {
	cli, srv, key := proxyPair(t)
	wrong := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrong, []byte("not-the-servers-key-0123456789\n"), 0o600)
	server := startCLI(t, "-n", srv.Name, "proxy", "server", "--listen", "10.0.1.2:7000", "--psk-file", key)
	server.wait(t, "proxy server listening")

	good := startCLI(t, "-n", cli.Name, "proxy", "client", "--server", "10.0.1.2:7000", "--listen", "127.0.0.1:6000", "--to", "10.9.0.2:5001", "--psk-file", key)
	good.wait(t, "proxy server check: authenticated", "mptcp=active", "proxy client listening")
	if s := good.stderr.String(); strings.Index(s, "check: authenticated") > strings.Index(s, "proxy client listening") {
		t.Errorf("the client said listening before the check:\n%s", s)
	}
	server.wait(t, "client check: authenticated")

	_, errs, code := runCLIFor(t, 10*time.Second, "-n", cli.Name, "proxy", "client", "--server", "10.0.1.2:7000", "--listen", "127.0.0.1:6001", "--to", "10.9.0.2:5001", "--psk-file", wrong)
	if code == 0 || !strings.Contains(errs, "authentication failed") || !strings.Contains(errs, "--psk-file") || strings.Contains(errs, "proxy client listening") {
		t.Errorf("client with a wrong key: exit %d, stderr:\n%s\nwant a non-zero exit naming the key and no 'listening'", code, errs)
	}

	down := startCLI(t, "-n", cli.Name, "proxy", "client", "--server", "10.0.1.2:7999", "--listen", "127.0.0.1:6002", "--to", "10.9.0.2:5001", "--psk-file", key)
	down.wait(t, "level=WARN", "proxy server check failed", "connection refused", "proxy client listening")
}

// TestProxyListenErrors: a taken --listen address is named with the fix.
func TestProxyListenErrors(t *testing.T) {
	cli, srv, key := proxyPair(t)
	var ln net.Listener
	cli.Do(t, func() (err error) { ln, err = net.Listen("tcp4", "127.0.0.1:6000"); return err })
	defer ln.Close()
	_, errs, code := runCLIFor(t, 10*time.Second, "-n", cli.Name, "proxy", "client", "--server", "10.0.1.2:7000", "--listen", "127.0.0.1:6000", "--to", "10.9.0.2:5001", "--psk-file", key)
	if code != 1 || !strings.Contains(errs, "listen on 127.0.0.1:6000: the address is in use") || !strings.Contains(errs, "pick another port with --listen") {
		t.Errorf("client on a taken port: exit %d, stderr %q", code, errs)
	}
	_, errs, code = runCLIFor(t, 10*time.Second, "-n", srv.Name, "proxy", "server", "--listen", "10.7.7.7:7000", "--psk-file", key)
	if code != 1 || !strings.Contains(errs, "no interface has that address") || !strings.Contains(errs, "--listen") {
		t.Errorf("server on an address it does not have: exit %d, stderr %q", code, errs)
	}
}

// TestProxySOCKSRemote: --socks5 on a non-loopback address is refused
// unless --allow-remote-socks or --socks-allow-from says who may use it;
// with --socks-allow-from, other sources are reset (issue 12.11).
func TestProxySOCKSRemote(t *testing.T) {
	cli, _, key := proxyPair(t)
	for _, listen := range []string{"0.0.0.0:1080", "10.0.1.1:1080", "[::]:1080", ":1080"} {
		_, errs, code := runCLIFor(t, 10*time.Second, "-n", cli.Name, "proxy", "client", "--server", "10.0.1.2:7000", "--socks5", "--listen", listen, "--psk-file", key)
		if code != 2 || !strings.Contains(errs, "not a loopback address") || !strings.Contains(errs, "--socks-allow-from") || !strings.Contains(errs, "--allow-remote-socks") {
			t.Errorf("--socks5 --listen %s: exit %d, stderr %q; want a refusal naming the flags", listen, code, errs)
		}
	}
	greet := func(src, dst string) error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		var c net.Conn
		if err := cli.NetNS.Do(func() (err error) { c, err = d.Dial("tcp4", dst); return err }); err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte{5, 1, 0})
		b := make([]byte, 2)
		if _, err := io.ReadFull(c, b); err != nil {
			return err
		}
		if b[0] != 5 || b[1] != 0 {
			return fmt.Errorf("method reply %x", b)
		}
		return nil
	}
	some := startCLI(t, "-n", cli.Name, "proxy", "client", "--server", "10.0.1.2:7000", "--socks5", "--listen", "0.0.0.0:1080", "--socks-allow-from", "10.0.1.0/24", "--psk-file", key)
	some.wait(t, "proxy client listening")
	if err := greet("10.0.1.1", "10.0.1.1:1080"); err != nil {
		t.Errorf("SOCKS5 from 10.0.1.1 (in --socks-allow-from): %v", err)
	}
	if err := greet("127.0.0.1", "127.0.0.1:1080"); err != nil {
		t.Errorf("SOCKS5 from loopback: %v", err)
	}
	if err := greet("10.0.2.1", "10.0.2.1:1080"); err == nil {
		t.Error("SOCKS5 from 10.0.2.1 (not in --socks-allow-from) was served")
	}
	some.wait(t, "refused: source not in --socks-allow-from", "from=10.0.2.1:")
	some.stop(t)

	all := startCLI(t, "-n", cli.Name, "proxy", "client", "--server", "10.0.1.2:7000", "--socks5", "--listen", "0.0.0.0:1081", "--allow-remote-socks", "--psk-file", key)
	all.wait(t, "proxy client listening")
	if err := greet("10.0.2.1", "10.0.2.1:1081"); err != nil {
		t.Errorf("SOCKS5 from 10.0.2.1 with --allow-remote-socks: %v", err)
	}
}

// TestProxyNoFileDefault: with a low soft open-file limit the proxy raises
// it to the hard limit and sizes the default --max-conns from it, so a
// default start does not warn (issue 13.5). The low hard limit is tried in
// a child process (an unprivileged-looking limit cannot be raised back).
func TestProxyNoFileDefault(t *testing.T) {
	_, srv, key := proxyPair(t)
	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &orig); err != nil {
			t.Errorf("restoring RLIMIT_NOFILE: %v", err)
		}
	})
	check := func(hard uint64, logs string) {
		t.Helper()
		want := min(4096, (hard-64)/6)
		if strings.Contains(logs, "open-file limit") || !strings.Contains(logs, fmt.Sprintf("max_conns=%d ", want)) {
			t.Errorf("hard limit %d: want max_conns=%d and no open-file warning:\n%s", hard, want, logs)
		}
	}
	// In this process: soft 1024, hard as it is.
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 1024, Max: orig.Max}); err != nil {
		t.Fatal(err)
	}
	s := startCLI(t, "-n", srv.Name, "proxy", "server", "--listen", "10.0.1.2:7000", "--psk-file", key)
	s.wait(t, "proxy server listening")
	s.stop(t)
	check(orig.Max, s.stderr.String())
	var now unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &now)
	if now.Cur != orig.Max {
		t.Errorf("soft open-file limit %d after start, want the hard limit %d", now.Cur, orig.Max)
	}

	// A child with soft 1024 and hard 4096.
	var logs syncWriter
	cmd := exec.Command("prlimit", "--nofile=1024:4096", "--", os.Args[0], "-test.run=^TestDaemonHelperProcess$", "--",
		"-n", srv.Name, "proxy", "server", "--listen", "10.0.1.2:7001", "--psk-file", key)
	cmd.Env = append(os.Environ(), "MKT_DAEMON_HELPER=1")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "proxy server listening"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("child proxy server did not start:\n%s", logs.String())
		}
	}
	check(4096, logs.String())

	// --max-conns given: used as is, and warned about when too high.
	s = startCLI(t, "-n", srv.Name, "proxy", "server", "--listen", "10.0.1.2:7009", "--psk-file", key, "--max-conns", fmt.Sprint(orig.Max/6+1))
	s.wait(t, "open-file limit", fmt.Sprintf("max_conns=%d", orig.Max/6+1))
}

// runCLIFor is runCLI, cancelled after d (a command that should have failed
// at start but serves instead).
func runCLIFor(t *testing.T, d time.Duration, args ...string) (stdout, stderr string, code int) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return runCLI(ctx, args...)
}
