package netmon

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	mknetns "github.com/mptcpkit/mptcpkit/netns"
)

// Config configures a Netlink monitor.
type Config struct {
	// NetNS is an open file descriptor of the network namespace to watch; 0
	// means the caller's. It must stay open while the monitor runs.
	NetNS int
	// Logger gets subscription errors and resyncs; nil discards.
	Logger *slog.Logger
	// OnEvent, if set, is called with "link", "addr", "route", "carrier"
	// or "resync" for every notification (for metrics).
	OnEvent func(kind string)
	// CarrierPoll is how often link flags are polled for carrier changes
	// (default 100 ms; negative turns polling off). The kernel announces
	// carrier changes through its linkwatch worker, which delays them by
	// up to a second when links changed recently anywhere on the host; the
	// IFF_LOWER_UP flag in a link dump is current, so polling sees them at
	// once.
	CarrierPoll time.Duration
	// ReceiveBuffer is the size of each subscription socket's receive
	// buffer (default 4 MiB). When it overflows (ENOBUFS) the monitor
	// resubscribes and signals a change so the user re-reads everything.
	ReceiveBuffer int
}

// Netlink is a Monitor backed by rtnetlink subscriptions.
type Netlink struct {
	cfg     Config
	log     *slog.Logger
	ns      vnetns.NsHandle
	h       *netlink.Handle
	sysfs   bool // /sys/class/net describes this namespace
	changes chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// New starts watching. The first State call gives the initial snapshot.
func New(cfg Config) (*Netlink, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ns := vnetns.None()
	if cfg.NetNS > 0 {
		ns = vnetns.NsHandle(cfg.NetNS)
	}
	var h *netlink.Handle
	var err error
	if cfg.NetNS > 0 {
		h, err = netlink.NewHandleAt(ns)
	} else {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("netmon: rtnetlink socket: %w", err)
	}
	m := &Netlink{cfg: cfg, log: log, ns: ns, h: h, changes: make(chan struct{}, 1), stop: make(chan struct{})}
	// /sys shows the process's namespace, which is this thread's unless New
	// is called inside netns.Do (the daemon does not).
	m.sysfs = mknetns.Same(cfg.NetNS)
	sub, err := m.subscribe()
	if err != nil {
		h.Close()
		return nil, err
	}
	m.wg.Add(1)
	go m.loop(sub)
	if cfg.CarrierPoll == 0 {
		cfg.CarrierPoll = 100 * time.Millisecond
	}
	if cfg.CarrierPoll > 0 {
		var ph *netlink.Handle
		if cfg.NetNS > 0 {
			ph, err = netlink.NewHandleAt(ns)
		} else {
			ph, err = netlink.NewHandle()
		}
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("netmon: rtnetlink socket: %w", err)
		}
		// The baseline is taken now, before the user's first State call,
		// so no change after it goes unnoticed.
		last := carrierFlags(ph)
		m.wg.Add(1)
		go m.pollCarrier(ph, cfg.CarrierPoll, last)
	}
	return m, nil
}

type subscription struct {
	done   chan struct{}
	links  chan netlink.LinkUpdate
	addrs  chan netlink.AddrUpdate
	routes chan netlink.RouteUpdate
}

func (s *subscription) close() {
	close(s.done)
	// Drain until the library's readers exit (they close the channels).
	for range s.links {
	}
	for range s.addrs {
	}
	for range s.routes {
	}
}

func (m *Netlink) subscribe() (*subscription, error) {
	s := &subscription{
		done:   make(chan struct{}),
		links:  make(chan netlink.LinkUpdate, 256),
		addrs:  make(chan netlink.AddrUpdate, 256),
		routes: make(chan netlink.RouteUpdate, 256),
	}
	rcvbuf := m.cfg.ReceiveBuffer
	if rcvbuf <= 0 {
		rcvbuf = 4 << 20
	}
	onErr := func(err error) {
		select {
		case <-s.done:
			return // closing
		default:
		}
		m.log.Debug("rtnetlink subscription error; resubscribing", "err", err)
	}
	ns := m.ns
	if err := netlink.LinkSubscribeWithOptions(s.links, s.done, netlink.LinkSubscribeOptions{
		Namespace: &ns, ErrorCallback: onErr, ReceiveBufferSize: rcvbuf, ReceiveBufferForceSize: true,
	}); err != nil {
		close(s.done)
		return nil, fmt.Errorf("netmon: subscribe to links: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(s.addrs, s.done, netlink.AddrSubscribeOptions{
		Namespace: &ns, ErrorCallback: onErr, ReceiveBufferSize: rcvbuf, ReceiveBufferForceSize: true,
	}); err != nil {
		close(s.done)
		for range s.links {
		}
		return nil, fmt.Errorf("netmon: subscribe to addresses: %w", err)
	}
	if err := netlink.RouteSubscribeWithOptions(s.routes, s.done, netlink.RouteSubscribeOptions{
		Namespace: &ns, ErrorCallback: onErr, ReceiveBufferSize: rcvbuf, ReceiveBufferForceSize: true,
	}); err != nil {
		close(s.done)
		for range s.links {
		}
		for range s.addrs {
		}
		return nil, fmt.Errorf("netmon: subscribe to routes: %w", err)
	}
	return s, nil
}

func (m *Netlink) notify(kind string) {
	if m.cfg.OnEvent != nil {
		m.cfg.OnEvent(kind)
	}
	select {
	case m.changes <- struct{}{}:
	default:
	}
}

