package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/mptcpkit/mptcpkit/pm"
	"github.com/mptcpkit/mptcpkit/policy"
)

// userspacePM is the userspace path manager (net.mptcp.path_manager =
// userspace): for every connection this host opens it creates one subflow
// per allowed local address towards the peer, marks backups per policy,
// removes the subflow when its address goes out and re-creates it when the
// address returns.
type userspacePM struct {
	d     *daemon
	mu    sync.Mutex
	addrs []Decision // allowed addresses (In), rule order
	ids   map[netip.Addr]uint8
	conns map[uint32]*usConn
}

type usConn struct {
	token    uint32
	local    netip.AddrPort // initial subflow
	remote   netip.AddrPort
	est      bool
	subflows map[netip.Addr]netip.AddrPort // local address -> local address and port (port 0: being created)
}

func newUserspacePM(d *daemon) *userspacePM {
	return &userspacePM{d: d, ids: map[netip.Addr]uint8{}, conns: map[uint32]*usConn{}}
}

func (u *userspacePM) run(ctx context.Context) {
	if u.d.pmClient == nil {
		u.d.log.Error("userspace path manager needs the kernel's mptcp_pm netlink family")
		return
	}
	u.d.log.Info("userspace path manager: creating subflows per connection (net.mptcp.path_manager=userspace)")
	u.adopt()
	u.d.watchEvents(ctx, u.event, func() {
		// Events were lost: forget what we knew (CLOSED may have been
		// lost too) and learn the open connections again.
		u.mu.Lock()
		u.conns = map[uint32]*usConn{}
		u.mu.Unlock()
		u.adopt()
	})
}

// update takes the reconciler's decisions: the allowed addresses changed.
func (u *userspacePM) update(ds []Decision) {
	var allowed []Decision
	u.mu.Lock()
	for _, x := range ds {
		if x.In {
			allowed = append(allowed, x)
			if _, ok := u.ids[x.Addr]; !ok {
				u.ids[x.Addr] = uint8(len(u.ids)%254 + 1)
			}
		}
	}
	u.addrs = allowed
	conns := make([]*usConn, 0, len(u.conns))
	for _, c := range u.conns {
		conns = append(conns, c)
	}
	u.mu.Unlock()
	for _, c := range conns {
		u.sync(c)
	}
}

func (u *userspacePM) event(ev pm.Event) {
	u.d.log.Debug("path-manager event", "type", ev.Type, tokenAttr(ev.Token), "local", ev.Local, "remote", ev.Remote, "server_side", ev.ServerSide, "flags", ev.Flags)
	switch ev.Type {
	case pm.EventCreated, pm.EventEstablished:
		if ev.ServerSide || ev.Flags&pm.EventFlagServerSide != 0 {
			return // the client opens subflows; we are the server here
		}
		u.mu.Lock()
		c := u.conns[ev.Token]
		if c == nil {
			c = &usConn{token: ev.Token, subflows: map[netip.Addr]netip.AddrPort{}}
			u.conns[ev.Token] = c
		}
		c.local, c.remote = ev.Local, ev.Remote
		c.subflows[ev.Local.Addr()] = ev.Local
		if ev.Type == pm.EventEstablished {
			c.est = true
		}
		u.mu.Unlock()
		if ev.Type == pm.EventEstablished {
			u.sync(c)
		}
	case pm.EventClosed:
		u.mu.Lock()
		delete(u.conns, ev.Token)
		u.mu.Unlock()
	case pm.EventSubEstablished:
		// Backup comes from SUBFLOW_CREATE's local flags (the MP_JOIN
		// backup bit); ev.Backup is the peer's view.
		u.mu.Lock()
		if c := u.conns[ev.Token]; c != nil {
			c.subflows[ev.Local.Addr()] = ev.Local
		}
		u.mu.Unlock()
	case pm.EventSubClosed:
		u.mu.Lock()
		if c := u.conns[ev.Token]; c != nil && ev.Local.Addr() != c.local.Addr() {
			delete(c.subflows, ev.Local.Addr())
		}
		u.mu.Unlock()
	}
}

// sync creates the subflows a connection lacks and destroys those whose
// address is no longer allowed.
func (u *userspacePM) sync(c *usConn) {
	u.mu.Lock()
	if !c.est {
		u.mu.Unlock()
		return
	}
	type op struct {
		create bool
		d      Decision
		local  netip.AddrPort
	}
	var ops []op
	allowed := map[netip.Addr]bool{}
	for _, a := range u.addrs {
		if a.Addr.Is4() != c.remote.Addr().Is4() {
			continue // subflows stay within the connection's family
		}
		if !(&policy.Rule{Ports: a.ports}).AllowsPort(c.remote.Port()) {
			continue // the rule limits this address to other destination ports
		}
		allowed[a.Addr] = true
		if _, ok := c.subflows[a.Addr]; !ok {
			c.subflows[a.Addr] = netip.AddrPortFrom(a.Addr, 0) // in progress
			ops = append(ops, op{create: true, d: a})
		}
	}
	for addr, ap := range c.subflows {
		if addr != c.local.Addr() && !allowed[addr] {
			delete(c.subflows, addr)
			if ap.Port() != 0 {
				ops = append(ops, op{local: ap})
			}
		}
	}
	token, remote := c.token, c.remote
	ids := map[netip.Addr]uint8{}
	for k, v := range u.ids {
		ids[k] = v
	}
	u.mu.Unlock()

	for _, o := range ops {
		if o.create {
			e := pm.Endpoint{ID: ids[o.d.Addr], Addr: o.d.Addr, IfIndex: o.d.ifIndex, Flags: o.d.flags & pm.FlagBackup}
			if err := u.d.pmClient.CreateSubflow(token, e, remote); err != nil {
				u.d.metrics.reconcileErrors.Inc()
				u.d.log.Warn("create subflow failed", tokenAttr(token), "local", o.d.Addr, "remote", remote, "err", err)
				u.mu.Lock()
				delete(c.subflows, o.d.Addr)
				u.mu.Unlock()
				continue
			}
			u.d.metrics.changes.WithLabelValues("subflow_create").Inc()
			u.d.log.Info("subflow created", tokenAttr(token), "local", o.d.Addr, "dev", o.d.Link, "remote", remote, "backup", e.Flags&pm.FlagBackup != 0)
			continue
		}
		// The address went out (carrier loss, removed): close its subflow
		// so it can be re-created when the address returns.
		err := u.d.pmClient.DestroySubflow(token, o.local, remote)
		u.d.log.Info("subflow destroyed", tokenAttr(token), "local", o.local, "remote", remote, "err", err)
	}
}

// tokenAttr logs a connection token in hex, as `mptcpkit conns` and
// `mptcpkit monitor` print it, so a log line can be matched to a connection.
func tokenAttr(token uint32) slog.Attr {
	return slog.String("token", fmt.Sprintf("%08x", token))
}
