//go:build linux

package pm_test

import (
	"errors"
	"fmt"
	"log"
	"net/netip"
	"os"

	"github.com/mptcpkit/mptcpkit/netns"
	"github.com/mptcpkit/mptcpkit/pm"
)

// This example sets up the in-kernel path manager of a network
// namespace as `ip -n NS mptcp endpoint add` / `limits set` would, and lists
// the result. (Needs root; a scratch namespace keeps the host untouched.)
func ExampleClient_Endpoints() {
	name := fmt.Sprintf("mkt-ExampleClient_Endpoints-%d-1", os.Getpid()) // mkt-NAME-PID-N: swept by nstest if left behind
	ns, err := netns.Create(name)
	if err != nil {
		log.Fatal(err)
	}
	defer netns.Delete(name)
	defer ns.Close()

	c, err := pm.Dial(&pm.Config{NetNS: ns.FD()}) // the calling thread stays where it is
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	subflows := uint32(2)
	if err := c.SetLimits(pm.LimitsUpdate{Subflows: &subflows}); err != nil {
		log.Fatal(err)
	}
	for _, e := range []pm.Endpoint{
		{Addr: netip.MustParseAddr("10.0.2.1"), Flags: pm.FlagSubflow},
		{ID: 10, Addr: netip.MustParseAddr("2001:db8::1"), Flags: pm.FlagSubflow | pm.FlagBackup},
	} {
		if err := c.AddEndpoint(e); err != nil {
			log.Fatal(err)
		}
	}
	eps, err := c.Endpoints()
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range eps {
		fmt.Printf("id %d %s %s\n", e.ID, e.Addr, e.Flags)
	}
	// The same address twice: the kernel refuses it (EEXIST; older
	// kernels such as Debian's 6.1 give a less precise EINVAL), and
	// os.ErrExist matches either. Print err itself to see the kernel's
	// words and pm's hint.
	err = c.AddEndpoint(pm.Endpoint{Addr: netip.MustParseAddr("10.0.2.1")})
	fmt.Println("exists:", errors.Is(err, os.ErrExist))
	// Output:
	// id 1 10.0.2.1 subflow
	// id 10 2001:db8::1 subflow,backup
	// exists: true
}