// pollCarrier dumps links every interval and signals a change when a
// link's carrier (IFF_LOWER_UP, IFF_DORMANT) or IFF_UP changed.
func (m *Netlink) pollCarrier(h *netlink.Handle, interval time.Duration, last map[int]uint32) {
	defer m.wg.Done()
	defer h.Close()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		now := carrierFlags(h)
		if now == nil {
			continue
		}
		changed := len(now) != len(last)
		for i, f := range now {
			if old, ok := last[i]; !ok || old != f {
				changed = true
			}
		}
		if changed {
			m.notify("carrier")
		}
		last = now
	}
}

// carrierFlags maps link index to its IFF_UP, IFF_LOWER_UP and IFF_DORMANT
// bits (nil on error).
func carrierFlags(h *netlink.Handle) map[int]uint32 {
	links, err := h.LinkList()
	if err != nil {
		return nil
	}
	const mask = unix.IFF_UP | unix.IFF_LOWER_UP | unix.IFF_DORMANT
	out := make(map[int]uint32, len(links))
	for _, l := range links {
		out[l.Attrs().Index] = l.Attrs().RawFlags & mask
	}
	return out
}

func (m *Netlink) loop(sub *subscription) {
	defer m.wg.Done()
	for {
		lost := false
		select {
		case <-m.stop:
			sub.close()
			return
		case _, ok := <-sub.links:
			lost = !ok
			if ok {
				m.notify("link")
			}
		case _, ok := <-sub.addrs:
			lost = !ok
			if ok {
				m.notify("addr")
			}
		case _, ok := <-sub.routes:
			lost = !ok
			if ok {
				m.notify("route")
			}
		}
		if !lost {
			continue
		}
		// A reader stopped (ENOBUFS: we fell behind). Start over and make
		// the user re-read the whole state.
		sub.close()
		for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
			var err error
			if sub, err = m.subscribe(); err == nil {
				break
			}
			m.log.Warn("rtnetlink resubscribe failed; retrying", "err", err, "in", backoff)
			select {
			case <-m.stop:
				return
			case <-time.After(backoff):
			}
		}
		m.notify("resync")
	}
}

// Changes implements Monitor.
func (m *Netlink) Changes() <-chan struct{} { return m.changes }

// Close stops the monitor and releases its sockets and goroutines.
func (m *Netlink) Close() error {
	m.once.Do(func() {
		close(m.stop)
		m.wg.Wait()
		close(m.changes)
		m.h.Close()
	})
	return nil
}

// State reads links, addresses and default routes.
func (m *Netlink) State() (*State, error) {
	links, err := m.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("netmon: list links: %w", err)
	}
	st := &State{}
	for _, l := range links {
		a := l.Attrs()
		// IFF_LOWER_UP is the carrier as of now; the oper state lags
		// behind it by up to a second (linkwatch).
		carrier := a.RawFlags&unix.IFF_LOWER_UP != 0 && a.RawFlags&unix.IFF_DORMANT == 0
		st.Links = append(st.Links, Link{
			Index:     a.Index,
			Name:      a.Name,
			Kind:      m.kind(l),
			AdminUp:   a.Flags&net.FlagUp != 0,
			Carrier:   carrier,
			OperState: a.OperState.String(),
		})
	}
	addrs, err := m.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("netmon: list addresses: %w", err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		if ip.Is4In6() || a.IP.To4() != nil {
			ip = ip.Unmap()
		}
		bits, _ := a.Mask.Size()
		st.Addrs = append(st.Addrs, Addr{Prefix: netip.PrefixFrom(ip, bits), LinkIndex: a.LinkIndex, Flags: uint32(a.Flags)})
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := m.h.RouteList(nil, fam)
		if err != nil {
			return nil, fmt.Errorf("netmon: list routes: %w", err)
		}
		for _, r := range routes {
			if r.Dst == nil || isZeroNet(r.Dst) {
				if fam == netlink.FAMILY_V4 {
					st.DefaultRoute4 = true
				} else {
					st.DefaultRoute6 = true
				}
			}
		}
	}
	st.Sort()
	return st, nil
}

func isZeroNet(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}

// kind classifies a link for policy matching.
func (m *Netlink) kind(l netlink.Link) string {
	a := l.Attrs()
	switch l.Type() {
	case "veth", "bridge", "vlan", "bond", "wireguard":
		return l.Type()
	case "tuntap":
		return "tun"
	case "device":
	default:
		if a.EncapType == "loopback" {
			return "loopback"
		}
		return "other"
	}
	switch a.EncapType {
	case "loopback":
		return "loopback"
	case "ppp":
		return "ppp"
	case "none":
		return "tun" // raw IP devices (tun, many WWAN modems)
	}
	if m.sysfs {
		if k := sysfsKind(a.Name); k != "" {
			return k
		}
	}
	if strings.HasPrefix(a.Name, "wwan") {
		return "wwan"
	}
	if a.EncapType == "ether" {
		return "ethernet"
	}
	return "other"
}

// sysfsKind reads /sys/class/net/NAME/{wireless,uevent}.
func sysfsKind(name string) string {
	dir := filepath.Join("/sys/class/net", name)
	if _, err := os.Stat(filepath.Join(dir, "wireless")); err == nil {
		return "wifi"
	}
	b, err := os.ReadFile(filepath.Join(dir, "uevent"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		switch line {
		case "DEVTYPE=wlan":
			return "wifi"
		case "DEVTYPE=wwan":
			return "wwan"
		}
	}
	return ""
}

var _ Monitor = (*Netlink)(nil)
