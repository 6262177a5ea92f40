package daemon

import (
	"fmt"
	"golang.org/x/sys/unix"
	"net/netip"
	"sort"

	"github.com/mptcpkit/mptcpkit/netmon"
	"github.com/mptcpkit/mptcpkit/pm"
	"github.com/mptcpkit/mptcpkit/policy"
)

// Decision says whether an address gets an endpoint and why.
type Decision struct {
	Addr    netip.Addr `json:"address"`
	Link    string     `json:"link"`
	Kind    string     `json:"kind,omitempty"`
	In      bool       `json:"in"`
	Flags   string     `json:"flags,omitempty"`
	Rule    string     `json:"rule,omitempty"`
	Reason  string     `json:"reason"`
	ifIndex int
	flags   pm.Flags
	order   int // rule index, for choosing among more than pm.MaxEndpoints
	ports   []uint16
}

// plan computes which addresses the policy wants as endpoints, in rule
// order, with a decision for every address of st. avoid names interfaces
// another manager owns (coexist mode).
func plan(p *policy.Policy, st *netmon.State, avoid map[string]string) []Decision {
	var ds []Decision
	for _, a := range st.Addrs {
		l, ok := st.Link(a.LinkIndex)
		if !ok {
			continue
		}
		d := Decision{Addr: a.Prefix.Addr(), Link: l.Name, Kind: l.Kind, ifIndex: l.Index}
		r, idx := p.Match(policy.Link{Name: l.Name, Kind: l.Kind})
		d.order = idx
		if r != nil {
			d.Rule = r.Describe()
		}
		defRoute := st.DefaultRoute4
		if d.Addr.Is6() {
			defRoute = st.DefaultRoute6
		}
		switch {
		case a.Prefix.Addr().IsLoopback() && p.Filter.SkipLoopback:
			d.Reason = "loopback address"
		case l.Kind == "loopback" && p.Filter.SkipLoopback:
			d.Reason = "loopback interface"
		case avoid[l.Name] != "":
			d.Reason = "interface managed by " + avoid[l.Name] + " (coexist)"
		case r == nil:
			d.Reason = "no rule matches this interface"
		case r.Ignore:
			d.Reason = "ignored by rule " + r.Describe()
		default:
			if why := p.Filter.Skip(policy.Addr{IP: d.Addr, Temporary: a.Temporary()}, defRoute); why != "" {
				d.Reason = why
				break
			}
			switch {
			case !l.AdminUp:
				d.Reason = "interface is down"
			case !l.Carrier:
				d.Reason = fmt.Sprintf("interface has no carrier (oper state %s)", l.OperState)
			case a.Tentative():
				d.Reason = "address is tentative (duplicate address detection not done)"
			case a.Flags&unix.IFA_F_DEPRECATED != 0:
				d.Reason = "address is deprecated (preferred lifetime over)"
			default:
				d.In = true
				d.flags = pm.Flags(r.Flags)
				d.ports = r.Ports
				d.Flags = d.flags.String()
				d.Reason = "matched rule " + r.Describe()
			}
		}
		ds = append(ds, d)
	}
	// Rule order first, then link index and address (stable and
	// predictable): the first pm.MaxEndpoints of these get slots.
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.In != b.In {
			return a.In
		}
		if a.order != b.order {
			return a.order < b.order
		}
		if a.ifIndex != b.ifIndex {
			return a.ifIndex < b.ifIndex
		}
		return a.Addr.Less(b.Addr)
	})
	// The kernel keys endpoints by address: the same address on two
	// links gets one endpoint, on the link that comes first.
	first := map[netip.Addr]string{}
	for i := range ds {
		if !ds[i].In {
			continue
		}
		if l, dup := first[ds[i].Addr]; dup {
			ds[i].In = false
			ds[i].Reason = "the same address on " + l + " has the endpoint (one per address)"
			continue
		}
		first[ds[i].Addr] = ds[i].Link
	}
	return ds
}
