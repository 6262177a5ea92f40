package lab

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/netns"
)

// Handles of the shaper on every shaped device: HTB 1: with its only
// class 1:10 (the default), and the leaf 10: under it.
var (
	htbRoot  = netlink.MakeHandle(1, 0)
	htbClass = netlink.MakeHandle(1, 0x10)
	leaf     = netlink.MakeHandle(0x10, 0)
)

// shape puts `htb default 10 r2q 100`, class 1:10 `rate R ceil R` and a
// pfifo (limit queue packets) leaf on dev's egress; with delay or loss > 0
// the leaf is netem (delay, loss %, limit queue) instead.
func shape(ns *netns.NetNS, h *netlink.Handle, dev string, rate uint64, queue int, delay time.Duration, loss float64) error {
	l, err := h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("%s: %w", dev, err)
	}
	idx := l.Attrs().Index
	q := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: idx, Handle: htbRoot, Parent: netlink.HANDLE_ROOT})
	q.Rate2Quantum = 100
	q.Defcls = 0x10
	if err := h.QdiscAdd(q); err != nil {
		return fmt.Errorf("htb qdisc on %s: %w", dev, err)
	}
	c := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: idx, Parent: htbRoot, Handle: htbClass},
		netlink.HtbClassAttrs{Rate: rate, Ceil: rate})
	if err := h.ClassAdd(c); err != nil {
		return fmt.Errorf("htb class %s on %s: %w", FormatRate(rate), dev, err)
	}
	if delay > 0 || loss > 0 {
		n := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: idx, Handle: leaf, Parent: htbClass},
			netlink.NetemQdiscAttrs{Latency: uint32(delay / time.Microsecond), Loss: float32(loss), Limit: netemLimit(rate, queue, delay)})
		if err := h.QdiscAdd(n); err != nil {
			return fmt.Errorf("netem delay %v loss %g%% on %s: %w", delay, loss, dev, err)
		}
		return nil
	}
	if err := ns.Do(func() error { return addPfifo(idx, leaf, htbClass, uint32(queue)) }); err != nil {
		return fmt.Errorf("pfifo limit %d on %s: %w", queue, dev, err)
	}
	return nil
}

// addPfifo adds a pfifo qdisc with a packet limit in the calling thread's
// namespace (vishvananda/netlink has no pfifo type, so the request is
// built by hand: kind "pfifo", options struct tc_fifo_qopt{u32 limit}).
func addPfifo(ifindex int, handle, parent uint32, limit uint32) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWQDISC, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddData(&nl.TcMsg{Family: unix.AF_UNSPEC, Ifindex: int32(ifindex), Handle: handle, Parent: parent})
	req.AddData(nl.NewRtAttr(nl.TCA_KIND, nl.ZeroTerminated("pfifo")))
	opt := make([]byte, 4)
	binary.NativeEndian.PutUint32(opt, limit)
	req.AddData(nl.NewRtAttr(nl.TCA_OPTIONS, opt))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// hasNetem reports whether the kernel has the netem qdisc, by adding one
// to lo of a lab namespace and removing it again.
func hasNetem(h *netlink.Handle) bool {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return false
	}
	n := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: lo.Attrs().Index, Handle: netlink.MakeHandle(0x99, 0), Parent: netlink.HANDLE_ROOT},
		netlink.NetemQdiscAttrs{Latency: 1000})
	if err := h.QdiscAdd(n); err != nil {
		return false
	}
	h.QdiscDel(n)
	return true
}

// createTun creates a persistent TUN device (no packet info header) in the
// calling thread's namespace; the delay line attaches to it by name.
func createTun(name string) error {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("TUNSETIFF: %w", err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return fmt.Errorf("TUNSETPERSIST: %w", err)
	}
	return nil
}

// netemLimit is a netem leaf's packet limit: the queue plus the packets in
// flight during the delay at the path's rate (1000-byte packets, to be
// generous), since netem holds both in one queue.
func netemLimit(rate uint64, queue int, delay time.Duration) uint32 {
	inFlight := float64(rate) / 8 / 1000 * delay.Seconds()
	return uint32(queue) + uint32(inFlight) + 16
}
