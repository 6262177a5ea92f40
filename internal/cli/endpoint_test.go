package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/pm"
)

func TestEndpointShowGolden(t *testing.T) {
	eps := []pm.Endpoint{
		{ID: 1, Addr: netip.MustParseAddr("10.0.0.1"), Port: 1234, Flags: pm.FlagSignal},
		{ID: 2, Addr: netip.MustParseAddr("10.0.2.1"), Flags: pm.FlagSubflow | pm.FlagBackup, IfIndex: 3},
		{ID: 3, Addr: netip.MustParseAddr("10.0.3.1"), Flags: pm.FlagSubflow | pm.FlagBackup | pm.FlagFullmesh, IfIndex: 1},
		{ID: 4, Addr: netip.MustParseAddr("2001:db8::1"), Flags: pm.FlagSignal | pm.FlagBackup},
		{ID: 5, Addr: netip.MustParseAddr("10.0.5.1"), Flags: pm.FlagSubflow | pm.FlagLaminar, IfIndex: 99}, // index without a name: no dev, as ip
		{ID: 6, Addr: netip.MustParseAddr("10.0.6.1"), Flags: pm.FlagImplicit},
		{ID: 200, Addr: netip.MustParseAddr("10.0.7.1")},
		{ID: 7, Addr: netip.MustParseAddr("10.0.8.1"), Flags: pm.FlagSubflow | 0x100},
	}
	names := map[int]string{1: "lo", 3: "eth1"}
	var human, js bytes.Buffer
	if err := writeEndpoints(&human, eps, names, false); err != nil {
		t.Fatal(err)
	}
	if err := writeEndpoints(&js, eps, names, true); err != nil {
		t.Fatal(err)
	}
	golden(t, "endpoint/show.txt", human.String())
	golden(t, "endpoint/show.json", js.String())

	var empty bytes.Buffer
	writeEndpoints(&empty, nil, nil, true)
	if empty.String() != "[]\n" {
		t.Errorf("empty JSON list = %q, want []", empty.String())
	}
}

// TestEndpointUsageErrors: mistakes found before anything is sent. They run
// with -n in a fresh namespace so that a missed check could not change the
// host.
func TestEndpointUsageErrors(t *testing.T) {
	ns := nstest.New(t, "usage")
	n := func(a ...string) []string { return append([]string{"-n", ns.Name}, a...) }
	got := transcript(t, strings.NewReplacer(ns.Name, "NS"), [][]string{
		n("endpoint", "add", "10.0.0.300", "subflow"),
		n("endpoint", "add", "10.0.2.1/24", "subflow"),
		n("endpoint", "add", "fe80::1%eth0", "subflow"),
		n("endpoint", "add", "10.0.2.1", "sbflow"),
		n("endpoint", "add", "subflow"),
		n("endpoint", "add", "10.0.2.1", "signal", "fullmesh"),
		n("endpoint", "add", "10.0.2.1", "port", "8080", "subflow"),
		n("endpoint", "add", "10.0.2.1", "port", "8080"),
		n("endpoint", "add", "10.0.2.1", "port", "8080", "signal", "subflow"),
		n("endpoint", "add", "10.0.2.1", "port", "70000", "signal"),
		n("endpoint", "add", "10.0.2.1", "id", "0", "subflow"),
		n("endpoint", "add", "10.0.2.1", "id", "256", "subflow"),
		n("endpoint", "add", "10.0.2.1", "implicit"),
		n("endpoint", "add", "10.0.2.1", "10.0.2.2", "subflow"),
		n("endpoint", "add", "10.0.2.1", "dev"),
		n("endpoint", "add", "10.0.2.1", "--bogus"),
		n("endpoint", "delete"),
		n("endpoint", "delete", "id", "0"),
		n("endpoint", "change", "id", "2"),
		n("endpoint", "change", "id", "2", "signal"),
		n("endpoint", "change", "id", "2", "backup", "nobackup"),
		n("endpoint", "show", "10.0.0.1"),
		n("endpoint", "flush", "now"),
		n("endpoint", "frobnicate"),
		{"-n", "mkt-no-such-namespace", "endpoint", "show"},
	})
	golden(t, "endpoint/usage_errors.txt", got)
	if out := ns.Run(t, "ip", "mptcp", "endpoint", "show"); out != "" {
		t.Errorf("bad input changed the endpoints:\n%s", out)
	}
}

