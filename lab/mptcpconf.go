package lab

import (
	"fmt"

	"github.com/mptcpkit/mptcpkit/netns"
	"github.com/mptcpkit/mptcpkit/pm"
)

// configureMPTCP sets the in-kernel path manager's limits on both sides
// (subflows 8, add_addr_accepted 8) and adds one client "subflow" endpoint,
// bound to its device, per extra path: the kernel then opens a subflow from
// each extra path's address to the server's first address.
func configureMPTCP(client, server *netns.NetNS, st *Testbed) error {
	eight := uint32(MaxPaths)
	for _, ns := range []*netns.NetNS{client, server} {
		c, err := pm.Dial(&pm.Config{NetNS: ns.FD()})
		if err != nil {
			return fmt.Errorf("MPTCP path manager in %s: %w", ns.Name(), err)
		}
		err = c.SetLimits(pm.LimitsUpdate{Subflows: &eight, AddAddrAccepted: &eight})
		if err == nil && ns == client {
			for i := range st.Paths[1:] {
				p := &st.Paths[i+1]
				p.EndpointID = uint8(p.Index)
				if err = c.AddEndpoint(pm.Endpoint{ID: p.EndpointID, Addr: p.ClientAddr, Flags: pm.FlagSubflow, IfIndex: ifIndex(client, p.ClientIf)}); err != nil {
					err = fmt.Errorf("subflow endpoint %s dev %s: %w", p.ClientAddr, p.ClientIf, err)
					break
				}
			}
		}
		c.Close()
		if err != nil {
			return fmt.Errorf("MPTCP configuration in %s: %w", ns.Name(), err)
		}
	}
	return nil
}

func ifIndex(ns *netns.NetNS, dev string) int {
	idx := 0
	withHandle(ns.Name(), func(h *netlinkHandle) error {
		l, err := h.LinkByName(dev)
		if err == nil {
			idx = l.Attrs().Index
		}
		return err
	})
	return idx
}
