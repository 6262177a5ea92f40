//go:build linux

package pm_test

// Tests against the real kernel, each in namespaces of its own (nstest).

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/pm"
)

var addrCmp = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
}

// dial opens a Client inside ns, closed when t ends. It skips the test with
// the reason if the kernel lacks the mptcp_pm family.
func dial(t *testing.T, ns *nstest.NS) *pm.Client {
	t.Helper()
	c, err := pm.Dial(&pm.Config{NetNS: ns.FD()})
	if errors.Is(err, pm.ErrNotSupported) {
		t.Skipf("kernel: %v", err)
	}
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func a(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustEndpoints(t *testing.T, c *pm.Client) []pm.Endpoint {
	t.Helper()
	eps, err := c.Endpoints()
	if err != nil {
		t.Fatalf("Endpoints: %v", err)
	}
	return eps
}

func wantEndpoints(t *testing.T, c *pm.Client, check string, want []pm.Endpoint) {
	t.Helper()
	if diff := cmp.Diff(want, mustEndpoints(t, c), addrCmp); diff != "" {
		t.Errorf("%s: endpoints (-want +got):\n%s", check, diff)
	}
}

func mustAdd(t *testing.T, c *pm.Client, e pm.Endpoint) {
	t.Helper()
	if err := c.AddEndpoint(e); err != nil {
		t.Fatalf("AddEndpoint(%+v): %v", e, err)
	}
}

func ifIndex(t *testing.T, ns *nstest.NS, name string) int {
	t.Helper()
	l, err := ns.Handle().LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	return l.Attrs().Index
}

// TestKernelSelftest replays the checks of the kernel's own selftest
// (tools/testing/selftests/net/mptcp/pm_netlink.sh) through pm.
func TestKernelSelftest(t *testing.T) {
	ns := nstest.New(t, "pm")
	c := dial(t, ns)
	lo := ifIndex(t, ns, "lo")
	u := func(v uint32) *uint32 { return &v }

	// 1. defaults: no endpoints; limits add_addr_accepted 0, subflows 2.
	wantEndpoints(t, c, "1 defaults addr list", []pm.Endpoint{})
	defaults, err := c.Limits()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pm.Limits{AddAddrAccepted: 0, Subflows: 2}, defaults); diff != "" {
		t.Errorf("1 defaults limits (-want +got):\n%s", diff)
	}

	// 2. three endpoints: get and dump show ids 1-3 with flags and dev.
	mustAdd(t, c, pm.Endpoint{Addr: a("10.0.1.1")})
	mustAdd(t, c, pm.Endpoint{Addr: a("10.0.1.2"), Flags: pm.FlagSubflow, IfIndex: lo})
	mustAdd(t, c, pm.Endpoint{Addr: a("10.0.1.3"), Flags: pm.FlagSignal | pm.FlagBackup})
	e1, err := c.Endpoint(1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pm.Endpoint{ID: 1, Addr: a("10.0.1.1")}, e1, addrCmp); diff != "" {
		t.Errorf("2 simple add/get addr (-want +got):\n%s", diff)
	}
	wantEndpoints(t, c, "2 dump addrs", []pm.Endpoint{
		{ID: 1, Addr: a("10.0.1.1")},
		{ID: 2, Addr: a("10.0.1.2"), Flags: pm.FlagSubflow, IfIndex: lo},
		{ID: 3, Addr: a("10.0.1.3"), Flags: pm.FlagSignal | pm.FlagBackup},
	})

	// 3. delete id 2: get 2 fails with os.ErrNotExist.
	if err := c.DeleteEndpoint(2, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Endpoint(2); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("3 simple del addr: Endpoint(2) = %v, want os.ErrNotExist", err)
	} else {
		var pe *pm.Error
		if !errors.As(err, &pe) || pe.Message != "address not found" {
			t.Errorf("3 get deleted: error %#v, want the kernel's text \"address not found\"", err)
		}
	}
	wantEndpoints(t, c, "3 dump addrs after del", []pm.Endpoint{
		{ID: 1, Addr: a("10.0.1.1")},
		{ID: 3, Addr: a("10.0.1.3"), Flags: pm.FlagSignal | pm.FlagBackup},
	})

	// 4. re-adding an existing address fails (EEXIST) and takes no id.
	err = c.AddEndpoint(pm.Endpoint{Addr: a("10.0.1.3")})
	if !addRefused(err, unix.EEXIST) || !errors.Is(err, os.ErrExist) || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("4 duplicate addr: %v, want EEXIST (or this kernel's refusal) matching os.ErrExist, with a clear text", err)
	}
	if _, err := c.Endpoint(4); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("4 duplicate addr: Endpoint(4) = %v, want os.ErrNotExist", err)
	}

	// 5. the next add gets the next id.
	mustAdd(t, c, pm.Endpoint{Addr: a("10.0.1.4"), Flags: pm.FlagSignal})
	if e, err := c.Endpoint(4); err != nil || e.Addr != a("10.0.1.4") || e.Flags != pm.FlagSignal {
		t.Errorf("5 id addr increment: Endpoint(4) = %+v, %v", e, err)
	}

	// 6. eight endpoints fit (ids 1,3-9); the 9th fails with ERANGE.
	for i := 5; i <= 9; i++ {
		mustAdd(t, c, pm.Endpoint{Addr: netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), Flags: pm.FlagSignal})
	}
	if e, err := c.Endpoint(9); err != nil || e.Addr != a("10.0.1.9") {
		t.Errorf("6 hard addr limit: Endpoint(9) = %+v, %v", e, err)
	}
	err = c.AddEndpoint(pm.Endpoint{Addr: a("10.0.1.10"), Flags: pm.FlagSignal})
	if !addRefused(err, unix.ERANGE) || !strings.Contains(err.Error(), "at most 8 endpoints") {
		t.Errorf("6 9th endpoint: %v, want ERANGE (or this kernel's refusal) saying at most 8 endpoints", err)
	}
	if _, err := c.Endpoint(10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("6 above hard addr limit: Endpoint(10) = %v, want os.ErrNotExist", err)
	}

	// 7. add/delete with explicit ids 10-255 leaves the table unchanged.
	if err := c.DeleteEndpoint(9, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	for id := 10; id <= 255; id++ {
		mustAdd(t, c, pm.Endpoint{ID: uint8(id), Addr: a("10.0.0.9")})
		if err := c.DeleteEndpoint(uint8(id), netip.Addr{}); err != nil {
			t.Fatalf("DeleteEndpoint(%d): %v", id, err)
		}
	}
	want7 := []pm.Endpoint{
		{ID: 1, Addr: a("10.0.1.1")},
		{ID: 3, Addr: a("10.0.1.3"), Flags: pm.FlagSignal | pm.FlagBackup},
	}
	for i := 4; i <= 8; i++ {
		want7 = append(want7, pm.Endpoint{ID: uint8(i), Addr: netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), Flags: pm.FlagSignal})
	}
	wantEndpoints(t, c, "7 id limit", want7)

	// 8. flush empties the table.
	if err := c.FlushEndpoints(); err != nil {
		t.Fatal(err)
	}
	wantEndpoints(t, c, "8 flush addrs", []pm.Endpoint{})

	// 9. limits above 8 are refused (locally, and by the kernel), 8/8 accepted.
	for _, lu := range []pm.LimitsUpdate{{AddAddrAccepted: u(9), Subflows: u(1)}, {AddAddrAccepted: u(1), Subflows: u(9)}} {
		if err := c.SetLimits(lu); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("9 SetLimits(%d, %d) = %v, want os.ErrInvalid", *lu.AddAddrAccepted, *lu.Subflows, err)
		}
		if l, err := c.Limits(); err != nil || l != defaults {
			t.Errorf("9 limits above hard limit changed them: %+v, %v", l, err)
		}
	}
	// The kernel's own check, bypassing the local one with iproute2.
	if out, err := ns.Command("ip", "mptcp", "limits", "set", "subflows", "9").CombinedOutput(); err == nil {
		t.Errorf("9 kernel accepted subflows 9: %s", out)
	} else if !strings.Contains(string(out), "limit greater than maximum") {
		// "... maximum (8)" on recent kernels, "... maximum." on 6.12 and before.
		t.Errorf("9 kernel refused subflows 9 with %q, want its text \"limit greater than maximum\"", out)
	}
	if err := c.SetLimits(pm.LimitsUpdate{AddAddrAccepted: u(8), Subflows: u(8)}); err != nil {
		t.Fatal(err)
	}
	if l, err := c.Limits(); err != nil || l != (pm.Limits{AddAddrAccepted: 8, Subflows: 8}) {
		t.Errorf("9 set limits 8/8: %+v, %v", l, err)
	}
	// Flush leaves limits alone [6.18].
	if err := c.FlushEndpoints(); err != nil {
		t.Fatal(err)
	}
	if l, err := c.Limits(); err != nil || l != (pm.Limits{AddAddrAccepted: 8, Subflows: 8}) {
		t.Errorf("flush changed limits: %+v, %v", l, err)
	}

	// 10. explicit ids 100 and 254: automatic ids continue after them and
	// then wrap to the lowest free ids.
	ids := func(check string, adds []pm.Endpoint, want map[string]uint8) {
		t.Helper()
		if err := c.FlushEndpoints(); err != nil {
			t.Fatal(err)
		}
		for _, e := range adds {
			mustAdd(t, c, e)
		}
		got := map[string]uint8{}
		for _, e := range mustEndpoints(t, c) {
			got[e.Addr.String()] = e.ID
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: address → id (-want +got):\n%s", check, diff)
		}
	}
	ids("10 set ids", []pm.Endpoint{
		{Addr: a("10.0.1.1")}, {Addr: a("10.0.1.2")}, {ID: 100, Addr: a("10.0.1.3")}, {Addr: a("10.0.1.4")},
		{ID: 254, Addr: a("10.0.1.5")}, {Addr: a("10.0.1.6")}, {Addr: a("10.0.1.7")}, {Addr: a("10.0.1.8")},
	}, map[string]uint8{"10.0.1.1": 1, "10.0.1.2": 2, "10.0.1.7": 3, "10.0.1.8": 4, "10.0.1.3": 100, "10.0.1.4": 101, "10.0.1.5": 254, "10.0.1.6": 255})
	ids("10 wrap-around ids", []pm.Endpoint{
		{Addr: a("10.0.0.1")}, {ID: 254, Addr: a("10.0.0.2")}, {Addr: a("10.0.0.3")}, {Addr: a("10.0.0.4")},
		{ID: 253, Addr: a("10.0.0.5")}, {Addr: a("10.0.0.6")}, {Addr: a("10.0.0.7")}, {Addr: a("10.0.0.8")},
	}, map[string]uint8{"10.0.0.1": 1, "10.0.0.4": 2, "10.0.0.6": 3, "10.0.0.7": 4, "10.0.0.8": 5, "10.0.0.5": 253, "10.0.0.2": 254, "10.0.0.3": 255})

	// 11. set flags round trip, by address then by id.
	if err := c.FlushEndpoints(); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, c, pm.Endpoint{Addr: a("10.0.1.1"), Flags: pm.FlagSubflow})
	for _, step := range []struct {
		name  string
		id    uint8
		addr  netip.Addr
		flags pm.Flags
		want  pm.Flags
	}{
		{"backup", 0, a("10.0.1.1"), pm.FlagBackup, pm.FlagSubflow | pm.FlagBackup},
		{"nobackup", 0, a("10.0.1.1"), 0, pm.FlagSubflow},
		{"fullmesh", 1, netip.Addr{}, pm.FlagFullmesh, pm.FlagSubflow | pm.FlagFullmesh},
		{"nofullmesh", 1, netip.Addr{}, 0, pm.FlagSubflow},
		{"backup,fullmesh", 1, netip.Addr{}, pm.FlagBackup | pm.FlagFullmesh, pm.FlagSubflow | pm.FlagBackup | pm.FlagFullmesh},
	} {
		if err := c.SetEndpointFlags(step.id, step.addr, step.flags); err != nil {
			t.Fatalf("11 set flags %s: %v", step.name, err)
		}
		wantEndpoints(t, c, "11 set flags ("+step.name+")", []pm.Endpoint{{ID: 1, Addr: a("10.0.1.1"), Flags: step.want}})
	}
}

