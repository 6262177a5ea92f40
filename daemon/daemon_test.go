package daemon_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/pm"
)

const basicPolicy = `version = 1
[addresses]
skip_ula = true
[[rule]]
name = "lab ignored"
interface = "ign*"
ignore = true
[[rule]]
name = "paths"
interface = "mk*"
flags = ["subflow", "backup"]
`

// TestAddressesFollowed: new address -> endpoint with the policy's flags
// (reaction time measured), removed -> gone; ignored interfaces and
// filtered addresses never get one; limits untouched; ctx cancel (SIGTERM)
// removes what the daemon added.
func TestAddressesFollowed(t *testing.T) {
	a, _ := nstest.Pair(t, []nstest.Path{
		{ClientIf: "mk0", ClientCIDR: "10.72.0.1/24", ServerIf: "mk0", ServerCIDR: "10.72.0.2/24"},
		{ClientIf: "ign0", ClientCIDR: "10.72.9.1/24", ServerIf: "ign0", ServerCIDR: "10.72.9.2/24"},
	})
	c, err := pm.Dial(&pm.Config{NetNS: a.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	limits, err := c.Limits()
	if err != nil {
		t.Fatal(err)
	}

	h := start(t, a, daemon.Config{Policy: mustPolicy(t, basicPolicy)})
	h.waitTable([]string{"10.72.0.1 subflow,backup"}, 2*time.Second)
	eps := h.endpoints()
	if eps[0].IfIndex != ifIndex(t, a, "mk0") {
		t.Errorf("endpoint dev = %d, want mk0's index %d", eps[0].IfIndex, ifIndex(t, a, "mk0"))
	}

	// Filtered addresses first (link-local, ULA, an ignored interface),
	// then a good one: when the good one has its endpoint, the others
	// have been seen and refused.
	addAddr(t, a, "mk0", "fd00:72::1/64")
	addAddr(t, a, "mk0", "169.254.7.7/16")
	addAddr(t, a, "ign0", "10.72.8.1/24")
	var reactions []time.Duration
	for i, cidr := range []string{"10.72.1.1/24", "10.72.2.1/24", "2001:db8:72::1/64"} {
		addAddr(t, a, "mk0", cidr)
		want := []string{"10.72.0.1 subflow,backup", "10.72.1.1 subflow,backup", "10.72.2.1 subflow,backup", "2001:db8:72::1 subflow,backup"}[:i+2]
		reactions = append(reactions, h.waitTable(want, 2*time.Second))
	}
	for _, r := range reactions {
		if r >= time.Second && timingGoals(t) {
			t.Errorf("reaction to a new address took %v (want well under 1 s)", r)
		}
	}
	t.Logf("reaction time to a new address: %v", reactions)

	delAddr(t, a, "mk0", "10.72.1.1/24")
	took := h.waitTable([]string{"10.72.0.1 subflow,backup", "10.72.2.1 subflow,backup", "2001:db8:72::1 subflow,backup"}, 2*time.Second)
	t.Logf("reaction time to a removed address: %v", took)

	// The state file says why each address is in or out.
	s := h.waitState(func(s *daemon.StateFile) bool { return len(s.Endpoints) == 3 })
	why := map[string]string{}
	for _, d := range s.Decisions {
		why[d.Addr.String()] = d.Reason
	}
	for addr, want := range map[string]string{
		"fd00:72::1":  "unique local",
		"169.254.7.7": "link-local",
		"10.72.8.1":   `ignored by rule "lab ignored"`,
		"10.72.0.1":   `matched rule "paths"`,
		"127.0.0.1":   "loopback",
	} {
		if !strings.Contains(why[addr], want) {
			t.Errorf("reason for %s = %q, want it to say %q", addr, why[addr], want)
		}
	}

	if got, _ := c.Limits(); got != limits {
		t.Errorf("limits changed from %+v to %+v by a policy without [limits]", limits, got)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if eps := h.endpoints(); len(eps) != 0 {
		t.Errorf("endpoints left after stop: %q", table(eps))
	}
}

// TestCarrier: the peer's end going down takes the endpoint away; up
// brings it back; a down/up/re-address cycle leaves no stale entry.
func TestCarrier(t *testing.T) {
	a, b := nstest.Pair(t, []nstest.Path{
		{ClientIf: "mk0", ClientCIDR: "10.74.0.1/24", ServerIf: "mk0", ServerCIDR: "10.74.0.2/24"},
		{ClientIf: "mk1", ClientCIDR: "10.74.1.1/24", ServerIf: "mk1", ServerCIDR: "10.74.1.2/24"},
	})
	h := start(t, a, daemon.Config{})
	both := []string{"10.74.0.1 subflow", "10.74.1.1 subflow"}
	h.waitTable(both, 2*time.Second)

	setLink(t, b, "mk1", false)
	lost := h.waitTable([]string{"10.74.0.1 subflow"}, 2*time.Second)
	setLink(t, b, "mk1", true)
	back := h.waitTable(both, 2*time.Second)
	t.Logf("carrier loss -> endpoint removed in %v; carrier back -> endpoint restored in %v", lost, back)

	// Own end down, re-addressed, up.
	setLink(t, a, "mk1", false)
	h.waitTable([]string{"10.74.0.1 subflow"}, 2*time.Second)
	delAddr(t, a, "mk1", "10.74.1.1/24")
	addAddr(t, a, "mk1", "10.74.1.9/24")
	setLink(t, a, "mk1", true)
	h.waitTable([]string{"10.74.0.1 subflow", "10.74.1.9 subflow"}, 2*time.Second)
}

// TestRestart: a restart with endpoints present neither duplicates nor
// orphans them; foreign endpoints stay.
func TestRestart(t *testing.T) {
	a, _ := nstest.Pair(t, []nstest.Path{{ClientIf: "mk0", ClientCIDR: "10.75.0.1/24", ServerIf: "mk0", ServerCIDR: "10.75.0.2/24"}})
	addAddr(t, a, "mk0", "10.75.1.1/24")
	keep := mustPolicy(t, "version = 1\nremove_on_exit = false\n[[rule]]\ninterface = \"mk*\"\nflags = [\"subflow\"]\n")
	c, err := pm.Dial(&pm.Config{NetNS: a.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Foreign: one on an address that exists (the daemon would want it)
	// and one on an address that does not.
	for _, e := range []pm.Endpoint{
		{Addr: netip.MustParseAddr("10.75.1.1"), Flags: pm.FlagSignal},
		{Addr: netip.MustParseAddr("10.75.200.1"), Flags: pm.FlagSubflow},
	} {
		if err := c.AddEndpoint(e); err != nil {
			t.Fatal(err)
		}
	}
	foreign := []string{"10.75.1.1 signal", "10.75.200.1 subflow"}
	h1 := start(t, a, daemon.Config{Policy: keep})
	h1.waitTable(append([]string{"10.75.0.1 subflow"}, foreign...), 2*time.Second)
	ids1 := h1.endpoints()
	if err := h1.stop(); err != nil {
		t.Fatal(err)
	}
	h1.waitTable(append([]string{"10.75.0.1 subflow"}, foreign...), 0) // kept on exit

	// While it is down: a new address appears, the owned one's address goes.
	addAddr(t, a, "mk0", "10.75.2.1/24")
	delAddr(t, a, "mk0", "10.75.0.1/24")
	h2 := start(t, a, daemon.Config{Policy: keep, StatePath: h1.state})
	h2.waitTable(append([]string{"10.75.2.1 subflow"}, foreign...), 2*time.Second)
	h2.waitState(func(s *daemon.StateFile) bool {
		ours, theirs := 0, 0
		for _, k := range s.Kernel {
			if k.Ours {
				ours++
			} else {
				theirs++
			}
		}
		return ours == 1 && theirs == 2 && len(s.Endpoints) == 1 && s.Endpoints[0].Addr.String() == "10.75.2.1"
	})
	// Same again with nothing changed: no duplicates, same ids.
	if err := h2.stop(); err != nil {
		t.Fatal(err)
	}
	before := h2.endpoints()
	h3 := start(t, a, daemon.Config{Policy: keep, StatePath: h1.state})
	time.Sleep(200 * time.Millisecond)
	after := h3.endpoints()
	if len(before) != len(after) {
		t.Fatalf("restart changed the table: %q -> %q", table(before), table(after))
	}
	for i := range before {
		if before[i] != after[i] {
			t.Errorf("restart changed endpoint %+v -> %+v", before[i], after[i])
		}
	}
	for _, e := range ids1 {
		if e.Addr.String() == "10.75.1.1" {
			for _, x := range after {
				if x.Addr == e.Addr && x.ID != e.ID {
					t.Errorf("foreign endpoint %s changed id %d -> %d", e.Addr, e.ID, x.ID)
				}
			}
		}
	}
	// remove_on_exit = true now: only ours go.
	h3.stop()
	h4 := start(t, a, daemon.Config{Policy: mustPolicy(t, "version = 1\n[[rule]]\ninterface = \"mk*\"\nflags = [\"subflow\"]\n"), StatePath: h1.state})
	h4.waitTable(append([]string{"10.75.2.1 subflow"}, foreign...), 2*time.Second)
	h4.stop()
	h4.waitTable(foreign, 0)
}

// TestEightSlots: more qualifying addresses than the kernel's 8 slots ->
// 8 endpoints chosen by rule order, and a log line saying which were left
// out.
func TestEightSlots(t *testing.T) {
	a, _ := nstest.Pair(t, []nstest.Path{
		{ClientIf: "mka0", ClientCIDR: "10.76.0.1/24", ServerIf: "mka0", ServerCIDR: "10.76.0.100/24"},
		{ClientIf: "mkb0", ClientCIDR: "10.76.1.1/24", ServerIf: "mkb0", ServerCIDR: "10.76.1.100/24"},
	})
	for i := 2; i <= 5; i++ {
		addAddr(t, a, "mka0", "10.76.0."+itoa(i)+"/24")
		addAddr(t, a, "mkb0", "10.76.1."+itoa(i)+"/24")
	}
	pol := mustPolicy(t, `version = 1
[[rule]]
name = "b first"
interface = "mkb*"
flags = ["subflow"]
[[rule]]
name = "then a"
interface = "mka*"
flags = ["subflow", "backup"]
`)
	h := start(t, a, daemon.Config{Policy: pol})
	want := []string{"10.76.1.1 subflow", "10.76.1.2 subflow", "10.76.1.3 subflow", "10.76.1.4 subflow", "10.76.1.5 subflow",
		"10.76.0.1 subflow,backup", "10.76.0.2 subflow,backup", "10.76.0.3 subflow,backup"}
	h.waitTable(want, 2*time.Second)
	logs := h.logs.String()
	if !strings.Contains(logs, "more addresses qualify than the kernel's 8 endpoint slots") ||
		!strings.Contains(logs, "10.76.0.4 (mka0") || !strings.Contains(logs, "10.76.0.5 (mka0") {
		t.Errorf("no clear log line about the left-out addresses:\n%s", logs)
	}
	if strings.Contains(logs, "result too large") || strings.Contains(logs, "ERANGE") {
		t.Errorf("the kernel's ERANGE leaked into the log:\n%s", logs)
	}
	// A slot frees up: the next address by rule order gets it.
	delAddr(t, a, "mkb0", "10.76.1.5/24")
	h.waitTable(append(want[:4:4], "10.76.0.1 subflow,backup", "10.76.0.2 subflow,backup", "10.76.0.3 subflow,backup", "10.76.0.4 subflow,backup"), 2*time.Second)
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+i))) }
