package proxy_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/proxy"
	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

// TestHalfClose: the application shuts down its write side and still gets
// the destination's whole answer (sent after the destination saw EOF).
func TestHalfClose(t *testing.T) {
	l := newLab(t, false)
	l.startServer(t, l.serverConfig(t))
	l.startClient(t, l.clientConfig(t, proxy.ModeFixed), "127.0.0.1:6000", false)
	upload(t, dialApp(t, l.cli, "127.0.0.1:6000"), 64<<10, 0) // checks sha256 + 1 MiB after CloseWrite
}

// TestResetPropagated: a reset by the destination reaches the application
// as a reset, not as a clean end of stream.
func TestResetPropagated(t *testing.T) {
	l := newLab(t, false)
	l.startServer(t, l.serverConfig(t))
	l.startClient(t, l.clientConfig(t, proxy.ModeFixed), "127.0.0.1:6000", false)
	c := dialApp(t, l.cli, "127.0.0.1:6000")
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte{'R'})
	_, err := io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("application read after the destination reset: %v, want ECONNRESET", err)
	}
	l.waitLog(t, "side=server", "connection ended", "end=reset")
}

// TestHandshakeTimeout: a client that connects and says nothing (or too
// little) is dropped after HandshakeTimeout (slowloris).
func TestHandshakeTimeout(t *testing.T) {
	l := newLab(t, false)
	s := l.serverConfig(t)
	s.HandshakeTimeout = 300 * time.Millisecond
	l.startServer(t, s)
	for _, send := range [][]byte{nil, []byte("MKPX\x01")} {
		c := rawConn(t, l)
		c.Write(send)
		start := time.Now()
		io.ReadAll(c) // hello, then EOF when the server gives up
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("silent client kept for %v", d)
		}
	}
	l.waitLog(t, "side=server", "refused: bad handshake", "timeout")
}

// TestIdleTimeout: a relayed connection with no traffic is closed.
func TestIdleTimeout(t *testing.T) {
	l := newLab(t, false)
	s := l.serverConfig(t)
	s.IdleTimeout = 400 * time.Millisecond
	l.startServer(t, s)
	l.startClient(t, l.clientConfig(t, proxy.ModeFixed), "127.0.0.1:6000", false)
	c := dialApp(t, l.cli, "127.0.0.1:6000")
	defer c.Close()
	echo(t, c) // traffic keeps it open
	c.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read data on an idle connection")
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("idle connection closed after %v, want ~400ms-1s", d)
	}
	l.waitLog(t, "side=server", "connection ended", `end="idle timeout"`)
}

// TestMaxConns: over the limit, a client is refused at once with "busy".
func TestMaxConns(t *testing.T) {
	l := newLab(t, false)
	s := l.serverConfig(t)
	s.MaxConns = 2
	l.startServer(t, s)
	c := l.clientConfig(t, proxy.ModeFixed)
	for i := 0; i < 2; i++ {
		conn, err := c.Connect(context.Background(), c.To)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		echo(t, conn)
	}
	start := time.Now()
	_, err := c.Connect(context.Background(), c.To)
	var he *handshake.Error
	if !errors.As(err, &he) || he.Status != handshake.StatusBusy {
		t.Fatalf("third connection: %v, want %v", err, handshake.StatusBusy)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusal took %v", d)
	}
	l.waitLog(t, "side=server", "refused: connection limit reached")
}