// TestKernelErrors checks the kernel's own refusals and their texts, for the
// requests pm does not refuse locally.
func TestKernelErrors(t *testing.T) {
	ns := nstest.New(t, "pm")
	c := dial(t, ns)
	mustAdd(t, c, pm.Endpoint{ID: 1, Addr: a("10.0.0.1")})

	err := c.AddEndpoint(pm.Endpoint{ID: 1, Addr: a("10.0.0.2")})
	if !addRefused(err, unix.EBUSY) || !errors.Is(err, os.ErrExist) || !strings.Contains(err.Error(), "id") {
		t.Errorf("same id, other address: %v, want EBUSY (or this kernel's refusal) matching os.ErrExist, naming the id", err)
	}
	if errors.Is(err, unix.EBUSY) && !strings.Contains(err.Error(), "id is already used") {
		t.Errorf("same id, other address: %v, want the EBUSY hint saying the id is used", err)
	}
	var pe *pm.Error
	err = c.DeleteEndpoint(7, netip.Addr{})
	if !errors.As(err, &pe) || pe.Message != "address not found" || !errors.Is(err, os.ErrNotExist) || !errors.Is(err, unix.EINVAL) {
		t.Errorf("delete missing: %#v, want EINVAL \"address not found\" matching os.ErrNotExist", err)
	}
	err = c.SetEndpointFlags(7, netip.Addr{}, pm.FlagBackup)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("change missing: %v, want os.ErrNotExist", err)
	}
	// fullmesh on a signal endpoint.
	mustAdd(t, c, pm.Endpoint{ID: 2, Addr: a("10.0.0.2"), Flags: pm.FlagSignal})
	err = c.SetEndpointFlags(2, netip.Addr{}, pm.FlagFullmesh)
	// Debian's 6.1 gives no text here; newer kernels say why.
	if !errors.As(err, &pe) || !errors.Is(err, unix.EINVAL) || (pe.Message != "invalid addr flags" && pe.Message != "") || errors.Is(err, os.ErrNotExist) {
		t.Errorf("fullmesh on a signal endpoint: %#v, want EINVAL \"invalid addr flags\" (or no text), not os.ErrNotExist", err)
	}
	// Userspace PM commands with a token no connection has.
	err = c.Remove(0x12345678, 1)
	if !errors.As(err, &pe) || pe.Message != "invalid token" || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("remove with invalid token: %#v, want \"invalid token\"", err)
	}
	// A signal endpoint with a port needs the address locally (listener).
	err = c.AddEndpoint(pm.Endpoint{Addr: a("10.9.9.9"), Port: 4000, Flags: pm.FlagSignal})
	if !errors.Is(err, unix.EADDRNOTAVAIL) {
		t.Errorf("signal port on a foreign address: %v, want EADDRNOTAVAIL", err)
	}
}

