package netmon

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Link is a network interface.
type Link struct {
	Index int
	Name  string
	// Kind is what the link is: ethernet, wifi, wwan, veth, bridge, vlan,
	// bond, tun, wireguard, ppp, loopback or other (policy.Kinds).
	Kind string
	// AdminUp: IFF_UP is set.
	AdminUp bool
	// Carrier: the link can carry traffic (oper state up, or unknown with
	// IFF_LOWER_UP, as for loopback and some tunnels).
	Carrier bool
	// OperState is the kernel's oper state name ("up", "down",
	// "lowerlayerdown", ...), for logs.
	OperState string
}

// Usable reports whether addresses on the link may carry traffic now.
func (l Link) Usable() bool { return l.AdminUp && l.Carrier }

// Addr is an address on a link.
type Addr struct {
	Prefix    netip.Prefix
	LinkIndex int
	Flags     uint32 // IFA_F_* bits
}

// Temporary reports an IPv6 temporary (privacy) address.
func (a Addr) Temporary() bool { return a.Prefix.Addr().Is6() && a.Flags&unix.IFA_F_TEMPORARY != 0 }

// Tentative reports an address still in (or failed) duplicate address
// detection: it cannot be used as a source yet.
func (a Addr) Tentative() bool {
	return a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0
}

// State is a snapshot of a namespace's links, addresses and default routes.
type State struct {
	Links         []Link // by index
	Addrs         []Addr // by link index, then address
	DefaultRoute4 bool
	DefaultRoute6 bool
}

// Link returns the link with the index, if any.
func (s *State) Link(index int) (Link, bool) {
	for _, l := range s.Links {
		if l.Index == index {
			return l, true
		}
	}
	return Link{}, false
}

// Sort orders Links and Addrs canonically.
func (s *State) Sort() {
	sort.Slice(s.Links, func(i, j int) bool { return s.Links[i].Index < s.Links[j].Index })
	sort.Slice(s.Addrs, func(i, j int) bool {
		a, b := s.Addrs[i], s.Addrs[j]
		if a.LinkIndex != b.LinkIndex {
			return a.LinkIndex < b.LinkIndex
		}
		return a.Prefix.Addr().Less(b.Prefix.Addr())
	})
}

func (s *State) String() string {
	var b strings.Builder
	for _, l := range s.Links {
		fmt.Fprintf(&b, "%d %s %s up=%t carrier=%t:", l.Index, l.Name, l.Kind, l.AdminUp, l.Carrier)
		for _, a := range s.Addrs {
			if a.LinkIndex == l.Index {
				fmt.Fprintf(&b, " %s", a.Prefix)
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "default routes: v4=%t v6=%t\n", s.DefaultRoute4, s.DefaultRoute6)
	return b.String()
}

// Monitor watches a namespace. Changes delivers a value (coalesced: the
// channel holds at most one) whenever links, addresses or routes may have
// changed; State reads the current snapshot. Close stops the monitor and
// closes the Changes channel.
type Monitor interface {
	State() (*State, error)
	Changes() <-chan struct{}
	Close() error
}
