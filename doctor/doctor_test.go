package doctor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/doctor"
	"github.com/mptcpkit/mptcpkit/pm"
)

// healthy is a host where nothing needs fixing: MPTCP on, one subflow
// endpoint on an up interface, matching limits, no other managers.
func healthy() *doctor.FixedFacts {
	return &doctor.FixedFacts{
		Release: "6.18.0",
		SysctlValues: map[string]string{
			"net.mptcp.enabled":                 "1",
			"net.mptcp.path_manager":            "kernel",
			"net.mptcp.pm_type":                 "0",
			"net.mptcp.available_path_managers": "kernel userspace",
			"net.mptcp.checksum_enabled":        "0",
		},
		LimitValues:  pm.Limits{Subflows: 2, AddAddrAccepted: 2},
		EndpointList: []pm.Endpoint{{ID: 1, Addr: netip.MustParseAddr("10.0.2.1"), Flags: pm.FlagSubflow, IfIndex: 3}},
		InterfaceList: []doctor.Interface{
			{Index: 1, Name: "lo", Up: true, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}},
			{Index: 2, Name: "eth0", Up: true, Addrs: []netip.Addr{netip.MustParseAddr("10.0.1.1")}},
			{Index: 3, Name: "eth1", Up: true, Addrs: []netip.Addr{netip.MustParseAddr("10.0.2.1")}},
		},
		ProcessList: []doctor.Process{{PID: 1, Comm: "systemd", SameNetNS: true}},
		BTFInfo:     doctor.BTF{VMLinux: true, UpdateSocketProtocol: true},
	}
}

// problem is a finding of severity warn or error, without its wording.
type problem struct {
	Check    string
	Severity string
	Fix      string
}

func problems(r *doctor.Report) []problem {
	var out []problem
	for _, f := range r.Findings {
		if f.Severity >= doctor.Warn {
			out = append(out, problem{f.Check, f.Severity.String(), f.Fix})
		}
	}
	return out
}

