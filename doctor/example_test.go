package doctor_test

import (
	"context"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/doctor"
	"github.com/mptcpkit/mptcpkit/pm"
)

// Diagnose facts gathered elsewhere: here MPTCP is switched off and three
// subflow endpoints compete for two subflows.
func ExampleCheck() {
	facts := &doctor.FixedFacts{
		Release:      "6.18.0",
		Socket4Err:   unix.ENOPROTOOPT,
		SysctlValues: map[string]string{"net.mptcp.enabled": "0", "net.mptcp.path_manager": "kernel"},
		LimitValues:  pm.Limits{Subflows: 2, AddAddrAccepted: 2},
		EndpointList: []pm.Endpoint{
			{ID: 1, Addr: netip.MustParseAddr("10.0.2.1"), Flags: pm.FlagSubflow},
			{ID: 2, Addr: netip.MustParseAddr("10.0.3.1"), Flags: pm.FlagSubflow},
			{ID: 3, Addr: netip.MustParseAddr("10.0.4.1"), Flags: pm.FlagSubflow},
		},
		InterfaceList: []doctor.Interface{{Index: 2, Name: "eth1", Up: true, Addrs: []netip.Addr{
			netip.MustParseAddr("10.0.2.1"), netip.MustParseAddr("10.0.3.1"), netip.MustParseAddr("10.0.4.1"),
		}}},
	}
	r := doctor.Check(context.Background(), facts, nil)
	fmt.Println("usable:", r.Usable)
	for _, f := range r.Findings {
		if f.Severity >= doctor.Warn {
			fmt.Printf("%s %s: %s\n", f.Severity, f.Check, f.Fix)
		}
	}
	// Output:
	// usable: false
	// error kernel: sysctl -w net.mptcp.enabled=1   # to keep it: echo net.mptcp.enabled=1 > /etc/sysctl.d/90-mptcp.conf
	// warn limits: mptcpkit limits set subflows 3
}
