package force_test

import (
	"fmt"

	"github.com/mptcpkit/mptcpkit/force"
)

func ExampleParseMethod() {
	for _, s := range []string{"auto", "SECCOMP", "ebpf"} {
		m, err := force.ParseMethod(s)
		fmt.Println(m, err)
	}
	// Output:
	// auto <nil>
	// seccomp <nil>
	//  unknown method "ebpf" (want auto, bpf or seccomp)
}
