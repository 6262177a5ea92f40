package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/netns"
	"github.com/mptcpkit/mptcpkit/proxy"
	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

// captureDial wraps c.Dial to keep the MPTCP connections it makes.
func captureDial(c *proxy.Client) func() []net.Conn {
	var mu sync.Mutex
	var conns []net.Conn
	dial := c.Dial
	c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err == nil {
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
		return conn, err
	}
	return func() []net.Conn { mu.Lock(); defer mu.Unlock(); return append([]net.Conn(nil), conns...) }
}

// TestGoodputTwoPaths: a plain-TCP client and a plain-TCP server (MPTCP off
// in both) talk through client proxy → 2 × 100 Mbit paths → server proxy;
// goodput must be at least 1.8× the single-path figure (the same programs
// straight over path 1), the sha256 must match, and the proxy's MPTCP
// connection must have two subflows.
func TestGoodputTwoPaths(t *testing.T) {
	l := newLab(t, true)
	l.startServer(t, l.serverConfig(t))
	cc := l.clientConfig(t, proxy.ModeFixed)
	conns := captureDial(cc)
	l.startClient(t, cc, "127.0.0.1:6000", false)

	single := l.steadyGoodput(t, dialApp(t, l.cli, destAddr), 2500*time.Millisecond)
	t.Logf("single path, plain TCP direct: %s", mbit(single))

	// Best of up to 3 attempts: the CI machine's 2 cores are shared, and a
	// busy moment starves the two proxies more than the direct transfer.
	var proxied float64
	for attempt := 1; attempt <= 3 && proxied < 1.8*single; attempt++ {
		var got float64
		done := make(chan struct{})
		go func() {
			defer close(done)
			got = l.steadyGoodput(t, dialApp(t, l.cli, "127.0.0.1:6000"), 3500*time.Millisecond)
		}()
		time.Sleep(time.Second)
		cs := conns()
		sfs, err := mptcp.Subflows(cs[len(cs)-1])
		if err != nil {
			t.Fatal(err)
		}
		<-done
		if t.Failed() {
			return
		}
		if len(cs) != attempt {
			t.Fatalf("proxy client made %d MPTCP connections for %d application connections", len(cs), attempt)
		}
		for _, sf := range sfs {
			t.Logf("attempt %d: subflow %d %s -> %s: %d bytes acked", attempt, sf.ID, sf.Local, sf.Remote, sf.BytesAcked)
		}
		if len(sfs) != 2 {
			t.Errorf("proxy MPTCP connection has %d subflows, want 2", len(sfs))
		}
		t.Logf("attempt %d: proxied over 2 paths: %s", attempt, mbit(got))
		proxied = max(proxied, got)
	}
	ratio := proxied / single
	t.Logf("proxied over 2 paths: %s = %.2fx single path", mbit(proxied), ratio)
	if ratio < 1.8 {
		t.Errorf("proxied goodput %s is %.2fx the single-path %s, want >= 1.8x", mbit(proxied), ratio, mbit(single))
	}
}

// TestPathFailure takes path 1 (the initial subflow's) down in the middle of
// a transfer: the application's TCP connection survives and the data
// arrives intact over path 2.
func TestPathFailure(t *testing.T) {
	l := newLab(t, true)
	l.startServer(t, l.serverConfig(t))
	l.startClient(t, l.clientConfig(t, proxy.ModeFixed), "127.0.0.1:6000", false)
	c := dialApp(t, l.cli, "127.0.0.1:6000")
	go func() {
		time.Sleep(1200 * time.Millisecond)
		cmd := l.cli.Command("ip", "link", "set", "c1", "down")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("link down: %v %s", err, out)
		}
	}()
	sent, bps := upload(t, c, 0, 3500*time.Millisecond) // fails the test on any error or hash mismatch
	t.Logf("sent %d bytes with path 1 down after 1.2 s: %s average", sent, mbit(bps))
	if l.cli.Run(t, "ip", "-br", "link", "show", "c1"); !strings.Contains(l.cli.Run(t, "ip", "-br", "link", "show", "c1"), "DOWN") {
		t.Error("c1 is not down: the failure was not exercised")
	}
}

// childEnv names the namespaces for a proxy server run in a child process.
const childEnv = "MPTCPKIT_PROXY_TEST_CHILD"

// TestMain lets the test binary run a proxy server in a child process, so
// its /proc/PID/io counts only the relay's reads and writes.
func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(childMain(v))
	}
	os.Exit(m.Run())
}

