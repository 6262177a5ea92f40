package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/mptcpkit/mptcpkit/pm"
	"github.com/mptcpkit/mptcpkit/policy"
)

// changeable are the flags the kernel can change in place (SET_FLAGS).
const changeable = pm.FlagBackup | pm.FlagFullmesh

func (d *daemon) reconcile(us *userspacePM) {
	start := time.Now()
	d.metrics.reconciles.Inc()
	st, err := d.mon.State()
	if err != nil {
		d.fail("read network state", err)
		return
	}
	ds := plan(d.pol, st, d.avoid)
	now := time.Now()
	for _, ev := range d.flaps.observe(st, d.pol.Damping, now) {
		d.log.Warn("link is flapping; its endpoints wait out a hold-down", "detail", ev, "policy", "[damping]")
	}
	d.flaps.apply(ds, d.pol.Damping, now)
	d.links = map[netip.Addr]string{}
	d.polBkup = map[netip.Addr]bool{}
	for _, x := range ds {
		d.links[x.Addr] = x.Link
		if x.In && x.flags&pm.FlagBackup != 0 {
			d.polBkup[x.Addr] = true
		}
	}
	for addr, why := range d.quality.demoted() {
		for i := range ds {
			if ds[i].Addr != addr || ds[i].flags&pm.FlagBackup != 0 {
				continue
			}
			if !ds[i].In {
				continue
			}
			ds[i].flags |= pm.FlagBackup
			ds[i].Flags = ds[i].flags.String()
			ds[i].Reason += "; backup by path selection: " + why
		}
	}

	if d.log.Enabled(context.Background(), slog.LevelDebug) {
		var in []string
		for _, x := range ds {
			if x.In {
				in = append(in, x.Addr.String())
			}
		}
		d.log.Debug("reconcile", "links", len(st.Links), "addresses", len(st.Addrs), "wanted", strings.Join(in, " "))
	}
	var limits *pm.Limits
	if us != nil {
		us.update(ds)
		d.lastErr = ""
	} else {
		err = d.apply(ds)
		if err != nil {
			d.fail("reconcile endpoints", err)
		} else {
			d.lastErr = ""
		}
		if l, err := d.pm.Limits(); err == nil {
			limits = &l
		}
	}
	s := d.saveState(ds, limits)
	d.metrics.reconcileSeconds.Observe(time.Since(start).Seconds())
	if d.cfg.OnReconcile != nil {
		d.cfg.OnReconcile(s)
	}
}

func (d *daemon) fail(what string, err error) {
	d.metrics.reconcileErrors.Inc()
	d.lastErr = what + ": " + err.Error()
	d.log.Error(what, "err", err)
}

