package sockdiag_test

import (
	"fmt"
	"log"

	"github.com/mptcpkit/mptcpkit/netns"
	"github.com/mptcpkit/mptcpkit/sockdiag"
)

// List the MPTCP connections of a named network namespace with their
// subflows.
func ExampleClient_Connections() {
	ns, err := netns.Open("lab1-client") // or skip Config for the current namespace
	if err != nil {
		log.Fatal(err)
	}
	defer ns.Close()
	c, err := sockdiag.Dial(&sockdiag.Config{NetNS: ns.FD()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	conns, err := c.Connections()
	if err != nil {
		log.Fatal(err)
	}
	for _, conn := range (sockdiag.Filter{RemotePort: 5201}).Apply(conns) {
		fmt.Printf("%08x %v -> %v fallback=%v\n", conn.Token(), conn.Local, conn.Remote, conn.Fallback())
		for _, sf := range conn.Subflows {
			fmt.Printf("  %v -> %v rtt %v backup=%v\n", sf.Local, sf.Remote, sf.TCP.RTT, sf.MPTCP.Backup())
		}
	}
}