func childMain(v string) int {
	role, nsName, ok := strings.Cut(v, ":")
	if !ok {
		role, nsName = "server", v
	}
	if role == "client" {
		return childClient(nsName)
	}
	return childServer(nsName)
}

// childClient runs a fixed-forward proxy client on 127.0.0.1:6000 in nsName.
func childClient(nsName string) int {
	ns, err := netns.Open(nsName)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	to, _ := handshake.ParseDestination(destAddr)
	c := &proxy.Client{
		Server: serverAddr, PSK: []byte(testKey), Mode: proxy.ModeFixed, To: to,
		MaxConns: 20000,
		Dial: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			var d net.Dialer
			d.SetMultipathTCP(true)
			err = ns.Do(func() (err error) { c, err = d.DialContext(ctx, network, addr); return err })
			return c, err
		},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = proxy.ListenTCP(context.Background(), "127.0.0.1:6000", false)
		return err
	}); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { io.Copy(io.Discard, os.Stdin); cancel() }()
	fmt.Println("ready")
	if err := c.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func childServer(nsName string) int {
	ns, err := netns.Open(nsName)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	s := &proxy.Server{
		PSK:      []byte(testKey),
		MaxConns: 20000,
		Dial: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			var d net.Dialer
			d.SetMultipathTCP(false)
			err = ns.Do(func() (err error) { c, err = d.DialContext(ctx, network, addr); return err })
			return c, err
		},
		Policy: &proxy.Policy{LocalAddrs: func() (as []netip.Addr, err error) {
			err = ns.Do(func() (err error) { as, err = proxy.InterfaceAddrs(); return err })
			return as, err
		}},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = proxy.Listen(context.Background(), serverAddr); return err }); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { io.Copy(io.Discard, os.Stdin); cancel() }() // parent closes stdin: stop
	fmt.Println("ready")
	if err := s.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestSplice checks that the relay between an MPTCP socket and a TCP socket
// really uses splice(2): a proxy server in a child process relays 64 MiB
// up and 1 MiB down, and its read counter (/proc/PID/io rchar, which counts
// read(2)/recvmsg(2) but not splice) must stay far below the bytes relayed.
func TestSplice(t *testing.T) {
	l := newLab(t, false)
	cmd := startChild(t, "server", l.srv)
	l.startClient(t, l.clientConfig(t, proxy.ModeFixed), "127.0.0.1:6000", false)
	upload(t, dialApp(t, l.cli, "127.0.0.1:6000"), 1<<20, 0) // warm up
	before := procIO(t, cmd.Process.Pid)
	sent, _ := upload(t, dialApp(t, l.cli, "127.0.0.1:6000"), 64<<20, 0)
	after := procIO(t, cmd.Process.Pid)
	relayed := sent + responseSize
	rchar, wchar := after["rchar"]-before["rchar"], after["wchar"]-before["wchar"]
	t.Logf("child proxy server relayed %d bytes: rchar +%d, wchar +%d, syscr +%d, syscw +%d",
		relayed, rchar, wchar, after["syscr"]-before["syscr"], after["syscw"]-before["syscw"])
	if rchar > 512<<10 || wchar > 512<<10 {
		t.Errorf("the proxy server read %d and wrote %d bytes through user space for %d relayed: not spliced", rchar, wchar, relayed)
	}
	// Control: the counters do see socket reads — the test process itself
	// read the 1 MiB response with read(2).
	self0 := procIO(t, os.Getpid())["rchar"]
	upload(t, dialApp(t, l.cli, "127.0.0.1:6000"), 1, 0)
	if d := procIO(t, os.Getpid())["rchar"] - self0; d < responseSize {
		t.Errorf("control: rchar grew %d bytes for a 1 MiB read(2); the measurement is blind", d)
	}
}

// procIO reads /proc/PID/io.
func procIO(t *testing.T, pid int) map[string]int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		m[k], _ = strconv.ParseInt(v, 10, 64)
	}
	return m
}

// startChild runs a proxy server or client (role) from this test binary in
// ns and returns once it listens; it stops when the test ends.
func startChild(t *testing.T, role string, ns *nstest.NS) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role+":"+ns.Name)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("child %s log:\n%s", role, stderr.String())
		}
	})
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("child %s: %q\n%s", role, line, stderr.String())
	}
	return cmd
}
