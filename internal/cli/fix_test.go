package cli

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/mptcpkit/mptcpkit/bench"
	"github.com/mptcpkit/mptcpkit/force"
	"github.com/mptcpkit/mptcpkit/lab"
)

// TestAdvice: library errors name no mptcpkit command; the CLI's final
// text for them names the command that helps, where the library's
// sentence stood, and keeps the context they were wrapped in.
func TestAdvice(t *testing.T) {
	e := &env{}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("control connection: %w", &bench.RefusedError{Addr: "10.0.1.2:5999", Err: syscall.ECONNREFUSED}),
			"control connection: connection refused: is `mptcpkit bench server` running on 10.0.1.2:5999?"},
		{fmt.Errorf("%s %w (is that what listens there?): %w", "10.0.1.2:7000", bench.ErrNotBenchServer, syscall.ECONNRESET),
			"10.0.1.2:7000 does not answer like `mptcpkit bench server` (is that what listens there?): connection reset by peer"},
		{fmt.Errorf("%w: %w", &lab.ExistsError{Name: "l1", Objects: []string{"netns mk-l1-client", "state file"}}, lab.ErrExists),
			"lab \"l1\" exists (netns mk-l1-client, state file); remove it with `mptcpkit lab down l1` or pick another --name: lab exists"},
		{fmt.Errorf("%w: %w", &lab.NotFoundError{Name: "nosuch", Path: "/run/mptcpkit/lab/nosuch.json"}, os.ErrNotExist),
			"no lab \"nosuch\" (no /run/mptcpkit/lab/nosuch.json; `mptcpkit lab show` lists the labs, `mptcpkit lab up --name nosuch` makes it)"},
		{fmt.Errorf("namespace %q: %w", "lab:x:client", &lab.NotFoundError{Name: "x"}),
			"namespace \"lab:x:client\": no lab \"x\" (`mptcpkit lab show` lists the labs, `mptcpkit lab up --name x` makes it)"},
		{&lab.DamagedError{Name: "l2", Path: "/run/mptcpkit/lab/l2.json", Err: errors.New("unexpected end of JSON input")},
			"lab state /run/mptcpkit/lab/l2.json is damaged (unexpected end of JSON input); remove the lab with `mptcpkit lab down l2`"},
		{fmt.Errorf("namespace %q: %w", "lab:l3:dest", &lab.NoDestError{Name: "l3"}),
			"namespace \"lab:l3:dest\": lab l3 has no destination host (make it with `mptcpkit lab up --name l3 --dest`)"},
		{fmt.Errorf("force needs BPF: %v.\n%w", "refused", force.ErrRefused),
			"force needs BPF: refused.\nfor programs you start yourself, use `mptcpkit run -- CMD` instead (seccomp, no BPF needed)"},
		{fmt.Errorf("namespace %q: %w", "lab:x", lab.ErrNetNSRef),
			"namespace \"lab:x\": write lab:NAME:client or lab:NAME:server (or lab:NAME:dest for a lab made with --dest; NAME as in `mptcpkit lab show`)"},
		{fmt.Errorf("--method bpf: %w", fmt.Errorf("%w (%w)", errors.New("no cgroup2 mount"), force.ErrCgroupHidden)),
			"--method bpf: no cgroup2 mount (under `ip netns exec` /sys is remounted without it: use `mptcpkit -n NETNS run` instead)"},
	} {
		got := e.friendly([]string{"x"}, tc.err)
		if got.Error() != tc.want {
			t.Errorf("friendly(%q)\n = %q\nwant %q", tc.err, got, tc.want)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("friendly(%q) lost the cause", tc.err)
		}
	}
}
