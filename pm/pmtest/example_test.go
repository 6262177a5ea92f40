package pmtest_test

import (
	"fmt"
	"net/netip"
	"syscall"

	"github.com/mptcpkit/mptcpkit/pm"
	"github.com/mptcpkit/mptcpkit/pm/pmtest"
)

// A test makes the "kernel" refuse one address and checks what the code
// under test (here three calls) left in the table.
func Example() {
	bad := netip.MustParseAddr("192.0.2.2")
	p := pmtest.New(func(c pmtest.Call) error {
		if c.Op == pmtest.OpAddEndpoint && c.Endpoint.Addr == bad {
			return pmtest.Error(c.Op, syscall.ERANGE, "")
		}
		return nil
	})
	for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if err := p.AddEndpoint(pm.Endpoint{Addr: netip.MustParseAddr(a), Flags: pm.FlagSubflow}); err != nil {
			fmt.Println(err)
		}
	}
	eps, _ := p.Endpoints()
	for _, e := range eps {
		fmt.Println(e.ID, e.Addr, e.Flags)
	}
	// Output:
	// pm: add endpoint: numerical result out of range: the kernel allows at most 8 endpoints; delete one first
	// 1 192.0.2.1 subflow
	// 2 192.0.2.3 subflow
}