// apply makes the kernel's table match the decisions (marking as out the
// ones that do not fit) and sets limits when the policy says so.
func (d *daemon) apply(ds []Decision) error {
	kernel, err := d.pm.Endpoints()
	if err != nil {
		return fmt.Errorf("list endpoints: %w", err)
	}
	byAddr := map[netip.Addr]pm.Endpoint{}
	for _, k := range kernel {
		byAddr[k.Addr] = k
	}
	// Forget what we owned but is gone or was changed by someone else.
	for addr, o := range d.owned {
		k, ok := byAddr[addr]
		if !ok || k.Flags&^pm.FlagImplicit != o.flags {
			d.log.Debug("owned endpoint gone or changed by someone else; forgetting it", "address", addr, "flags", o.Flags)
			delete(d.owned, addr)
			continue
		}
		o.ID = k.ID
	}
	want := map[netip.Addr]*Decision{}
	for i := range ds {
		if ds[i].In {
			want[ds[i].Addr] = &ds[i]
		}
	}
	var errs []error
	del := func(id uint8, addr netip.Addr, why string) bool {
		if err := d.pm.DeleteEndpoint(id, addr); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("delete endpoint %s (id %d): %w", addr, id, err))
			return false
		}
		d.metrics.changes.WithLabelValues("delete").Inc()
		d.log.Info("endpoint removed", "address", addr, "id", id, "why", why)
		delete(byAddr, addr)
		delete(d.owned, addr)
		return true
	}
	// 1. Owned endpoints the policy no longer wants, or wants differently
	//    in a way SET_FLAGS cannot change.
	for _, o := range d.sortedOwned() {
		w, ok := want[o.Addr]
		switch {
		case !ok:
			del(o.ID, o.Addr, d.whyOut(ds, o.Addr))
		case (w.flags^o.flags)&^changeable != 0:
			del(o.ID, o.Addr, fmt.Sprintf("flags change %s -> %s needs a new endpoint", o.flags, w.flags))
		case w.ifIndex != o.IfIndex:
			del(o.ID, o.Addr, "address moved to another interface")
		}
	}
	// owner = all: foreign endpoints the policy does not want go too.
	if d.pol.Owner == policy.OwnerAll {
		for addr, k := range byAddr {
			if _, mine := d.owned[addr]; mine {
				continue
			}
			if w, ok := want[addr]; ok && k.Flags&^pm.FlagImplicit == w.flags && k.IfIndex == w.ifIndex {
				// Adopt it as it is.
				d.owned[addr] = &OwnedEndpoint{ID: k.ID, Addr: addr, Flags: w.flags.String(), flags: w.flags, IfIndex: k.IfIndex, Link: w.Link}
				continue
			}
			del(k.ID, addr, "owner = all and the policy does not want it as it is")
		}
	}
	// 2. Choose, in rule order, what fits next to the foreign endpoints.
	// Implicit endpoints (made by the kernel for addresses that carried a
	// subflow) are replaced by an add for the same address, so one at a
	// wanted address takes no extra slot.
	foreign := 0
	for addr, k := range byAddr {
		if _, mine := d.owned[addr]; !mine {
			if _, wanted := want[addr]; wanted && k.Flags&pm.FlagImplicit != 0 {
				continue
			}
			foreign++
		}
	}
	slots := pm.MaxEndpoints - foreign
	used := 0
	var leftOut []string
	for i := range ds {
		w := &ds[i]
		if !w.In {
			continue
		}
		if k, ok := byAddr[w.Addr]; ok && k.Flags&pm.FlagImplicit == 0 {
			if _, mine := d.owned[w.Addr]; !mine {
				if _, bad := d.quality.demoted()[w.Addr]; bad && d.pol.Quality.Enabled() {
					d.log.Warn("path selection cannot make this path backup: its endpoint was added by someone else", "address", w.Addr, "endpoint", k.ID,
						"fix", `set owner = "all" in the policy to let the daemon manage it`)
				}
				w.In = false
				w.Reason = fmt.Sprintf("already has endpoint id %d (%s) added by someone else; left alone (owner = created)", k.ID, k.Flags)
				continue
			}
		}
		if used >= slots {
			w.In = false
			w.Reason = fmt.Sprintf("left out: the kernel holds at most %d endpoints (%d foreign, %d for addresses earlier in rule order)", pm.MaxEndpoints, foreign, used)
			leftOut = append(leftOut, fmt.Sprintf("%s (%s, rule %s)", w.Addr, w.Link, w.Rule))
			if o, mine := d.owned[w.Addr]; mine {
				del(o.ID, o.Addr, "no slot left for it")
			}
			continue
		}
		used++
	}
	if msg := strings.Join(leftOut, ", "); msg != d.leftOut {
		d.leftOut = msg
		if msg != "" {
			d.log.Warn(fmt.Sprintf("more addresses qualify than the kernel's %d endpoint slots; chose by rule order", pm.MaxEndpoints),
				"left_out", msg, "foreign_endpoints", foreign, "fix", "add ignore rules for interfaces that need no endpoint, or order rules by preference")
		}
	}
	// 3. Add what is missing, fix flags of what is there.
	added := false
	for i := range ds {
		w := &ds[i]
		if !w.In {
			continue
		}
		if o, mine := d.owned[w.Addr]; mine {
			if o.flags != w.flags {
				// The kernel's entry may carry a port (an adopted endpoint):
				// it is found by address only together with it.
				sel := pm.Endpoint{ID: o.ID, Addr: o.Addr, Port: byAddr[o.Addr].Port}
				if err := d.pm.ChangeEndpoint(sel, w.flags&changeable); err != nil {
					errs = append(errs, fmt.Errorf("change flags of %s to %s: %w", o.Addr, w.flags, err))
					continue
				}
				d.metrics.changes.WithLabelValues("change").Inc()
				d.log.Info("endpoint flags changed", "address", o.Addr, "from", o.flags, "to", w.flags)
				o.flags, o.Flags = w.flags, w.flags.String()
			}
			continue
		}
		e := pm.Endpoint{Addr: w.Addr, Flags: w.flags, IfIndex: w.ifIndex}
		if err := d.pm.AddEndpoint(e); err != nil {
			if errors.Is(err, syscall.ERANGE) {
				err = fmt.Errorf("the kernel's endpoint table is full (%d endpoints): %w", pm.MaxEndpoints, err)
			}
			errs = append(errs, fmt.Errorf("add endpoint %s dev %s %s: %w", w.Addr, w.Link, w.flags, err))
			w.In = false
			w.Reason = "add failed: " + err.Error()
			continue
		}
		d.metrics.changes.WithLabelValues("add").Inc()
		d.log.Info("endpoint added", "address", w.Addr, "dev", w.Link, "flags", w.flags, "rule", w.Rule)
		d.owned[w.Addr] = &OwnedEndpoint{Addr: w.Addr, Flags: w.flags.String(), flags: w.flags, IfIndex: w.ifIndex, Link: w.Link}
		added = true
	}
	kernel, err = d.pm.Endpoints()
	if err != nil {
		errs = append(errs, fmt.Errorf("list endpoints: %w", err))
	} else {
		if added {
			for _, k := range kernel {
				if o, ok := d.owned[k.Addr]; ok {
					o.ID = k.ID
				}
			}
		}
		d.metrics.setEndpoints(kernel, len(d.owned))
		d.kernel = d.kernel[:0]
		for _, k := range kernel {
			_, mine := d.owned[k.Addr]
			d.kernel = append(d.kernel, KernelEndpoint{ID: k.ID, Addr: k.Addr, Flags: k.Flags.String(), IfIndex: k.IfIndex, Ours: mine})
		}
		if err := d.applyLimits(kernel); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *daemon) whyOut(ds []Decision, addr netip.Addr) string {
	for _, x := range ds {
		if x.Addr == addr {
			return x.Reason
		}
	}
	return "address is gone"
}

