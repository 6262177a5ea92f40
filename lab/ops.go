package lab

import (
	"fmt"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/mptcpkit/mptcpkit/netns"
)

// SetLink sets the client-side interface of path p (1-based) down or up:
// fault injection, as when a cable is pulled.
func SetLink(st *Testbed, p int, up bool) error { return SetLinkSide(st, p, false, up) }

// SetLinkSide is SetLink on the client's (server false) or the server's
// interface of path p.
func SetLinkSide(st *Testbed, p int, server, up bool) error {
	if p < 1 || p > len(st.Paths) {
		return fmt.Errorf("lab %s has paths 1 to %d, not %d", st.Name, len(st.Paths), p)
	}
	ns, dev := st.Client, st.Paths[p-1].ClientIf
	if server {
		ns, dev = st.Server, st.Paths[p-1].ServerIf
	}
	return withHandle(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(dev)
		if err != nil {
			return fmt.Errorf("path %d interface %s: %w", p, dev, err)
		}
		if up {
			return h.LinkSetUp(l)
		}
		return h.LinkSetDown(l)
	})
}

type netlinkHandle = netlink.Handle

func withHandle(nsName string, fn func(h *netlink.Handle) error) error {
	ns, err := netns.Open(nsName)
	if err != nil {
		return err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(vnetns.NsHandle(ns.FD()))
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(h)
}

// PathCounters are the bytes a path carried, counted by the client-side
// interface.
type PathCounters struct {
	Up      bool   `json:"up"`
	TxBytes uint64 `json:"tx_bytes"` // client -> server
	RxBytes uint64 `json:"rx_bytes"` // server -> client
}

// Counters reads every path's client-side interface state and byte
// counters.
func Counters(st *Testbed) ([]PathCounters, error) {
	out := make([]PathCounters, len(st.Paths))
	err := withHandle(st.Client, func(h *netlink.Handle) error {
		for i, p := range st.Paths {
			l, err := h.LinkByName(p.ClientIf)
			if err != nil {
				return fmt.Errorf("path %d interface %s: %w", p.Index, p.ClientIf, err)
			}
			a := l.Attrs()
			out[i].Up = a.Flags&0x1 != 0 // IFF_UP
			if s := a.Statistics; s != nil {
				out[i].TxBytes, out[i].RxBytes = s.TxBytes, s.RxBytes
			}
		}
		return nil
	})
	return out, err
}

// DelayLineRunning reports whether the lab's delay line process lives.
func DelayLineRunning(st *Testbed) bool {
	return st.DelayPID > 0 && isDelayLine(st.DelayPID, st.Name)
}
