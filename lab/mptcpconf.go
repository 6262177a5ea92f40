package lab

import (
	"fmt"
	"os/exec"
	"strings"

	"github.com/mptcpkit/mptcpkit/netns"
)

// configureMPTCP sets the path manager limits on both sides and adds one
// client subflow endpoint (bound to its device) per extra path.
// TEMPORARY: uses `ip mptcp` until package pm builds.
func configureMPTCP(client, server *netns.NetNS, st *State) error {
	for _, ns := range []string{st.Client, st.Server} {
		if err := ipMPTCP(ns, "limits", "set", "subflows", "8", "add_addr_accepted", "8"); err != nil {
			return err
		}
	}
	for i := range st.Paths[1:] {
		p := &st.Paths[i+1]
		p.EndpointID = uint8(p.Index)
		if err := ipMPTCP(st.Client, "endpoint", "add", p.ClientAddr.String(), "dev", p.ClientIf, "id", fmt.Sprint(p.EndpointID), "subflow"); err != nil {
			return err
		}
	}
	return nil
}

func ipMPTCP(ns string, args ...string) error {
	out, err := exec.Command("ip", append([]string{"-n", ns, "mptcp"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip mptcp %s in %s: %v: %s", strings.Join(args, " "), ns, err, out)
	}
	return nil
}
