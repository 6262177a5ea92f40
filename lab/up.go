package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/mptcpkit/mptcpkit/netns"
)

// ErrExists is returned by Up when a lab of that name exists already.
var ErrExists = errors.New("lab exists")

// Up builds the lab cfg describes and returns its state. If anything fails
// or ctx is cancelled on the way, Up removes whatever it made (as Down
// does) before it returns the error.
func Up(ctx context.Context, cfg Config) (st *Testbed, err error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if left := leftovers(cfg.Name); len(left) > 0 {
		return nil, fmt.Errorf("%w: %w", &ExistsError{Name: cfg.Name, Objects: left}, ErrExists)
	}
	defer func() {
		if err != nil {
			log.Debug("lab up failed, removing what it made", "lab", cfg.Name, "err", err)
			if derr := Down(cfg.Name, log); derr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up: %w", derr))
			}
		}
	}()
	step := func(what string) error {
		log.Debug("lab up", "lab", cfg.Name, "step", what)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("lab up interrupted before %s: %w", what, err)
		}
		return nil
	}

	st = &Testbed{
		Name:    cfg.Name,
		Number:  freeNumber(cfg.Name),
		Created: time.Now().UTC().Truncate(time.Second),
		// Who made it: `lab down --all` leaves other users' labs alone.
		CreatorUID: CallerUID(),
		Creator:    callerName(CallerUID()),
		Client:     clientNS(cfg.Name),
		Server:     serverNS(cfg.Name),
		Queue:      cfg.Queue,
		CC:         cfg.CC,
	}
	// A state file from the start: should this process die half-way, Down
	// still finds the lab (it also finds it by name without one).
	if err := st.save(); err != nil {
		return nil, fmt.Errorf("write lab state: %w", err)
	}

	if err := step("namespaces"); err != nil {
		return nil, err
	}
	b := &builder{st: st, log: log}
	defer b.close()
	if b.client, b.ch, err = newNS(st.Client); err != nil {
		return nil, err
	}
	if b.server, b.sh, err = newNS(st.Server); err != nil {
		return nil, err
	}

	if cfg.CC != "" {
		if err := step("congestion control"); err != nil {
			return nil, err
		}
		widened, err := allowCC(cfg.CC)
		if err != nil {
			return nil, err
		}
		st.HostAllowedCC = widened
		if err := st.save(); err != nil {
			return nil, err
		}
	}
	for _, ns := range []*netns.NetNS{b.client, b.server} {
		if err := nsSysctls(ns, cfg.CC, false); err != nil {
			return nil, err
		}
	}
	st.CCEffect, _ = readSysctl(b.client, "net.ipv4.tcp_congestion_control")

	needDelay := false
	for _, d := range cfg.Delay {
		needDelay = needDelay || d > 0
	}
	needLoss := false
	for _, l := range cfg.Loss {
		needLoss = needLoss || l > 0
	}
	netem := false
	if needDelay || needLoss {
		netem = hasNetem(b.ch)
	}
	if needLoss {
		st.Loss = "nftables"
		if netem {
			st.Loss = "netem"
		}
	}
	if needDelay {
		if netem {
			st.Delay = "netem"
		} else {
			st.Delay = "tun"
			st.DelayNote = fmt.Sprintf("TUN delay line in user space (no netem in this kernel): each delayed packet crosses user space twice; ceiling ~%s per path on 2 cores, costs CPU, constant delay, no jitter, drops beyond %d queued packets per direction",
				FormatRate(DelayLineCeiling), DelayLineQueue)
		}
	}

	for i := 0; i < cfg.Paths; i++ {
		p := i + 1
		if err := step(fmt.Sprintf("path %d", p)); err != nil {
			return nil, err
		}
		path := Path{
			Index:      p,
			ClientIf:   clientIf(cfg.Name, p),
			ServerIf:   serverIf(cfg.Name, p),
			ClientAddr: addr4(st.Number, p, 1),
			ServerAddr: addr4(st.Number, p, 2),
			Rate:       cfg.Rate[i],
			Loss:       cfg.Loss[i],
			Delay:      cfg.Delay[i],
		}
		if path.Delay > 0 && !netem {
			path.Router = routerNS(cfg.Name, p)
			path.ServerAddr = addr4(st.Number, 100+p, 2)
		}
		st.Paths = append(st.Paths, path)
		if err := st.save(); err != nil {
			return nil, err
		}
		if err := b.path(&st.Paths[i], netem); err != nil {
			return nil, fmt.Errorf("lab path %d: %w", p, err)
		}
	}

	if err := step("routes"); err != nil {
		return nil, err
	}
	if err := b.sourceRoutes(); err != nil {
		return nil, err
	}
	if cfg.Dest {
		if err := step("destination host"); err != nil {
			return nil, err
		}
		if err := b.dest(); err != nil {
			return nil, fmt.Errorf("lab destination host: %w", err)
		}
	}
	if err := step("loss"); err != nil {
		return nil, err
	}
	if err := setLoss(b.client, b.server, st); err != nil {
		return nil, err
	}
	if err := step("MPTCP endpoints"); err != nil {
		return nil, err
	}
	if err := configureMPTCP(b.client, b.server, st); err != nil {
		return nil, err
	}
	if st.Delay == "tun" {
		if err := step("delay line"); err != nil {
			return nil, err
		}
		pid, err := startDelayLine(ctx, cfg.Executable, st)
		if err != nil {
			return nil, err
		}
		st.DelayPID = pid
	}
	if err := st.save(); err != nil {
		return nil, err
	}
	log.Debug("lab up", "lab", st.Name, "paths", len(st.Paths))
	return st, nil
}

