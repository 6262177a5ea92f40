package netns_test

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/mptcpkit/mptcpkit/netns"
)

// Create a namespace, open an MPTCP listener inside it, and delete the
// namespace again. The listener stays in the namespace after Do returns; the
// calling goroutine's thread never changes namespace.
func Example() {
	name := fmt.Sprintf("mkt-example-%d", os.Getpid())
	ns, err := netns.Create(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer netns.Delete(name)
	defer ns.Close()

	var ln net.Listener
	var ifaces []net.Interface
	err = ns.Do(func() error {
		var err error
		if ifaces, err = net.Interfaces(); err != nil {
			return err
		}
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		ln, err = lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		return err
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	fmt.Println("interfaces inside:", len(ifaces), ifaces[0].Name)
	// Output: interfaces inside: 1 lo
}