// ipEndpoint is one object of `ip -j mptcp endpoint show` (iproute2 6.1).
type ipEndpoint struct {
	Address  string `json:"address"`
	ID       int    `json:"id"`
	Port     int    `json:"port,omitempty"`
	Signal   bool   `json:"signal,omitempty"`
	Subflow  bool   `json:"subflow,omitempty"`
	Backup   bool   `json:"backup,omitempty"`
	Fullmesh bool   `json:"fullmesh,omitempty"`
	Implicit bool   `json:"implicit,omitempty"`
	Dev      string `json:"dev,omitempty"`
}

func ipShow(t *testing.T, ns *nstest.NS) []ipEndpoint {
	t.Helper()
	out := ns.Run(t, "ip", "-j", "mptcp", "endpoint", "show")
	var eps []ipEndpoint
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eps); err != nil {
		t.Fatalf("ip -j mptcp endpoint show: %v\n%s", err, out)
	}
	return eps
}

// TestIPRoute2 cross-checks pm with iproute2's `ip mptcp` both ways.
func TestIPRoute2(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/ip"); err != nil {
		if _, err := os.Stat("/sbin/ip"); err != nil {
			t.Fatal("iproute2's ip is not installed (apt-get install iproute2)")
		}
	}
	setup := func(t *testing.T) (*nstest.NS, *pm.Client, int) {
		ns := nstest.New(t, "ip")
		// Addresses for the signal endpoints with a port (the kernel
		// listens on them).
		ns.Run(t, "ip", "addr", "add", "10.0.0.1/32", "dev", "lo")
		ns.Run(t, "ip", "addr", "add", "2001:db8::1/128", "dev", "lo", "nodad")
		return ns, dial(t, ns), ifIndex(t, ns, "lo")
	}

	t.Run("pm writes, ip reads", func(t *testing.T) {
		ns, c, lo := setup(t)
		u := func(v uint32) *uint32 { return &v }
		if err := c.SetLimits(pm.LimitsUpdate{AddAddrAccepted: u(3), Subflows: u(5)}); err != nil {
			t.Fatal(err)
		}
		for _, e := range []pm.Endpoint{
			{Addr: a("10.0.0.1"), Port: 4000, Flags: pm.FlagSignal | pm.FlagBackup},
			{ID: 7, Addr: a("10.0.0.2"), Flags: pm.FlagSubflow | pm.FlagFullmesh, IfIndex: lo},
			{Addr: a("2001:db8::1"), Port: 4001, Flags: pm.FlagSignal},
			{ID: 200, Addr: a("2001:db8::2"), Flags: pm.FlagSubflow | pm.FlagBackup, IfIndex: lo},
			{Addr: a("10.0.0.3")},
		} {
			mustAdd(t, c, e)
		}
		want := []ipEndpoint{
			{Address: "10.0.0.1", ID: 1, Port: 4000, Signal: true, Backup: true},
			{Address: "10.0.0.2", ID: 7, Subflow: true, Fullmesh: true, Dev: "lo"},
			{Address: "2001:db8::1", ID: 8, Port: 4001, Signal: true},
			{Address: "2001:db8::2", ID: 200, Subflow: true, Backup: true, Dev: "lo"},
			{Address: "10.0.0.3", ID: 201},
		}
		if diff := cmp.Diff(sortIP(want), sortIP(ipShow(t, ns))); diff != "" {
			t.Errorf("ip -j mptcp endpoint show (-want +got):\n%s", diff)
		}
		if got := strings.TrimSpace(ns.Run(t, "ip", "mptcp", "limits", "show")); got != "add_addr_accepted 3 subflows 5" {
			t.Errorf("ip mptcp limits show = %q, want %q", got, "add_addr_accepted 3 subflows 5")
		}
		// (iproute2 6.1 prints limits as text even with -j.)
		// Changes and deletes are seen too.
		if err := c.SetEndpointFlags(7, netip.Addr{}, pm.FlagBackup); err != nil {
			t.Fatal(err)
		}
		want[1].Fullmesh, want[1].Backup = false, true
		// id 0 is the kernel's special id of connections' initial
		// address: deleting it withdraws the address from connections and
		// leaves the table entry (id 201) alone, as `ip mptcp endpoint
		// delete id 0 ADDR` does.
		if err := c.DeleteEndpoint(0, a("10.0.0.3")); err != nil {
			t.Fatalf("delete id 0 by address: %v", err)
		}
		if diff := cmp.Diff(sortIP(want), sortIP(ipShow(t, ns))); diff != "" {
			t.Errorf("after delete id 0: ip -j mptcp endpoint show (-want +got):\n%s", diff)
		}
		if err := c.DeleteEndpoint(201, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(sortIP(want[:4]), sortIP(ipShow(t, ns))); diff != "" {
			t.Errorf("after change and delete: ip -j mptcp endpoint show (-want +got):\n%s", diff)
		}
	})

	t.Run("ip writes, pm reads", func(t *testing.T) {
		ns, c, lo := setup(t)
		ns.Run(t, "ip", "mptcp", "limits", "set", "subflows", "4", "add_addr_accepted", "6")
		ns.Run(t, "ip", "mptcp", "endpoint", "add", "10.0.0.1", "port", "4000", "id", "5", "signal")
		ns.Run(t, "ip", "mptcp", "endpoint", "add", "10.0.0.2", "dev", "lo", "subflow", "backup", "fullmesh")
		ns.Run(t, "ip", "mptcp", "endpoint", "add", "2001:db8::1", "port", "4001", "signal", "backup")
		ns.Run(t, "ip", "mptcp", "endpoint", "add", "2001:db8::3", "id", "42", "dev", "lo", "subflow")
		want := []pm.Endpoint{
			{ID: 5, Addr: a("10.0.0.1"), Port: 4000, Flags: pm.FlagSignal},
			{ID: 6, Addr: a("10.0.0.2"), Flags: pm.FlagSubflow | pm.FlagBackup | pm.FlagFullmesh, IfIndex: lo},
			{ID: 7, Addr: a("2001:db8::1"), Port: 4001, Flags: pm.FlagSignal | pm.FlagBackup},
			{ID: 42, Addr: a("2001:db8::3"), Flags: pm.FlagSubflow, IfIndex: lo},
		}
		wantEndpoints(t, c, "ip mptcp endpoint add", want)
		for _, e := range want {
			got, err := c.Endpoint(e.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(e, got, addrCmp); diff != "" {
				t.Errorf("Endpoint(%d) (-want +got):\n%s", e.ID, diff)
			}
		}
		if l, err := c.Limits(); err != nil || l != (pm.Limits{AddAddrAccepted: 6, Subflows: 4}) {
			t.Errorf("Limits = %+v, %v; want add_addr_accepted 6 subflows 4", l, err)
		}
		ns.Run(t, "ip", "mptcp", "endpoint", "change", "id", "6", "nobackup")
		ns.Run(t, "ip", "mptcp", "endpoint", "delete", "id", "42")
		want[1].Flags = pm.FlagSubflow // the kernel sets backup and fullmesh together
		wantEndpoints(t, c, "ip mptcp endpoint change/delete", want[:3])
		ns.Run(t, "ip", "mptcp", "endpoint", "flush")
		wantEndpoints(t, c, "ip mptcp endpoint flush", []pm.Endpoint{})
	})
}

func sortIP(eps []ipEndpoint) map[int]ipEndpoint {
	m := map[int]ipEndpoint{}
	for _, e := range eps {
		m[e.ID] = e
	}
	return m
}

// TestEndpointLaminar checks the 6.18 laminar flag, which iproute2 6.1 does
// not know, round trips through the kernel.
func TestEndpointLaminar(t *testing.T) {
	ns := nstest.New(t, "pm")
	c := dial(t, ns)
	mustAdd(t, c, pm.Endpoint{Addr: a("10.0.0.5"), Flags: pm.FlagLaminar})
	eps := mustEndpoints(t, c)
	if len(eps) != 1 {
		t.Fatalf("endpoints %+v, want one", eps)
	}
	if eps[0].Flags&pm.FlagLaminar == 0 {
		t.Skipf("kernel dropped the laminar flag (the kernel matrix: 6.18 keeps it, Debian's 6.12 and 6.1 drop it): flags %s", eps[0].Flags)
	}
}

// TestChangeEndpointWithPort changes an endpoint that was added with a port,
// by id and by address+port: the kernel compares the port when it looks an
// endpoint up by address, so the request must carry it (issue 12 point 2).
func TestChangeEndpointWithPort(t *testing.T) {
	ns := nstest.New(t, "pm")
	ns.Run(t, "ip", "addr", "add", "10.0.1.2/32", "dev", "lo")
	c := dial(t, ns)
	mustAdd(t, c, pm.Endpoint{Addr: a("10.0.1.2"), Port: 1234, Flags: pm.FlagSignal})
	want := func(check string, f pm.Flags) {
		t.Helper()
		wantEndpoints(t, c, check, []pm.Endpoint{{ID: 1, Addr: a("10.0.1.2"), Port: 1234, Flags: f}})
	}
	if err := c.ChangeEndpoint(pm.Endpoint{ID: 1}, pm.FlagBackup); err != nil {
		t.Fatalf("change id 1 backup: %v", err)
	}
	want("by id", pm.FlagSignal|pm.FlagBackup)
	if err := c.ChangeEndpoint(pm.Endpoint{Addr: a("10.0.1.2"), Port: 1234}, 0); err != nil {
		t.Fatalf("change 10.0.1.2 port 1234 nobackup: %v", err)
	}
	want("by address and port", pm.FlagSignal)
	// Without its port the address names no endpoint: the kernel says so.
	if err := c.ChangeEndpoint(pm.Endpoint{Addr: a("10.0.1.2")}, pm.FlagBackup); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("change 10.0.1.2 (no port): %v, want os.ErrNotExist", err)
	}
}

// addRefused reports whether err is a refused endpoint add: the precise
// errno newer kernels return (EEXIST, EBUSY, ERANGE), or the single EINVAL
// "too many addresses or duplicate one" of kernels that do not say which
// (Debian's 6.1), explained by pm's hint.
func addRefused(err error, errno unix.Errno) bool {
	if errors.Is(err, errno) {
		return true
	}
	var pe *pm.Error
	return errors.As(err, &pe) && errors.Is(err, unix.EINVAL) && pe.Message == "too many addresses or duplicate one" &&
		strings.Contains(err.Error(), "this kernel does not say which")
}
