package daemon_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/mptcp"
)

// shape limits egress of dev in ns to rate with HTB (lab-notes settings).
func shape(t *testing.T, ns *nstest.NS, dev, rate string) {
	ns.Run(t, "tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10", "r2q", "100")
	ns.Run(t, "tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", rate, "ceil", rate)
}

// pathBytes returns bytes sent on the subflows from local.
func pathBytes(t *testing.T, conn net.Conn, local netip.Addr) (uint64, bool) {
	sfs, err := mptcp.Subflows(conn)
	if err != nil {
		t.Errorf("subflows: %v", err)
		return 0, false
	}
	var n uint64
	found := false
	for _, sf := range sfs {
		if sf.Local.Addr() == local {
			n += sf.BytesSent
			found = true
		}
	}
	return n, found
}

// TestFailover: carrier loss and return on the client's second path during
// a live MPTCP transfer: the daemon removes the endpoint and restores it;
// the second path carries data again within 1 s of the link's return; the
// data arrives intact.
func TestFailover(t *testing.T) {
	c, s := nstest.Pair(t, nstest.Paths(2, "10.78", "mk", "mk"))
	shape(t, c, "mk1", "100mbit")
	shape(t, c, "mk2", "100mbit")
	h := start(t, c, daemon.Config{})
	h.waitTable([]string{"10.78.1.1 subflow", "10.78.2.1 subflow"}, 2*time.Second)

	ln := s.Listen(t, "10.78.1.2:0")
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		hs := sha256.New()
		n, err := io.Copy(hs, conn)
		var r result
		copy(r.sum[:], hs.Sum(nil))
		r.n, r.err = n, err
		got <- r
	}()

	conn := c.Dial(t, "10.78.1.1", ln.Addr().String())
	if st, err := mptcp.StateOf(conn); err != nil || st != mptcp.Active {
		t.Fatalf("connection is not MPTCP: %v %v", st, err)
	}

	// Writer: 3.5 s of pseudo-random data at whatever the paths take.
	sent := sha256.New()
	var total int64
	wdone := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		buf := make([]byte, 64<<10)
		end := time.Now().Add(3500 * time.Millisecond)
		for time.Now().Before(end) {
			for i := range buf {
				buf[i] = byte(rng.Uint32())
			}
			n, err := conn.Write(buf)
			sent.Write(buf[:n])
			total += int64(n)
			if err != nil {
				wdone <- err
				return
			}
		}
		wdone <- conn.(*net.TCPConn).CloseWrite()
	}()

	p2 := netip.MustParseAddr("10.78.2.1")
	time.Sleep(700 * time.Millisecond)
	if n, ok := pathBytes(t, conn, p2); !ok || n < 64<<10 {
		t.Fatalf("second path not carrying data before the failure: %d bytes (subflow present %v)", n, ok)
	}

	setLink(t, s, "mk2", false) // the client's mk2 loses carrier
	lost := h.waitTable([]string{"10.78.1.1 subflow"}, 2*time.Second)
	// Deleting the endpoint closes its subflow: the counters seen after the
	// return are the new subflow's.
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, ok := pathBytes(t, conn, p2); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second path's subflow is still there 1 s after its endpoint went")
		}
	}
	time.Sleep(600 * time.Millisecond)
	upAt := time.Now()
	setLink(t, s, "mk2", true)
	restored := h.waitTable([]string{"10.78.1.1 subflow", "10.78.2.1 subflow"}, 2*time.Second)
	var again time.Duration
	goals := timingGoals(t)
	within := 3 * time.Second
	if !goals {
		within = 15 * time.Second // emulated: the path must come back, however slowly
	}
	for {
		if n, ok := pathBytes(t, conn, p2); ok && n >= 64<<10 {
			again = time.Since(upAt)
			break
		}
		if time.Since(upAt) > within {
			t.Fatalf("second path carries no data %v after the link returned", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("carrier loss -> endpoint removed in %v; link up -> endpoint back in %v, 64 KiB on the second path %v after link up", lost, restored, again)
	if goals && again > time.Second {
		t.Errorf("second path carried data again only %v after the link returned (want < 1 s)", again)
	}

	if err := <-wdone; err != nil {
		t.Fatalf("write: %v", err)
	}
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("server read: %v", r.err)
		}
		if r.n != total || !bytes.Equal(r.sum[:], sent.Sum(nil)) {
			t.Fatalf("server got %d bytes sha256 %x; sent %d bytes sha256 %x", r.n, r.sum, total, sent.Sum(nil))
		}
		t.Logf("transfer: %d bytes, sha256 equal at both ends", total)
	case <-time.After(15 * time.Second):
		t.Fatal("server did not finish")
	}
}