func TestCheck(t *testing.T) {
	ep := func(id uint8, addr string, flags pm.Flags, ifindex int) pm.Endpoint {
		return pm.Endpoint{ID: id, Addr: netip.MustParseAddr(addr), Flags: flags, IfIndex: ifindex}
	}
	tests := []struct {
		name       string
		netns      string
		modify     func(s *doctor.FixedFacts)
		wantUsable bool
		want       []problem
		// wantSummary must appear in some finding's summary.
		wantSummary string
	}{
		{
			name:        "healthy",
			modify:      func(s *doctor.FixedFacts) {},
			wantUsable:  true,
			wantSummary: "MPTCP sockets can be created (Linux 6.18.0)",
		},
		{
			name:        "kernel before 5.6",
			modify:      func(s *doctor.FixedFacts) { s.Socket4Err = unix.EINVAL; s.Release = "5.4.0" },
			want:        []problem{{"kernel", "error", "upgrade to a kernel that has MPTCP (CONFIG_MPTCP=y): mptcpkit is tested on Debian's 6.1 and 6.12 and on 6.18 (its kernel matrix)"}},
			wantSummary: "fails with EINVAL",
		},
		{
			name:        "built without MPTCP",
			modify:      func(s *doctor.FixedFacts) { s.Socket4Err = unix.EPROTONOSUPPORT },
			want:        []problem{{"kernel", "error", "boot a kernel built with CONFIG_MPTCP=y and CONFIG_MPTCP_IPV6=y (Debian, Ubuntu, Fedora and RHEL kernels have it)"}},
			wantSummary: "built without MPTCP (CONFIG_MPTCP is not set)",
		},
		{
			name: "disabled by sysctl",
			modify: func(s *doctor.FixedFacts) {
				s.Socket4Err = unix.ENOPROTOOPT
				s.SysctlValues["net.mptcp.enabled"] = "0"
			},
			want:        []problem{{"kernel", "error", "sysctl -w net.mptcp.enabled=1   # to keep it: echo net.mptcp.enabled=1 > /etc/sysctl.d/90-mptcp.conf"}},
			wantSummary: "net.mptcp.enabled=0",
		},
		{
			name:  "disabled in a namespace",
			netns: "blue",
			modify: func(s *doctor.FixedFacts) {
				s.Socket4Err = unix.ENOPROTOOPT
				s.SysctlValues["net.mptcp.enabled"] = "0"
			},
			want: []problem{{"kernel", "error", "ip netns exec blue sysctl -w net.mptcp.enabled=1   # to keep it: echo net.mptcp.enabled=1 > /etc/sysctl.d/90-mptcp.conf"}},
		},
		{
			name:       "no IPv6 MPTCP",
			modify:     func(s *doctor.FixedFacts) { s.Socket6Err = unix.EPROTONOSUPPORT },
			wantUsable: true,
			want:       []problem{{"kernel", "warn", "boot a kernel built with CONFIG_MPTCP_IPV6=y"}},
		},
		{
			name: "three subflow endpoints, limit 2",
			modify: func(s *doctor.FixedFacts) {
				s.InterfaceList[2].Addrs = append(s.InterfaceList[2].Addrs, netip.MustParseAddr("10.0.2.2"), netip.MustParseAddr("10.0.2.3"))
				s.EndpointList = append(s.EndpointList, ep(2, "10.0.2.2", pm.FlagSubflow, 3), ep(3, "10.0.2.3", pm.FlagSubflow, 0))
			},
			wantUsable:  true,
			want:        []problem{{"limits", "warn", "mptcpkit limits set subflows 3"}},
			wantSummary: "3 subflow endpoints but the subflow limit is 2",
		},
		{
			name:        "one endpoint",
			modify:      func(s *doctor.FixedFacts) {},
			wantUsable:  true,
			wantSummary: "limits: subflows 2, add_addr_accepted 2; 1 endpoint (1 subflow, 0 signal)",
		},
		{
			name:        "in a namespace, fixes name it",
			netns:       "lab1-client",
			modify:      func(s *doctor.FixedFacts) { s.LimitValues.Subflows = 0 },
			wantUsable:  true,
			want:        []problem{{"limits", "warn", "mptcpkit -n lab1-client limits set subflows 1"}},
			wantSummary: "each connection opens only 0 extra subflows, so 1 of them stays unused",
		},
		{
			name: "signal endpoints with add_addr_accepted 0 and subflows 0",
			modify: func(s *doctor.FixedFacts) {
				s.LimitValues = pm.Limits{}
				s.EndpointList = []pm.Endpoint{ep(1, "10.0.2.1", pm.FlagSignal, 0)}
			},
			wantUsable: true,
			want: []problem{
				{"limits", "warn", "mptcpkit limits set subflows 1"},
				{"limits", "warn", "mptcpkit limits set add_addr_accepted 1   # on each client"},
			},
		},
		{
			name:        "flag-less endpoint",
			modify:      func(s *doctor.FixedFacts) { s.EndpointList[0].Flags = 0 },
			wantUsable:  true,
			want:        []problem{{"endpoint", "warn", "mptcpkit endpoint delete id 1 && mptcpkit endpoint add 10.0.2.1 dev eth1 subflow"}},
			wantSummary: "does nothing",
		},
		{
			name:        "interface down",
			modify:      func(s *doctor.FixedFacts) { s.InterfaceList[2].Up = false },
			wantUsable:  true,
			want:        []problem{{"endpoint", "warn", "ip link set eth1 up   # or: mptcpkit endpoint delete id 1"}},
			wantSummary: "bound to eth1, which is down",
		},
		{
			name:        "no carrier",
			modify:      func(s *doctor.FixedFacts) { s.InterfaceList[2].NoCarrier = true },
			wantUsable:  true,
			want:        []problem{{"endpoint", "warn", "check eth1's cable or link   # or: mptcpkit endpoint delete id 1"}},
			wantSummary: "up but has no carrier",
		},
		{
			name: "address on a down interface, no dev",
			modify: func(s *doctor.FixedFacts) {
				s.EndpointList[0].IfIndex = 0
				s.InterfaceList[2].Up = false
			},
			wantUsable: true,
			want:       []problem{{"endpoint", "warn", "ip link set eth1 up   # or: mptcpkit endpoint delete id 1"}},
		},
		{
			name:        "address gone",
			modify:      func(s *doctor.FixedFacts) { s.InterfaceList[2].Addrs = nil },
			wantUsable:  true,
			want:        []problem{{"endpoint", "warn", "mptcpkit endpoint delete id 1"}},
			wantSummary: "10.0.2.1 is not assigned to any interface",
		},
		{
			name:        "interface gone",
			modify:      func(s *doctor.FixedFacts) { s.InterfaceList = s.InterfaceList[:2] },
			wantUsable:  true,
			want:        []problem{{"endpoint", "warn", "mptcpkit endpoint delete id 1"}},
			wantSummary: "interface index 3, which no longer exists",
		},
		{
			name: "mptcpd in this namespace",
			modify: func(s *doctor.FixedFacts) {
				s.ProcessList = append(s.ProcessList, doctor.Process{PID: 42, Comm: "mptcpd", SameNetNS: true})
			},
			wantUsable: true,
			want:       []problem{{"managers", "warn", "systemctl disable --now mptcp.service   # or stop mptcpd (pid 42)"}},
		},
		{
			name: "mptcpd in another namespace is not ours",
			modify: func(s *doctor.FixedFacts) {
				s.ProcessList = append(s.ProcessList, doctor.Process{PID: 42, Comm: "mptcpd"})
			},
			wantUsable:  true,
			wantSummary: "no other endpoint manager",
		},
		{
			name: "NetworkManager with MPTCP",
			modify: func(s *doctor.FixedFacts) {
				s.ProcessList = append(s.ProcessList, doctor.Process{PID: 7, Comm: "NetworkManager", SameNetNS: true})
			},
			wantUsable: true,
			want: []problem{{"managers", "warn",
				`printf '[connection]\nconnection.mptcp-flags=0x1\n' > /etc/NetworkManager/conf.d/90-mptcp-off.conf && systemctl reload NetworkManager   # or per connection: nmcli connection modify NAME connection.mptcp-flags disabled`}},
		},
		{
			name: "NetworkManager with MPTCP disabled",
			modify: func(s *doctor.FixedFacts) {
				s.ProcessList = append(s.ProcessList, doctor.Process{PID: 7, Comm: "NetworkManager", SameNetNS: true})
				s.NM = doctor.NetworkManagerConfig{MPTCPFlags: "0x1", File: "/etc/NetworkManager/conf.d/mptcp.conf"}
			},
			wantUsable:  true,
			wantSummary: "it leaves the endpoints alone",
		},
		{
			name: "userspace PM without a daemon",
			modify: func(s *doctor.FixedFacts) {
				s.SysctlValues["net.mptcp.path_manager"] = "userspace"
			},
			wantUsable:  true,
			want:        []problem{{"path-manager", "warn", "mptcpkit daemon   # or: sysctl -w net.mptcp.path_manager=kernel"}},
			wantSummary: "userspace path manager ignores them",
		},
		{
			name: "userspace PM (old pm_type) with mptcpd",
			modify: func(s *doctor.FixedFacts) {
				delete(s.SysctlValues, "net.mptcp.path_manager")
				s.SysctlValues["net.mptcp.pm_type"] = "1"
				s.ProcessList = append(s.ProcessList, doctor.Process{PID: 42, Comm: "mptcpd", SameNetNS: true})
			},
			wantUsable: true,
			want:       []problem{{"managers", "warn", "systemctl disable --now mptcp.service   # or stop mptcpd (pid 42)"}},
		},
		{
			name: "mptcpkit daemon alongside mptcpd",
			modify: func(s *doctor.FixedFacts) {
				s.ProcessList = append(s.ProcessList,
					doctor.Process{PID: 42, Comm: "mptcpd", SameNetNS: true},
					doctor.Process{PID: 43, Comm: "mptcpkit", Args: []string{"mptcpkit", "-v", "daemon"}, SameNetNS: true})
			},
			wantUsable:  true,
			want:        []problem{{"managers", "warn", "systemctl disable --now mptcp.service   # or stop mptcpd (pid 42)"}},
			wantSummary: "mptcpkit daemon runs in this namespace (pid 43)",
		},
		{
			name:        "no BTF",
			modify:      func(s *doctor.FixedFacts) { s.BTFInfo = doctor.BTF{} },
			wantUsable:  true,
			wantSummary: "/sys/kernel/btf/vmlinux is missing",
		},
		{
			name:        "BTF without the hook",
			modify:      func(s *doctor.FixedFacts) { s.BTFInfo.UpdateSocketProtocol = false },
			wantUsable:  true,
			wantSummary: "not the BPF hook update_socket_protocol",
		},
		{
			name: "hook present but the kernel refuses trampolines",
			modify: func(s *doctor.FixedFacts) {
				s.BTFInfo.LoadError = "the kernel refused the BPF trampoline (operation not permitted)"
			},
			wantUsable:  true,
			wantSummary: "refused mptcpkit's program on it, so `mptcpkit force` cannot work here: the kernel refused the BPF trampoline",
		},
		{
			name: "path manager family missing",
			modify: func(s *doctor.FixedFacts) {
				s.Errs = map[string]error{"Limits": fmt.Errorf("pm: %w", pm.ErrNotSupported)}
			},
			wantUsable: true,
			want:       []problem{{"limits", "warn", "upgrade to a kernel with the mptcp_pm netlink family (CONFIG_MPTCP=y; Debian's 6.1 and newer have it)"}},
		},
		{
			name: "nine endpoints' worth of noise: at the ceiling",
			modify: func(s *doctor.FixedFacts) {
				s.LimitValues = pm.Limits{Subflows: 8, AddAddrAccepted: 8}
				s.EndpointList = nil
				for i := 1; i <= 8; i++ {
					a := netip.AddrFrom4([4]byte{10, 0, 2, byte(i)})
					s.InterfaceList[2].Addrs = append(s.InterfaceList[2].Addrs, a)
					s.EndpointList = append(s.EndpointList, pm.Endpoint{ID: uint8(i), Addr: a, Flags: pm.FlagSubflow})
				}
			},
			wantUsable:  true,
			wantSummary: "8 endpoints: the kernel's maximum",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := healthy()
			tt.modify(s)
			r := doctor.Check(context.Background(), s, &doctor.Options{NetNS: tt.netns})
			if r.Usable != tt.wantUsable {
				t.Errorf("Usable = %v, want %v", r.Usable, tt.wantUsable)
			}
			if diff := cmp.Diff(tt.want, problems(r)); diff != "" {
				t.Errorf("problems (-want +got):\n%s\nall findings: %+v", diff, r.Findings)
			}
			if (r.Worst() == doctor.Error) == tt.wantUsable {
				t.Errorf("Worst() = %v but Usable = %v", r.Worst(), r.Usable)
			}
			if tt.wantSummary != "" {
				found := false
				for _, f := range r.Findings {
					found = found || strings.Contains(f.Summary, tt.wantSummary)
				}
				if !found {
					t.Errorf("no finding says %q; findings: %+v", tt.wantSummary, r.Findings)
				}
			}
		})
	}
}