func addr4(l, p, h int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(l), byte(p), byte(h)}) }

// leftovers lists what exists of lab name.
func leftovers(name string) []string {
	var out []string
	if _, err := os.Stat(statePath(name)); err == nil {
		out = append(out, statePath(name))
	}
	for _, n := range labNamespaces(name) {
		out = append(out, "namespace "+n)
	}
	for _, pid := range delayLinePIDs(name) {
		out = append(out, fmt.Sprintf("delay line pid %d", pid))
	}
	return out
}

// labNamespaces lists the existing namespaces of lab name.
func labNamespaces(name string) []string {
	all, _ := netns.List()
	want := map[string]bool{clientNS(name): true, serverNS(name): true, destNS(name): true}
	for p := 1; p <= MaxPaths; p++ {
		want[routerNS(name, p)] = true
	}
	var out []string
	for _, n := range all {
		if want[n] {
			out = append(out, n)
		}
	}
	return out
}

type builder struct {
	st             *Testbed
	log            *slog.Logger
	client, server *netns.NetNS
	ch, sh         *netlink.Handle
}

func (b *builder) close() {
	for _, h := range []*netlink.Handle{b.ch, b.sh} {
		if h != nil {
			h.Close()
		}
	}
	for _, n := range []*netns.NetNS{b.client, b.server} {
		if n != nil {
			n.Close()
		}
	}
}

// newNS creates a namespace with lo up and returns it with a handle.
func newNS(name string) (*netns.NetNS, *netlink.Handle, error) {
	n, err := netns.Create(name)
	if err != nil {
		return nil, nil, err
	}
	h, err := netlink.NewHandleAt(vnetns.NsHandle(n.FD()))
	if err != nil {
		n.Close()
		return nil, nil, fmt.Errorf("netlink in %s: %w", name, err)
	}
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		h.Close()
		n.Close()
		return nil, nil, fmt.Errorf("lo up in %s: %w", name, err)
	}
	return n, h, nil
}

func writeSysctl(ns *netns.NetNS, key, value string) error {
	p := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	err := ns.Do(func() error { return os.WriteFile(p, []byte(value), 0o644) })
	if err != nil {
		return fmt.Errorf("sysctl %s=%s in %s: %w", key, value, ns.Name(), err)
	}
	return nil
}

func readSysctl(ns *netns.NetNS, key string) (string, error) {
	p := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	var b []byte
	err := ns.Do(func() (err error) { b, err = os.ReadFile(p); return err })
	return strings.TrimSpace(string(b)), err
}

