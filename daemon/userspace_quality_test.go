package daemon_test

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/sockdiag"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// dropOnArrival drops a random percent of the packets arriving on dev in
// ns (nftables prerouting: `iifname DEV numgen random mod 100 < P drop`),
// as a lossy link does; the namespace's removal takes the rule away.
func dropOnArrival(t *testing.T, ns *nstest.NS, dev string, percent uint32) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(ns.FD()))
	if err != nil {
		t.Fatal(err)
	}
	tb := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "loss"})
	ch := c.AddChain(&nftables.Chain{Name: "prerouting", Table: tb, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw})
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, dev)
	limit := make([]byte, 4)
	binary.BigEndian.PutUint32(limit, percent)
	c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
		&expr.Numgen{Register: 1, Modulus: 100, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: limit},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	if err := c.Flush(); err != nil {
		t.Fatalf("nftables loss rule: %v", err)
	}
}

// TestUserspacePathSelection: with the userspace path manager, a path that
// loses 10% of its packets during a bulk transfer has its subflow marked
// backup (MP_PRIO via SET_FLAGS with the connection's token), the other
// path's subflow stays active.
func TestUserspacePathSelection(t *testing.T) {
	c, s := userspacePair(t, nstest.Paths(2, "10.88", "mk", "mk"))
	shape(t, c, "mk1", "50mbit")
	shape(t, c, "mk2", "50mbit")
	start(t, c, daemon.Config{Policy: mustPolicy(t, `version = 1
[quality]
backup_when = "loss > 2% for 1s"
restore_after = "30s"
interval = "200ms"
[[rule]]
interface = "mk*"
flags = ["subflow"]
`)})
	time.Sleep(200 * time.Millisecond) // the daemon's event socket joined (as in TestUserspacePM)

	ln := s.Listen(t, "10.88.1.2:0")
	nstest.Sink(ln)
	conn := c.Dial(t, "10.88.1.1", ln.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for ctx.Err() == nil {
			if _, err := conn.Write(buf); err != nil {
				return
			}
		}
	}()
	defer func() { cancel(); conn.Close(); <-done }()

	sd, err := sockdiag.Dial(&sockdiag.Config{NetNS: c.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	// backup returns each local address's subflow backup flag.
	backup := func() map[netip.Addr]bool {
		conns, err := sd.Connections()
		if err != nil {
			t.Fatal(err)
		}
		out := map[netip.Addr]bool{}
		for _, cn := range conns {
			for _, sf := range cn.Subflows {
				if sf.State == 1 && sf.MPTCP != nil && sf.Local.Addr() != netip.MustParseAddr("10.88.1.2") && sf.Local.Addr() != netip.MustParseAddr("10.88.2.2") {
					out[sf.Local.Addr()] = sf.MPTCP.Flags&sockdiag.FlagBackupLocal != 0
				}
			}
		}
		return out
	}
	p1, p2 := netip.MustParseAddr("10.88.1.1"), netip.MustParseAddr("10.88.2.1")
	wait := func(what string, cond func(map[netip.Addr]bool) bool) {
		t.Helper()
		deadline := time.Now().Add(8 * time.Second)
		for {
			b := backup()
			if cond(b) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: subflows' backup flags %v", what, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait("two active subflows", func(b map[netip.Addr]bool) bool { v1, ok1 := b[p1]; v2, ok2 := b[p2]; return ok1 && ok2 && !v1 && !v2 })
	time.Sleep(1500 * time.Millisecond) // a clean window: nothing changes
	if b := backup(); b[p1] || b[p2] {
		t.Fatalf("a clean path was made backup: %v", b)
	}
	dropOnArrival(t, s, "mk1", 10)
	t0 := time.Now()
	wait("path 1's subflow backup", func(b map[netip.Addr]bool) bool { return b[p1] && !b[p2] })
	t.Logf("10%% loss on path 1 -> its subflow backup after %v", time.Since(t0).Round(time.Millisecond))
}