// TestEndpointKernelErrors: mistakes that need the kernel's table to see.
func TestEndpointKernelErrors(t *testing.T) {
	ns := nstest.New(t, "kerr")
	n := func(a ...string) []string { return append([]string{"-n", ns.Name}, a...) }
	cmds := [][]string{}
	for i := 1; i <= 8; i++ {
		cmds = append(cmds, n("endpoint", "add", fmt.Sprintf("10.0.0.%d", i), "subflow"))
	}
	cmds = append(cmds,
		n("endpoint", "add", "10.0.0.9", "subflow"),                 // the 9th
		n("endpoint", "add", "10.0.0.3", "signal"),                  // duplicate
		n("endpoint", "delete", "id", "8"),                          //
		n("endpoint", "add", "10.0.0.9", "id", "2", "subflow"),      // id in use
		n("endpoint", "add", "10.0.0.9", "dev", "eth9", "subflow"),  // no such interface
		n("endpoint", "delete", "id", "3", "10.0.0.4"),              // id and address disagree
		n("endpoint", "delete", "id", "42"),                         // no such endpoint
		n("endpoint", "delete", "10.9.9.9"),                         //
		n("endpoint", "show", "id", "42"),                           //
		n("endpoint", "change", "10.9.9.9", "backup"),               //
		n("endpoint", "add", "10.0.0.20", "port", "1234", "signal"), // not a local address: cannot listen
	)
	got := transcript(t, strings.NewReplacer(ns.Name, "NS"), cmds)
	golden(t, "endpoint/kernel_errors.txt", got)
	// The table is exactly what the successful commands left.
	var eps []map[string]any
	if err := json.Unmarshal([]byte(ns.Run(t, "ip", "-j", "mptcp", "endpoint", "show")), &eps); err != nil {
		t.Fatal(err)
	}
	if len(eps) != 7 {
		t.Errorf("%d endpoints left, want 7: %v", len(eps), eps)
	}
}