// nsSysctls sets what every lab namespace needs.
func nsSysctls(ns *netns.NetNS, cc string, router bool) error {
	kv := [][2]string{
		{"net.ipv4.conf.all.rp_filter", "0"},
		{"net.ipv4.conf.default.rp_filter", "0"},
	}
	if router {
		kv = append(kv, [2]string{"net.ipv4.ip_forward", "1"})
	} else {
		kv = append(kv, [2]string{"net.mptcp.enabled", "1"})
	}
	if cc != "" && !router {
		kv = append(kv, [2]string{"net.ipv4.tcp_congestion_control", cc})
	}
	for _, e := range kv {
		if err := writeSysctl(ns, e[0], e[1]); err != nil {
			if e[0] == "net.ipv4.tcp_congestion_control" {
				return fmt.Errorf("congestion control %q is not usable here (available: %s): %w", cc, hostSysctl("net.ipv4.tcp_available_congestion_control"), err)
			}
			return err
		}
	}
	return nil
}

func hostSysctl(key string) string {
	b, _ := os.ReadFile(filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/")))
	return strings.TrimSpace(string(b))
}

// path builds one path: veths (through a router namespace for a TUN delay
// line), addresses, shaping.
func (b *builder) path(p *Path, netem bool) error {
	name := b.st.Name
	L := b.st.Number
	if p.Router == "" {
		if err := veth(b.ch, p.ClientIf, b.sh, p.ServerIf, b.server); err != nil {
			return err
		}
		if err := addrUp(b.ch, p.ClientIf, p.ClientAddr); err != nil {
			return err
		}
		if err := addrUp(b.sh, p.ServerIf, p.ServerAddr); err != nil {
			return err
		}
	} else {
		rns, rh, err := newNS(p.Router)
		if err != nil {
			return err
		}
		defer rns.Close()
		defer rh.Close()
		if err := nsSysctls(rns, "", true); err != nil {
			return err
		}
		xIf, yIf := routerCIf(name, p.Index), routerSIf(name, p.Index)
		if err := veth(b.ch, p.ClientIf, rh, xIf, rns); err != nil {
			return err
		}
		if err := veth(rh, yIf, b.sh, p.ServerIf, b.server); err != nil {
			return err
		}
		rc, rs := addr4(L, p.Index, 254), addr4(L, 100+p.Index, 254)
		for _, a := range []struct {
			h    *netlink.Handle
			dev  string
			addr netip.Addr
		}{{b.ch, p.ClientIf, p.ClientAddr}, {rh, xIf, rc}, {rh, yIf, rs}, {b.sh, p.ServerIf, p.ServerAddr}} {
			if err := addrUp(a.h, a.dev, a.addr); err != nil {
				return err
			}
		}
		// Client and server reach each other's side of this path via the router.
		if err := route(b.ch, p.ClientIf, netip.PrefixFrom(addr4(L, 100+p.Index, 0), 24), rc, 0); err != nil {
			return err
		}
		if err := route(b.sh, p.ServerIf, netip.PrefixFrom(addr4(L, p.Index, 0), 24), rs, 0); err != nil {
			return err
		}
		if err := b.router(rns, rh, p, xIf, yIf); err != nil {
			return err
		}
	}
	// Shape both directions at the two ends.
	for _, e := range []struct {
		ns  *netns.NetNS
		h   *netlink.Handle
		dev string
	}{{b.client, b.ch, p.ClientIf}, {b.server, b.sh, p.ServerIf}} {
		var delay time.Duration
		var loss float64
		if netem {
			delay = p.Delay
		}
		if b.st.Loss == "netem" {
			loss = p.Loss
		}
		if err := shape(e.ns, e.h, e.dev, p.Rate, b.st.Queue, delay, loss); err != nil {
			return err
		}
	}
	return nil
}

// router sets up a router namespace: packets arriving from either side go
// into a TUN device (one per direction), the delay line holds them and
// writes them back, and normal forwarding takes them on.
func (b *builder) router(rns *netns.NetNS, rh *netlink.Handle, p *Path, xIf, yIf string) error {
	name := b.st.Name
	for i, dir := range []struct {
		tun string
		iif string
	}{{tunIf(name, p.Index, true), xIf}, {tunIf(name, p.Index, false), yIf}} {
		if err := rns.Do(func() error { return createTun(dir.tun) }); err != nil {
			return fmt.Errorf("TUN device %s in %s: %w", dir.tun, rns.Name(), err)
		}
		l, err := rh.LinkByName(dir.tun)
		if err != nil {
			return err
		}
		if err := rh.LinkSetUp(l); err != nil {
			return err
		}
		table := 10 + i
		r := netlink.NewRule()
		r.IifName = dir.iif
		r.Table = table
		r.Priority = 100 + i
		r.Family = netlink.FAMILY_V4
		if err := rh.RuleAdd(r); err != nil {
			return fmt.Errorf("rule iif %s lookup %d in %s: %w", dir.iif, table, rns.Name(), err)
		}
		if err := rh.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipnet(netip.MustParsePrefix("0.0.0.0/0")), Table: table, Scope: netlink.SCOPE_LINK}); err != nil {
			return fmt.Errorf("route to %s in %s: %w", dir.tun, rns.Name(), err)
		}
	}
	// Extra subflows go to the server's first address: route it to the server.
	s1 := b.st.Paths[0].ServerAddr
	if p.Index != 1 {
		if err := route(rh, yIf, netip.PrefixFrom(s1, 32), p.ServerAddr, 0); err != nil {
			return err
		}
	}
	return nil
}

