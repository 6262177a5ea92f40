package policy_test

import (
	"fmt"

	"github.com/mptcpkit/mptcpkit/policy"
)

func Example() {
	p, err := policy.Parse("daemon.toml", []byte(`version = 1
[[rule]]
interface = "wl*"
flags = ["subflow", "backup"]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	r, _ := p.Match(policy.Link{Name: "wlan0", Kind: "wifi"})
	fmt.Println(r.Flags)

	_, err = policy.Parse("daemon.toml", []byte("version = 1\n[limits]\nsubflows = 9\n"))
	fmt.Println(err)
	// Output:
	// subflow,backup
	// daemon.toml:3: limits.subflows: 9 is out of range (the kernel allows at most 8) (use a number 0..8 or "auto")
}
