package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/doctor"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/pm"
)

// TestCheckReportGolden prints reports of fixed facts, for people and as JSON.
func TestCheckReportGolden(t *testing.T) {
	facts := &doctor.FixedFacts{
		Release: "6.18.0",
		SysctlValues: map[string]string{
			"net.mptcp.enabled": "1", "net.mptcp.path_manager": "kernel",
			"net.mptcp.available_path_managers": "kernel userspace", "net.mptcp.checksum_enabled": "0",
		},
		LimitValues: pm.Limits{Subflows: 2, AddAddrAccepted: 2},
		EndpointList: []pm.Endpoint{
			{ID: 1, Addr: netip.MustParseAddr("10.0.2.1"), Flags: pm.FlagSubflow, IfIndex: 3},
			{ID: 2, Addr: netip.MustParseAddr("10.0.3.1"), Flags: pm.FlagSubflow, IfIndex: 4},
			{ID: 3, Addr: netip.MustParseAddr("10.0.4.1"), Flags: pm.FlagSubflow},
			{ID: 4, Addr: netip.MustParseAddr("10.0.5.1")},
		},
		InterfaceList: []doctor.Interface{
			{Index: 3, Name: "eth1", Up: true, Addrs: []netip.Addr{netip.MustParseAddr("10.0.2.1"), netip.MustParseAddr("10.0.5.1")}},
			{Index: 4, Name: "wwan0", Up: false, Addrs: []netip.Addr{netip.MustParseAddr("10.0.3.1")}},
		},
		ProcessList: []doctor.Process{{PID: 812, Comm: "NetworkManager", SameNetNS: true}},
		BTFInfo:     doctor.BTF{VMLinux: true, UpdateSocketProtocol: true},
	}
	var human, js bytes.Buffer
	r := doctor.Check(context.Background(), facts, &doctor.Options{NetNS: "lab1-client"})
	writeReport(&human, r, false)
	writeReport(&js, r, true)
	facts.Socket4Err = unix.ENOPROTOOPT
	writeReport(&human, doctor.Check(context.Background(), facts, nil), false)
	golden(t, "check/report.txt", human.String())
	golden(t, "check/report.json", js.String())
}

// TestCheckDisabledNamespace runs `mptcpkit -n NS check` where MPTCP is
// off: exit status 1, the reason and the fix; -j says usable false.
func TestCheckDisabledNamespace(t *testing.T) {
	ns := nstest.New(t, "off")
	ns.Sysctl(t, "net.mptcp.enabled", "0")
	out, errs, code := runCLI(context.Background(), "-n", ns.Name, "check")
	if code != 1 {
		t.Errorf("exit %d, want 1 (stderr %q)", code, errs)
	}
	for _, want := range []string{
		"error kernel",
		"ENOPROTOOPT",
		"fix: ip netns exec " + ns.Name + " sysctl -w net.mptcp.enabled=1",
		"MPTCP is NOT usable here",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	out, _, code = runCLI(context.Background(), "-n", ns.Name, "check", "-j")
	var r struct {
		Usable   bool              `json:"usable"`
		Sysctls  map[string]string `json:"sysctls"`
		Findings []doctor.Finding  `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("check -j: %v\n%s", err, out)
	}
	if code != 1 || r.Usable || r.Sysctls["net.mptcp.enabled"] != "0" || r.Findings[0].Severity != doctor.Error {
		t.Errorf("check -j: exit %d, usable %v, enabled %q, first finding %+v", code, r.Usable, r.Sysctls["net.mptcp.enabled"], r.Findings[0])
	}
}

// TestCheckLimitWarning: three subflow endpoints with the default subflow
// limit of 2 give a warning (exit 0: MPTCP still works) with the fix, and
// the fix makes it go away.
func TestCheckLimitWarning(t *testing.T) {
	ns := nstest.New(t, "lim")
	for _, a := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		if _, errs, code := runCLI(context.Background(), "-n", ns.Name, "endpoint", "add", a, "dev", "lo", "subflow"); code != 0 {
			t.Fatalf("endpoint add %s: %s", a, errs)
		}
	}
	ns.Run(t, "ip", "addr", "add", "127.0.0.2/8", "dev", "lo")
	ns.Run(t, "ip", "addr", "add", "127.0.0.3/8", "dev", "lo")
	ns.Run(t, "ip", "addr", "add", "127.0.0.4/8", "dev", "lo")
	out, _, code := runCLI(context.Background(), "-n", ns.Name, "check")
	fix := "mptcpkit -n " + ns.Name + " limits set subflows 3"
	if code != 0 || !strings.Contains(out, "warn  limits       3 subflow endpoints but the subflow limit is 2") || !strings.Contains(out, "fix: "+fix) {
		t.Fatalf("exit %d; output lacks the limits warning or its fix:\n%s", code, out)
	}
	if _, errs, code := runCLI(context.Background(), strings.Fields(fix)[1:]...); code != 0 {
		t.Fatalf("%s: %s", fix, errs)
	}
	out, _, _ = runCLI(context.Background(), "-n", ns.Name, "check")
	if strings.Contains(out, "subflow limit is") {
		t.Errorf("warning still there after the fix:\n%s", out)
	}
}