// sourceRoutes sends traffic from each extra path's client address out
// through that path (to the server's first address, where the kernel
// path manager opens the extra subflows).
func (b *builder) sourceRoutes() error {
	s1 := b.st.Paths[0].ServerAddr
	for _, p := range b.st.Paths[1:] {
		gw := p.ServerAddr
		if p.Router != "" {
			gw = addr4(b.st.Number, p.Index, 254)
		}
		table := 100 + p.Index
		if err := route(b.ch, p.ClientIf, netip.PrefixFrom(s1, 32), gw, table); err != nil {
			return err
		}
		r := netlink.NewRule()
		r.Src = ipnet(netip.PrefixFrom(p.ClientAddr, 32))
		r.Table = table
		r.Priority = 1000 + p.Index
		r.Family = netlink.FAMILY_V4
		if err := b.ch.RuleAdd(r); err != nil {
			return fmt.Errorf("rule from %s lookup %d: %w", p.ClientAddr, table, err)
		}
	}
	return nil
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func veth(h *netlink.Handle, a string, peerH *netlink.Handle, b string, peerNS *netns.NetNS) error {
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b, PeerNamespace: netlink.NsFd(peerNS.FD())}
	if err := h.LinkAdd(v); err != nil {
		return fmt.Errorf("veth %s/%s: %w", a, b, err)
	}
	return nil
}

func addrUp(h *netlink.Handle, dev string, a netip.Addr) error {
	l, err := h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("%s: %w", dev, err)
	}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipnet(netip.PrefixFrom(a, 24))}); err != nil {
		return fmt.Errorf("address %s on %s: %w", a, dev, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s up: %w", dev, err)
	}
	return nil
}

func route(h *netlink.Handle, dev string, dst netip.Prefix, gw netip.Addr, table int) error {
	l, err := h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("%s: %w", dev, err)
	}
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipnet(dst), Gw: gw.AsSlice(), Table: table}
	if err := h.RouteAdd(r); err != nil {
		return fmt.Errorf("route %s via %s dev %s table %d: %w", dst, gw, dev, table, err)
	}
	return nil
}

// dest adds the destination host (Config.Dest): namespace mk-NAME-dest with
// 10.L.200.2, on a veth to the server's 10.L.200.1, default route via the
// server.
func (b *builder) dest() error {
	name, L := b.st.Name, b.st.Number
	dns, dh, err := newNS(destNS(name))
	if err != nil {
		return err
	}
	defer dns.Close()
	defer dh.Close()
	b.st.Dest = destNS(name)
	b.st.DestGateway, b.st.DestAddr = addr4(L, 200, 1), addr4(L, 200, 2)
	if err := b.st.save(); err != nil {
		return err
	}
	sIf, dIf := fmt.Sprintf("mk%sd", name), fmt.Sprintf("mk%se", name)
	if err := veth(b.sh, sIf, dh, dIf, dns); err != nil {
		return err
	}
	if err := addrUp(b.sh, sIf, b.st.DestGateway); err != nil {
		return err
	}
	if err := addrUp(dh, dIf, b.st.DestAddr); err != nil {
		return err
	}
	return route(dh, dIf, netip.MustParsePrefix("0.0.0.0/0"), b.st.DestGateway, 0)
}
