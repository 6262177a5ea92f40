package netmon_test

import (
	"fmt"

	"github.com/mptcpkit/mptcpkit/netmon"
)

// Watch the current namespace and print its addresses whenever something
// changes (coalesced: one notification may stand for many changes).
func ExampleNew() {
	m, err := netmon.New(netmon.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	for range m.Changes() {
		st, err := m.State()
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, a := range st.Addrs {
			l, _ := st.Link(a.LinkIndex)
			fmt.Println(l.Name, a.Prefix, "usable:", l.Usable())
		}
	}
}

// A Fake stands in for the kernel in tests of code that uses a Monitor.
func ExampleFake() {
	f := netmon.NewFake(netmon.State{})
	f.Update(func(s *netmon.State) {
		s.Links = append(s.Links, netmon.Link{Index: 2, Name: "eth0", Kind: "ethernet", AdminUp: true, Carrier: true})
	})
	<-f.Changes()
	st, _ := f.State()
	fmt.Println(st.Links[0].Name, st.Links[0].Usable())
	// Output: eth0 true
}