// applyLimits sets the limits the policy asks for. auto raises a limit to
// the number of subflow endpoints (at most 8) and never lowers it.
func (d *daemon) applyLimits(kernel []pm.Endpoint) error {
	lp := d.pol.Limits
	if !lp.Subflows.Set && !lp.AddAddrAccepted.Set {
		return nil
	}
	cur, err := d.pm.Limits()
	if err != nil {
		return fmt.Errorf("read limits: %w", err)
	}
	n := uint32(0)
	for _, k := range kernel {
		if k.Flags&pm.FlagSubflow != 0 {
			n++
		}
	}
	n = min(n, pm.MaxEndpoints)
	var u pm.LimitsUpdate
	target := func(l policy.Limit, cur uint32) *uint32 {
		switch {
		case !l.Set:
			return nil
		case l.Auto:
			if cur < n {
				return &n
			}
			return nil
		case l.Value != cur:
			v := l.Value
			return &v
		}
		return nil
	}
	u.Subflows = target(lp.Subflows, cur.Subflows)
	u.AddAddrAccepted = target(lp.AddAddrAccepted, cur.AddAddrAccepted)
	if u.Subflows == nil && u.AddAddrAccepted == nil {
		return nil
	}
	if err := d.pm.SetLimits(u); err != nil {
		return fmt.Errorf("set limits: %w", err)
	}
	d.log.Info("limits set", "subflows", show(u.Subflows, cur.Subflows), "add_addr_accepted", show(u.AddAddrAccepted, cur.AddAddrAccepted))
	return nil
}

func show(p *uint32, cur uint32) string {
	if p == nil {
		return fmt.Sprintf("%d (unchanged)", cur)
	}
	return fmt.Sprintf("%d (was %d)", *p, cur)
}
