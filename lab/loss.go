package lab

import (
	"fmt"
	"math"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/netns"
)

// lossModulus makes loss steps of 0.01 %: drop when
// `numgen random mod 10000 < P*100`.
const lossModulus = 10000

// setLoss installs, in each receiving namespace (client and server both
// receive), a table mptcpkit_lab_NAME with a prerouting chain that drops
// a random P % of what arrives on each lossy path's interface. Dropping at
// the receiver is what a lossy link does; a drop in the sender's output
// hook would be a local error that TCP resends at once.
func setLoss(client, server *netns.NetNS, st *Testbed) error {
	if st.Loss != "nftables" {
		return nil // no loss, or netem makes it (shape)
	}
	for _, side := range []struct {
		ns     *netns.NetNS
		server bool
	}{{client, false}, {server, true}} {
		c, err := nftables.New(nftables.WithNetNSFd(side.ns.FD()))
		if err != nil {
			return fmt.Errorf("nftables in %s: %w", side.ns.Name(), err)
		}
		t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: nftTable(st.Name)})
		ch := c.AddChain(&nftables.Chain{
			Name:     "prerouting",
			Table:    t,
			Type:     nftables.ChainTypeFilter,
			Hooknum:  nftables.ChainHookPrerouting,
			Priority: nftables.ChainPriorityRaw,
		})
		for _, p := range st.Paths {
			if p.Loss <= 0 {
				continue
			}
			dev := p.ClientIf
			if side.server {
				dev = p.ServerIf
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: lossRule(dev, p.Loss)})
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("nftables loss rules in %s: %w", side.ns.Name(), err)
		}
	}
	return nil
}

// lossRule is `iifname DEV numgen random mod 10000 < P*100 counter drop`.
func lossRule(dev string, loss float64) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(dev)},
		&expr.Numgen{Register: 1, Modulus: lossModulus, Type: unix.NFT_NG_RANDOM},
		// numgen leaves a host-order number; cmp < compares bytes, so
		// turn it big-endian first (as nft does).
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(lossThreshold(loss))},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

func lossThreshold(loss float64) uint32 {
	return uint32(math.Round(loss * lossModulus / 100))
}

func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

// Drops returns the packets the loss rules dropped so far, per receiving
// interface name (both ends of every lossy path).
func Drops(st *Testbed) (map[string]uint64, error) {
	if st.Loss == "netem" {
		return netemDrops(st)
	}
	out := map[string]uint64{}
	for _, name := range []string{st.Client, st.Server} {
		ns, err := netns.Open(name)
		if err != nil {
			return nil, err
		}
		err = func() error {
			defer ns.Close()
			c, err := nftables.New(nftables.WithNetNSFd(ns.FD()))
			if err != nil {
				return err
			}
			t := &nftables.Table{Family: nftables.TableFamilyINet, Name: nftTable(st.Name)}
			rules, err := c.GetRules(t, &nftables.Chain{Name: "prerouting", Table: t})
			if err != nil {
				return nil // no loss table: no drops
			}
			for _, r := range rules {
				var dev string
				for _, e := range r.Exprs {
					switch e := e.(type) {
					case *expr.Cmp:
						if e.Op == expr.CmpOpEq && len(e.Data) == unix.IFNAMSIZ {
							dev = unix.ByteSliceToString(e.Data)
						}
					case *expr.Counter:
						out[dev] += e.Packets
					}
				}
			}
			return nil
		}()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// deleteNftTable removes lab name's table in namespace ns, if there.
func deleteNftTable(ns *netns.NetNS, name string) {
	c, err := nftables.New(nftables.WithNetNSFd(ns.FD()))
	if err != nil {
		return
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return
	}
	for _, t := range tables {
		if t.Name == nftTable(name) {
			c.DelTable(t)
			c.Flush()
		}
	}
}

// netemDrops reads the drop counters of the netem leaves: what one end's
// egress drops is what the other end's interface does not receive, so the
// counts are keyed by the receiving interface, as nftables' are.
func netemDrops(st *Testbed) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, side := range []struct {
		ns   string
		recv func(Path) (send, recv string)
	}{
		{st.Client, func(p Path) (string, string) { return p.ClientIf, p.ServerIf }},
		{st.Server, func(p Path) (string, string) { return p.ServerIf, p.ClientIf }},
	} {
		ns, err := netns.Open(side.ns)
		if err != nil {
			return nil, err
		}
		h, err := netlink.NewHandleAt(vnetns.NsHandle(ns.FD()), unix.NETLINK_ROUTE)
		if err != nil {
			ns.Close()
			return nil, err
		}
		for _, p := range st.Paths {
			send, recv := side.recv(p)
			l, err := h.LinkByName(send)
			if err != nil {
				continue
			}
			qs, err := h.QdiscList(l)
			if err != nil {
				continue
			}
			for _, q := range qs {
				if q.Type() == "netem" && q.Attrs().Statistics != nil {
					out[recv] += uint64(q.Attrs().Statistics.Queue.Drops)
				}
			}
		}
		h.Close()
		ns.Close()
	}
	return out, nil
}