// TestEndpointMatchesIP cross-checks with iproute2 both ways: what mptcpkit
// writes, `ip -j mptcp endpoint show` reads back; what ip writes, mptcpkit
// shows the same, human and JSON.
func TestEndpointMatchesIP(t *testing.T) {
	a, b := nstest.Pair(t, nstest.Paths(1, "10.0", "eth", "eth"))
	nstest.Link(t, a, "eth2", "2001:db8:2::1/64", b, "eth2", "2001:db8:2::2/64")
	run := func(args ...string) {
		t.Helper()
		if out, errs, code := runCLI(context.Background(), append([]string{"-n", a.Name}, args...)...); code != 0 {
			t.Fatalf("mptcpkit %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
	}
	// mptcpkit writes (with ip's abbreviations), ip reads.
	run("endpoint", "add", "10.0.1.1", "port", "1234", "signal")
	run("endp", "add", "10.0.1.5", "dev", "eth1", "subflow", "backup", "fullmesh")
	run("endpoint", "add", "2001:db8:2::1", "id", "200", "dev", "eth2", "signal", "backup")
	run("ep", "a", "10.0.1.7", "subflow")
	// ip writes, mptcpkit reads.
	a.Run(t, "ip", "mptcp", "endpoint", "add", "10.0.1.8", "dev", "lo", "subflow", "fullmesh")
	a.Run(t, "ip", "mptcp", "endpoint", "add", "2001:db8:2::9", "id", "9")

	compare := func(label string) {
		t.Helper()
		ipJSON := a.Run(t, "ip", "-j", "mptcp", "endpoint", "show")
		out, errs, code := runCLI(context.Background(), "-n", a.Name, "endpoint", "show", "-j")
		if code != 0 {
			t.Fatalf("%s: endpoint show -j: exit %d: %s", label, code, errs)
		}
		// Same bytes up to the trailing newline ip leaves out: same keys, same order.
		if strings.TrimSpace(out) != strings.TrimSpace(ipJSON) {
			t.Errorf("%s: JSON differs\n ip:       %s\n mptcpkit: %s", label, ipJSON, out)
		}
		ipText := a.Run(t, "ip", "mptcp", "endpoint", "show")
		out, _, _ = runCLI(context.Background(), "-n", a.Name, "endpoint", "list")
		// Byte for byte, trailing spaces included.
		if diff := cmp.Diff(ipText, out); diff != "" {
			t.Errorf("%s: text differs from ip's (-ip +mptcpkit):\n%s", label, diff)
		}
	}
	compare("after add")

	// change keeps the flag not named (the kernel alone would reset it).
	run("endpoint", "change", "id", "2", "nobackup")
	run("endpoint", "change", "2001:db8:2::1", "nobackup")
	ipShow := a.Run(t, "ip", "mptcp", "endpoint", "show", "id", "2")
	if want := "10.0.1.5 id 2 subflow fullmesh dev eth1"; strings.TrimSpace(ipShow) != want {
		t.Errorf("after change nobackup: ip shows %q, want %q", ipShow, want)
	}
	run("endpoint", "change", "id", "2", "backup", "nofullmesh")
	compare("after change")

	// show id, delete by id and by address, flush.
	out, _, _ := runCLI(context.Background(), "-n", a.Name, "-j", "endpoint", "show", "id", "200")
	if want := `[{"address":"2001:db8:2::1","id":200,"signal":true,"dev":"eth2"}]` + "\n"; out != want {
		t.Errorf("show id 200 -j = %q, want %q", out, want)
	}
	if out2, _, _ := runCLI(context.Background(), "-n", a.Name, "endpoint", "-j", "show", "id", "200"); out2 != out {
		t.Errorf("endpoint -j show id 200 = %q, want %q", out2, out)
	}
	run("endpoint", "delete", "id", "200")
	run("endpoint", "del", "10.0.1.7")
	compare("after delete")
	run("endpoint", "flush")
	if got := a.Run(t, "ip", "-j", "mptcp", "endpoint", "show"); strings.TrimSpace(got) != "[]" {
		t.Errorf("after flush ip shows %s", got)
	}
}

// TestEndpointLaminar: the 6.18 laminar flag round-trips (ip 6.1 cannot
// show it by name, so this compares with pm).
func TestEndpointLaminar(t *testing.T) {
	ns := nstest.New(t, "laminar")
	out, errs, code := runCLI(context.Background(), "-n", ns.Name, "endpoint", "add", "10.0.0.1", "subflow", "laminar")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	c, err := pm.Dial(&pm.Config{NetNS: ns.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eps, err := c.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 1 || eps[0].Flags&pm.FlagLaminar == 0 {
		t.Skipf("the kernel dropped the laminar flag (the kernel matrix: 6.18 keeps it, Debian's 6.12 and 6.1 drop it): %+v", eps)
	}
	out, _, _ = runCLI(context.Background(), "-n", ns.Name, "-j", "endpoint", "show")
	if want := `[{"address":"10.0.0.1","id":1,"subflow":true,"laminar":true}]` + "\n"; out != want {
		t.Errorf("show -j = %q, want %q", out, want)
	}
}

// TestCLIHelperProcess is not a test: the tests below run the test binary
// as mptcpkit (with fewer privileges) through it.
func TestCLIHelperProcess(t *testing.T) {
	args := os.Getenv("MPTCPKIT_CLI_HELPER_ARGS")
	if args == "" {
		t.Skip("helper process for TestEndpointNeedsNetAdmin")
	}
	os.Exit(Main(strings.Split(args, "\x1f")))
}

// TestEndpointNeedsNetAdmin runs commands that change the path manager
// without CAP_NET_ADMIN (dropped with setpriv): they say so before sending.
func TestEndpointNeedsNetAdmin(t *testing.T) {
	ns := nstest.New(t, "cap")
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv (util-linux) is needed to drop CAP_NET_ADMIN: %v", err)
	}
	var b strings.Builder
	for _, args := range [][]string{
		{"-n", ns.Name, "endpoint", "add", "10.0.0.1", "subflow"},
		{"-n", ns.Name, "limits", "set", "subflows", "4"},
		{"-n", ns.Name, "endpoint", "flush"},
		{"-n", ns.Name, "monitor"},
	} {
		cmd := exec.Command("setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin", "--",
			os.Args[0], "-test.run=^TestCLIHelperProcess$")
		cmd.Env = append(os.Environ(), "MPTCPKIT_CLI_HELPER_ARGS="+strings.Join(args, "\x1f"))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "$ mptcpkit %s\n%s%s[exit %d]\n\n", strings.Join(args, " "), out.String(), errb.String(), code)
	}
	golden(t, "endpoint/needs_net_admin.txt", strings.NewReplacer(ns.Name, "NS").Replace(b.String()))
	// Reading needs no privilege.
	if out := ns.Run(t, "ip", "mptcp", "endpoint", "show"); out != "" {
		t.Errorf("endpoints were added without CAP_NET_ADMIN:\n%s", out)
	}
}

// TestPMErrPermission: a kernel EPERM is worded like the local check.
func TestPMErrPermission(t *testing.T) {
	err := pmErr(&pm.Error{Op: "add endpoint", Err: unix.EPERM})
	if !errors.Is(err, errNeedAdmin) || !strings.HasPrefix(err.Error(), "needs CAP_NET_ADMIN: run as root or with sudo") {
		t.Errorf("pmErr(EPERM) = %v", err)
	}
	if err := pmErr(&pm.Error{Op: "add endpoint", Err: unix.EEXIST}); errors.Is(err, errNeedAdmin) {
		t.Errorf("pmErr(EEXIST) = %v", err)
	}
}

func TestEndpointHelp(t *testing.T) {
	for _, args := range [][]string{
		{"endpoint", "--help"}, {"endpoint", "-h"}, {"help", "endpoint"},
		{"endpoint", "add", "--help"}, {"endpoint", "delete", "--help"}, {"endpoint", "show", "--help"},
		{"endpoint", "flush", "--help"}, {"endpoint", "change", "--help"},
		{"limits", "--help"}, {"limits", "set", "--help"}, {"monitor", "--help"}, {"check", "--help"},
	} {
		out, errs, code := runCLI(context.Background(), args...)
		if code != 0 || errs != "" || !strings.Contains(out, "Usage:") || !strings.Contains(out, "Example") {
			t.Errorf("mptcpkit %s: exit %d, stderr %q, stdout lacks usage or examples:\n%s", strings.Join(args, " "), code, errs, out)
		}
	}
	out, _, _ := runCLI(context.Background(), "endpoint", "add", "--help")
	if !strings.Contains(out, "endpoint add ADDR [port P] [dev IFNAME] [id ID]") {
		t.Errorf("endpoint add --help is not the add help:\n%s", out)
	}
}

// TestEndpointChangeWithPort: an endpoint added with a port can be changed
// by id and by address+port, as with ip (issue 12 point 2: the request now
// carries the port; it said "no endpoint with id 1" before).
func TestEndpointChangeWithPort(t *testing.T) {
	ns := nstest.New(t, "port")
	ns.Run(t, "ip", "addr", "add", "10.0.1.2/32", "dev", "lo")
	run := func(args ...string) {
		t.Helper()
		if out, errs, code := runCLI(context.Background(), append([]string{"-n", ns.Name}, args...)...); code != 0 {
			t.Fatalf("mptcpkit %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
	}
	show := func() string { return ns.Run(t, "ip", "mptcp", "endpoint", "show") }
	run("endpoint", "add", "10.0.1.2", "port", "1234", "signal")
	run("endpoint", "change", "id", "1", "backup")
	if got, want := show(), "10.0.1.2 port 1234 id 1 signal backup \n"; got != want {
		t.Errorf("after change id 1 backup: ip shows %q, want %q", got, want)
	}
	run("endpoint", "change", "10.0.1.2", "port", "1234", "nobackup")
	if got, want := show(), "10.0.1.2 port 1234 id 1 signal \n"; got != want {
		t.Errorf("after change 10.0.1.2 port 1234 nobackup: ip shows %q, want %q", got, want)
	}
	run("endpoint", "change", "10.0.1.2", "backup") // the only endpoint for the address
	if got, want := show(), "10.0.1.2 port 1234 id 1 signal backup \n"; got != want {
		t.Errorf("after change 10.0.1.2 backup: ip shows %q, want %q", got, want)
	}
}

// TestEndpointIPWords: what ip accepts is accepted (issue 12 point 4, issue
// 13 point 10): numbers in hex, keyword abbreviations (i, d, p), the verb
// abbreviations e/en of `ip mptcp`; flags may be abbreviated where that is
// unambiguous (sub, sig). Exit statuses are ip's: 255 for a mistake on the
// command line, 2 for a refusal. An endpoint that will do nothing gets a
// warning on stderr (issue 13 point 6) and exit 0, as ip.
func TestEndpointIPWords(t *testing.T) {
	ns := nstest.New(t, "words")
	ns.Run(t, "ip", "addr", "add", "10.0.1.1/32", "dev", "lo")
	ns.Run(t, "ip", "addr", "add", "10.0.1.2/32", "dev", "lo")
	got := transcript(t, strings.NewReplacer(ns.Name, "NS"), [][]string{
		{"-n", ns.Name, "e", "add", "10.0.1.1", "i", "0x10", "d", "lo", "sub"},
		{"-n", ns.Name, "en", "a", "10.0.1.2", "id", "012", "sig", "p", "0x50"},
		{"-n", ns.Name, "endpoint", "add", "10.0.1.1", "dev", "lo"},
		{"-n", ns.Name, "endpoint", "add", "10.0.1.3", "s"},
		{"-n", ns.Name, "endpoint", "change", "i", "0x10", "back"},
		{"-n", ns.Name, "endpoint", "show"},
		{"-n", ns.Name, "endpoint", "add", "10.0.1.5", "id", "0x100"},
		{"-n", ns.Name, "endpoint", "add", "10.0.1.1", "subflow"},
		{"-n", ns.Name, "e", "flush"},
		{"-n", ns.Name, "endpoint", "add", "10.0.1.1", "dev", "lo"},
		{"-n", ns.Name, "endpoint", "add", "10.0.9.9", "subflow"},
	})
	golden(t, "endpoint/ip_words.txt", got)
	if got, want := ns.Run(t, "ip", "mptcp", "endpoint", "show"), "10.0.1.1 id 1 dev lo \n10.0.9.9 id 2 subflow \n"; got != want {
		t.Errorf("ip shows %q, want %q", got, want)
	}
}
