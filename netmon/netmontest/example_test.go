package netmontest_test

import (
	"fmt"

	"github.com/mptcpkit/mptcpkit/netmon"
	"github.com/mptcpkit/mptcpkit/netmon/netmontest"
)

// A Fake stands in for the kernel in tests of code that uses a Monitor.
func ExampleFake() {
	f := netmontest.New(netmon.State{})
	f.Update(func(s *netmon.State) {
		s.Links = append(s.Links, netmon.Link{Index: 2, Name: "eth0", Kind: "ethernet", AdminUp: true, Carrier: true})
	})
	<-f.Changes()
	st, _ := f.State()
	fmt.Println(st.Links[0].Name, st.Links[0].Usable())
	// Output: eth0 true
}
