package lab

import (
	"fmt"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/mptcpkit/mptcpkit/netns"
)

// Impair changes path p (1-based) of a live lab: its random loss (percent,
// both directions, as Config.Loss) and its one-way delay. Loss works on
// every path. A delay change works on every path of a lab whose delay is
// made by netem (the kernel has it: the path's leaf qdisc at both ends is
// replaced by a netem with the new delay); on a kernel without netem it
// needs a path built with a delay line (a Config.Delay above zero: a router
// with the TUN delay line, whose delay may then go down to 0 and up again),
// which is told by SIGHUP and holds packets read from then on for the new
// delay. st is updated and saved.
func Impair(st *Testbed, p int, loss float64, delay time.Duration) error {
	if p < 1 || p > len(st.Paths) {
		return fmt.Errorf("lab %s has paths 1 to %d, not %d", st.Name, len(st.Paths), p)
	}
	if loss < 0 || loss > 100 {
		return fmt.Errorf("loss %g%%: want 0 to 100", loss)
	}
	path := &st.Paths[p-1]
	if delay < 0 {
		return fmt.Errorf("delay %v: want 0 or more", delay)
	}
	if delay != path.Delay && st.Delay != "netem" && (path.Router == "" || st.Delay != "tun" || st.DelayPID == 0) {
		return fmt.Errorf("path %d of lab %s has no delay line: build the lab with a delay on that path (e.g. --delay 1ms) to change it later", p, st.Name)
	}
	if loss != path.Loss && st.Loss == "netem" {
		return fmt.Errorf("lab %s makes its loss with netem, which Impair cannot change on a live lab: build the lab without --loss (loss is then added with nftables) to change it later", st.Name)
	}
	if loss > 0 && st.Loss == "" {
		// A lab built without loss: nftables makes it from now on (it
		// works on every kernel, with or without netem).
		st.Loss = "nftables"
	}
	oldDelay := path.Delay
	path.Loss, path.Delay = loss, delay
	if err := st.save(); err != nil {
		return err
	}
	if delay != oldDelay && st.Delay == "netem" {
		if err := netemDelay(st, path); err != nil {
			return err
		}
	} else if delay != oldDelay {
		if err := syscall.Kill(st.DelayPID, syscall.SIGHUP); err != nil {
			return fmt.Errorf("signal the delay line (pid %d): %w", st.DelayPID, err)
		}
	}
	client, err := netns.Open(st.Client)
	if err != nil {
		return err
	}
	defer client.Close()
	server, err := netns.Open(st.Server)
	if err != nil {
		return err
	}
	defer server.Close()
	deleteNftTable(client, st.Name)
	deleteNftTable(server, st.Name)
	return setLoss(client, server, st)
}

// netemDelay replaces path's leaf qdisc at both ends with a netem of the
// path's delay (and its netem loss, if the lab makes loss with netem).
func netemDelay(st *Testbed, path *Path) error {
	var loss float64
	if st.Loss == "netem" {
		loss = path.Loss
	}
	for _, end := range []struct{ ns, dev string }{{st.Client, path.ClientIf}, {st.Server, path.ServerIf}} {
		ns, err := netns.Open(end.ns)
		if err != nil {
			return err
		}
		err = func() error {
			defer ns.Close()
			h, err := netlink.NewHandleAt(vnetns.NsHandle(ns.FD()))
			if err != nil {
				return err
			}
			defer h.Close()
			l, err := h.LinkByName(end.dev)
			if err != nil {
				return fmt.Errorf("%s in %s: %w", end.dev, end.ns, err)
			}
			idx := l.Attrs().Index
			// Delete the leaf (pfifo or netem) and add the new netem: the
			// kernel does not change a qdisc's kind in place.
			qs, err := h.QdiscList(l)
			if err != nil {
				return err
			}
			for _, q := range qs {
				if a := q.Attrs(); a.Handle == leaf && a.Parent == htbClass {
					if err := h.QdiscDel(q); err != nil {
						return fmt.Errorf("delete the leaf qdisc of %s in %s: %w", end.dev, end.ns, err)
					}
				}
			}
			n := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: idx, Handle: leaf, Parent: htbClass},
				netlink.NetemQdiscAttrs{Latency: uint32(path.Delay / time.Microsecond), Loss: float32(loss), Limit: netemLimit(path.Rate, st.Queue, path.Delay)})
			if err := h.QdiscAdd(n); err != nil {
				return fmt.Errorf("netem delay %v on %s in %s: %w", path.Delay, end.dev, end.ns, err)
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return nil
}