func TestCheckUnreadableFacts(t *testing.T) {
	s := healthy()
	boom := errors.New("boom")
	s.Errs = map[string]error{"Sysctls": boom, "Endpoints": boom, "Processes": boom, "KernelBTF": boom, "Interfaces": boom}
	r := doctor.Check(context.Background(), s, nil)
	if !r.Usable {
		t.Fatalf("unreadable facts made MPTCP unusable: %+v", r.Findings)
	}
	var boomed int
	for _, f := range r.Findings {
		if strings.Contains(f.Summary, "boom") {
			boomed++
		}
	}
	if boomed != 4 { // sysctls, endpoints, processes, BTF (no endpoints: interfaces unread)
		t.Errorf("%d findings report the errors, want 4: %+v", boomed, r.Findings)
	}
}

func TestReportJSON(t *testing.T) {
	s := healthy()
	s.Socket4Err = unix.ENOPROTOOPT
	r := doctor.Check(context.Background(), s, nil)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Usable   bool
		Kernel   string
		Findings []struct {
			Check, Severity, Summary, Fix string
		}
		Limits *struct {
			AddAddrAccepted, Subflows uint32
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Usable || got.Kernel != "6.18.0" || len(got.Findings) == 0 || got.Findings[0].Severity != "error" || got.Findings[0].Check != "kernel" {
		t.Errorf("JSON report = %s", b)
	}
	var sev doctor.Severity
	for _, n := range []string{"ok", "info", "warn", "error"} {
		if err := sev.UnmarshalText([]byte(n)); err != nil || sev.String() != n {
			t.Errorf("severity %q round trip: %v, %v", n, sev, err)
		}
	}
	if err := sev.UnmarshalText([]byte("fatal")); err == nil {
		t.Error("UnmarshalText(fatal) succeeded")
	}
}