// TestDrain: on shutdown a live connection may finish (within DrainTimeout)
// and new ones are not accepted; one still open at the deadline is reset.
func TestDrain(t *testing.T) {
	l := newLab(t, false)
	s := l.serverConfig(t)
	s.DrainTimeout = 1500 * time.Millisecond
	stop := l.startServer(t, s)
	c := l.clientConfig(t, proxy.ModeFixed)
	finishing, err := c.Connect(context.Background(), c.To)
	if err != nil {
		t.Fatal(err)
	}
	stuck, err := c.Connect(context.Background(), c.To)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	stuck.Write([]byte{'S'})
	finishing.Write([]byte{'E'})

	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- stop() }()
	time.Sleep(200 * time.Millisecond)
	// The live connection still works during the drain.
	echo(t, &prefixless{finishing})
	finishing.(*net.TCPConn).CloseWrite()
	if _, err := io.ReadAll(finishing); err != nil {
		t.Errorf("draining connection: %v", err)
	}
	// No new connections.
	if conn, err := c.Connect(context.Background(), c.To); err == nil {
		conn.Close()
		t.Error("new connection accepted while draining")
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 1400*time.Millisecond || d > 5*time.Second {
		t.Errorf("Serve returned after %v, want ~DrainTimeout (1.5s)", d)
	}
	stuck.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(stuck); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("connection open at the drain deadline: %v, want reset", err)
	}
	l.waitLog(t, "side=server", "drain timeout")
}

// prefixless sends echo()'s message without its command byte (the
// connection was already told 'E').
type prefixless struct{ net.Conn }

func (p *prefixless) Write(b []byte) (int, error) {
	if len(b) > 0 && b[0] == 'E' {
		n, err := p.Conn.Write(b[1:])
		return n + 1, err
	}
	return p.Conn.Write(b)
}

// TestGarbageAndTruncatedHandshakes sends 5 MB of random bytes and 10,000
// truncated handshakes at the server: it keeps serving a real client, its
// goroutines return to the baseline and its heap stays bounded.
func TestGarbageAndTruncatedHandshakes(t *testing.T) {
	l := newLab(t, false)
	s := l.serverConfig(t)
	s.HandshakeTimeout = time.Second
	s.Logger = s.Logger.With() // keep logging: refusals are part of the check
	l.startServer(t, s)
	c := l.clientConfig(t, proxy.ModeFixed)
	check := func() {
		conn, err := c.Connect(context.Background(), c.To)
		if err != nil {
			t.Fatalf("real client: %v", err)
		}
		echo(t, conn)
		conn.Close()
	}
	check()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	baseG := runtime.NumGoroutine()

	// The attack comes from its own address: handshakes in progress are
	// limited per source address, so a real client sharing the attacker's
	// address may be refused while the attack lasts (TestHandshakeFlood).
	l.cli.Run(t, "ip", "addr", "add", attackerIP+"/24", "dev", "c1")
	dial := dialerFrom(l.cli, attackerIP) // plain TCP: cheaper, the server handles both
	valid, _ := (&handshake.Request{Dest: c.To}).MarshalBinary()
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for i := range work {
				conn, err := dial(context.Background(), "tcp", serverAddr)
				if err != nil {
					t.Errorf("dial %d: %v", i, err)
					continue
				}
				if i < 80 { // 80 x 64 KiB = 5 MiB of random bytes
					rand.Read(buf)
					conn.Write(buf)
				} else {
					conn.Write(valid[:mrand.IntN(len(valid))])
				}
				conn.Close()
			}
		}()
	}
	start := time.Now()
	for i := 0; i < 80+10000; i++ {
		work <- i
		if i%1000 == 0 {
			check() // still serving while under attack
		}
	}
	close(work)
	wg.Wait()
	t.Logf("10,080 bad connections in %v", time.Since(start))
	check()

	// Goroutines back to the baseline (the server closes each bad
	// connection at EOF, at the latest after HandshakeTimeout).
	var g int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if g = runtime.NumGoroutine(); g <= baseG+2 {
			break
		}
	}
	if g > baseG+2 {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: %d after, %d before\n%s", g, baseG, buf[:runtime.Stack(buf, true)])
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("HeapInuse before %d KiB, after %d KiB", before.HeapInuse>>10, after.HeapInuse>>10)
	if after.HeapInuse > before.HeapInuse+32<<20 {
		t.Errorf("HeapInuse grew from %d to %d bytes", before.HeapInuse, after.HeapInuse)
	}
	l.waitLog(t, "side=server", "refused: bad handshake", "bad magic")
}
