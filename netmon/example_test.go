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
