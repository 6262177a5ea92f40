package daemon

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/netmon"
	"github.com/mptcpkit/mptcpkit/policy"
)

func TestPlan(t *testing.T) {
	st := &netmon.State{
		Links: []netmon.Link{
			{Index: 1, Name: "lo", Kind: "loopback", AdminUp: true, Carrier: true},
			{Index: 2, Name: "eth0", Kind: "ethernet", AdminUp: true, Carrier: true},
			{Index: 3, Name: "wlan0", Kind: "wifi", AdminUp: true, Carrier: false, OperState: "dormant"},
			{Index: 4, Name: "veth9", Kind: "veth", AdminUp: true, Carrier: true},
			{Index: 5, Name: "eth1", Kind: "ethernet", AdminUp: false, Carrier: false},
			{Index: 6, Name: "wwan0", Kind: "wwan", AdminUp: true, Carrier: true},
		},
		Addrs: []netmon.Addr{
			{Prefix: netip.MustParsePrefix("127.0.0.1/8"), LinkIndex: 1},
			{Prefix: netip.MustParsePrefix("192.0.2.1/24"), LinkIndex: 2},
			{Prefix: netip.MustParsePrefix("fe80::1/64"), LinkIndex: 2},
			{Prefix: netip.MustParsePrefix("2001:db8::1/64"), LinkIndex: 2, Flags: unix.IFA_F_TEMPORARY},
			{Prefix: netip.MustParsePrefix("2001:db8::2/64"), LinkIndex: 2, Flags: unix.IFA_F_TENTATIVE},
			{Prefix: netip.MustParsePrefix("2001:db8::3/64"), LinkIndex: 2, Flags: unix.IFA_F_DEPRECATED},
			{Prefix: netip.MustParsePrefix("198.51.100.1/24"), LinkIndex: 3},
			{Prefix: netip.MustParsePrefix("10.9.9.1/24"), LinkIndex: 4},
			{Prefix: netip.MustParsePrefix("203.0.113.1/24"), LinkIndex: 5},
			{Prefix: netip.MustParsePrefix("100.64.0.1/10"), LinkIndex: 6},
			{Prefix: netip.MustParsePrefix("192.0.2.1/32"), LinkIndex: 6},
		},
		DefaultRoute4: true,
	}
	p, err := policy.Parse("p.toml", []byte(`version = 1
[addresses]
skip_temporary = true
[[rule]]
name = "no veth"
kind = "veth"
ignore = true
[[rule]]
name = "mobile"
kind = "wwan"
flags = ["subflow", "backup"]
ports = [22]
[[rule]]
name = "rest"
interface = "*"
flags = ["subflow"]
`))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Addr   string
		In     bool
		Flags  string
		Reason string
	}
	var got []row
	for _, d := range plan(p, st, map[string]string{"eth1": "NetworkManager"}) {
		got = append(got, row{d.Addr.String(), d.In, d.Flags, d.Reason})
	}
	want := []row{
		// In, by rule order: mobile (rule 2) before rest (rule 3).
		{"100.64.0.1", true, "subflow,backup", `matched rule "mobile"`},
		{"192.0.2.1", true, "subflow,backup", `matched rule "mobile"`},
		// The same address on eth0 (rule 3) after wwan0 (rule 2).
		{"192.0.2.1", false, "subflow", "the same address on wwan0 has the endpoint (one per address)"},
		// Out, by rule then link order.
		{"10.9.9.1", false, "", `ignored by rule "no veth"`},
		{"127.0.0.1", false, "", "loopback address"},
		{"2001:db8::1", false, "", "IPv6 temporary address (skip_temporary)"},
		{"2001:db8::2", false, "", "address is tentative (duplicate address detection not done)"},
		{"2001:db8::3", false, "", "address is deprecated (preferred lifetime over)"},
		{"fe80::1", false, "", "link-local address"},
		{"198.51.100.1", false, "", "interface has no carrier (oper state dormant)"},
		{"203.0.113.1", false, "", "interface managed by NetworkManager (coexist)"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

func TestParseMPTcpExt(t *testing.T) {
	in := "TcpExt: A B\nTcpExt: 1 2\nMPTcpExt: MPCapableSYNRX MPJoinSynRx\nMPTcpExt: 7 3\n"
	got, err := ParseMPTcpExt([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]uint64{"MPCapableSYNRX": 7, "MPJoinSynRx": 3}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "MPTcpExt: A B\nMPTcpExt: 1\n", "MPTcpExt: A\nMPTcpExt: x\n"} {
		if _, err := ParseMPTcpExt([]byte(bad)); err == nil {
			t.Errorf("ParseMPTcpExt(%q) accepted", bad)
		}
	}
}

func FuzzParseMPTcpExt(f *testing.F) {
	f.Add("MPTcpExt: A B\nMPTcpExt: 1 2\n")
	f.Add("IpExt: X\nIpExt: 1\nMPTcpExt: MPCapableSYNRX\nMPTcpExt: 18446744073709551615\n")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseMPTcpExt([]byte(in))
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
	})
}
