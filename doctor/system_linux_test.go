package doctor_test

import (
	"github.com/mptcpkit/mptcpkit/force/bpfprog"

	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/doctor"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

func findingsOf(r *doctor.Report, check string, sev doctor.Severity) []doctor.Finding {
	var out []doctor.Finding
	for _, f := range r.Findings {
		if f.Check == check && f.Severity == sev {
			out = append(out, f)
		}
	}
	return out
}

// TestSystemDisabled turns MPTCP off in a namespace: the kernel answers
// ENOPROTOOPT and the report says so, with the sysctl that fixes it.
func TestSystemDisabled(t *testing.T) {
	ns := nstest.New(t, "off")
	ns.Sysctl(t, "net.mptcp.enabled", "0")
	r := doctor.Check(context.Background(), doctor.System(ns.NetNS), &doctor.Options{NetNS: ns.Name})
	if r.Usable {
		t.Fatalf("Usable with net.mptcp.enabled=0: %+v", r.Findings)
	}
	errs := findingsOf(r, "kernel", doctor.Error)
	if len(errs) != 1 {
		t.Fatalf("kernel errors = %+v, want one", errs)
	}
	if !strings.Contains(errs[0].Summary, "ENOPROTOOPT") || !strings.Contains(errs[0].Summary, "net.mptcp.enabled=0") {
		t.Errorf("summary %q does not explain ENOPROTOOPT", errs[0].Summary)
	}
	if want := "ip netns exec " + ns.Name + " sysctl -w net.mptcp.enabled=1"; !strings.HasPrefix(errs[0].Fix, want) {
		t.Errorf("fix = %q, want it to start with %q", errs[0].Fix, want)
	}
	if r.Sysctls["net.mptcp.enabled"] != "0" {
		t.Errorf("sysctls read in the namespace: enabled=%q, want 0", r.Sysctls["net.mptcp.enabled"])
	}

	// The fix works.
	ns.Sysctl(t, "net.mptcp.enabled", "1")
	r = doctor.Check(context.Background(), doctor.System(ns.NetNS), &doctor.Options{NetNS: ns.Name})
	if !r.Usable || r.Worst() == doctor.Error {
		t.Errorf("after the fix: usable %v, findings %+v", r.Usable, r.Findings)
	}
}

// TestSystemEndpoints checks limits against endpoints and endpoints against
// interfaces in a real namespace.
func TestSystemEndpoints(t *testing.T) {
	a, b := nstest.Pair(t, nstest.Paths(1, "10.0", "eth", "eth"))
	for _, addr := range []string{"10.0.1.11/24", "10.0.1.12/24"} {
		a.Run(t, "ip", "addr", "add", addr, "dev", "eth1")
	}
	for _, addr := range []string{"10.0.1.1", "10.0.1.11", "10.0.1.12"} {
		a.Run(t, "ip", "mptcp", "endpoint", "add", addr, "dev", "eth1", "subflow")
	}
	a.Run(t, "ip", "mptcp", "endpoint", "add", "10.9.9.9", "signal") // no such address here
	opts := &doctor.Options{NetNS: a.Name}

	r := doctor.Check(context.Background(), doctor.System(a.NetNS), opts)
	if !r.Usable {
		t.Fatalf("not usable: %+v", r.Findings)
	}
	if r.PathManager != "kernel" || r.Limits == nil || r.Limits.Subflows != 2 || len(r.Endpoints) != 4 {
		t.Fatalf("path manager %q, limits %+v, %d endpoints; want kernel, subflows 2, 4", r.PathManager, r.Limits, len(r.Endpoints))
	}
	var limitFix, staleFix bool
	for _, f := range findingsOf(r, "limits", doctor.Warn) {
		if strings.Contains(f.Summary, "3 subflow endpoints but the subflow limit is 2") && f.Fix == "mptcpkit -n "+a.Name+" limits set subflows 3" {
			limitFix = true
		}
	}
	for _, f := range findingsOf(r, "endpoint", doctor.Warn) {
		if strings.Contains(f.Summary, "10.9.9.9 is not assigned to any interface") && f.Fix == "mptcpkit -n "+a.Name+" endpoint delete id 4" {
			staleFix = true
		}
	}
	if !limitFix || !staleFix {
		t.Errorf("limit warning found: %v, stale endpoint warning found: %v; findings:\n%+v", limitFix, staleFix, r.Findings)
	}

	// The peer goes down: eth1 stays up but loses its carrier.
	// The kernel's linkwatch updates IFF_RUNNING up to a second later.
	b.Run(t, "ip", "link", "set", "eth1", "down")
	var noCarrier int
	for deadline := time.Now().Add(3 * time.Second); noCarrier == 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		r = doctor.Check(context.Background(), doctor.System(a.NetNS), opts)
		for _, f := range findingsOf(r, "endpoint", doctor.Warn) {
			if strings.Contains(f.Summary, "eth1, which is up but has no carrier") {
				noCarrier++
			}
		}
	}
	if noCarrier != 3 {
		t.Errorf("%d endpoints flagged without carrier, want 3; findings:\n%+v", noCarrier, r.Findings)
	}

	// Interface down: the three endpoints bound to it are flagged.
	a.Run(t, "ip", "link", "set", "eth1", "down")
	r = doctor.Check(context.Background(), doctor.System(a.NetNS), opts)
	var down int
	for _, f := range findingsOf(r, "endpoint", doctor.Warn) {
		if strings.Contains(f.Summary, "eth1, which is down") && strings.HasPrefix(f.Fix, "ip -n "+a.Name+" link set eth1 up") {
			down++
		}
	}
	if down != 3 {
		t.Errorf("%d endpoints flagged as down, want 3; findings:\n%+v", down, r.Findings)
	}
}

// TestSystemMptcpd starts a program called mptcpd inside the namespace: the
// check finds it there, and not from another namespace.
func TestSystemMptcpd(t *testing.T) {
	ns, other := nstest.New(t, "pm"), nstest.New(t, "other")
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(t.TempDir(), "mptcpd")
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fake, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(fake, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	var r *doctor.Report
	for range 50 { // ip netns exec needs a moment to exec the program
		r = doctor.Check(context.Background(), doctor.System(ns.NetNS), &doctor.Options{NetNS: ns.Name})
		if len(findingsOf(r, "managers", doctor.Warn)) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	w := findingsOf(r, "managers", doctor.Warn)
	if len(w) != 1 || !strings.Contains(w[0].Summary, "mptcpd runs in this namespace") {
		t.Fatalf("managers warnings = %+v", w)
	}
	r = doctor.Check(context.Background(), doctor.System(other.NetNS), nil)
	if w := findingsOf(r, "managers", doctor.Warn); len(w) != 0 {
		t.Errorf("mptcpd of another namespace reported: %+v", w)
	}
}

func TestSystemBTF(t *testing.T) {
	b, err := doctor.System(nil).KernelBTF()
	if err != nil {
		t.Fatal(err)
	}
	_, serr := os.Stat("/sys/kernel/btf/vmlinux")
	if b.VMLinux != (serr == nil) {
		t.Errorf("VMLinux = %v, but stat says %v", b.VMLinux, serr)
	}
	if errors.Is(serr, fs.ErrNotExist) {
		t.Skip("kernel without BTF (/sys/kernel/btf/vmlinux): cannot look for update_socket_protocol")
	}
	// The hook exists from 6.6 on; the machines run 6.18.
	var rel string
	if rel, err = doctor.System(nil).KernelRelease(); err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(rel, "6.18") && !b.UpdateSocketProtocol {
		t.Errorf("Linux %s: update_socket_protocol not found in BTF", rel)
	}
	// LoadError must agree with what the force package finds when it loads
	// the same program: set exactly when the kernel refuses it.
	if b.UpdateSocketProtocol {
		perr := bpfprog.Probe()
		if (perr != nil) != (b.LoadError != "") {
			t.Errorf("LoadError = %q, but bpfprog.Probe() = %v", b.LoadError, perr)
		}
		if perr != nil {
			t.Logf("kernel refuses the fmod_ret program: %v", perr)
		}
	}
}

// TestSystemProcesses: the process list holds this test with its
// arguments, in the namespace checked or not, and a program started in a
// test namespace as living there.
func TestSystemProcesses(t *testing.T) {
	ns := nstest.New(t, "procs")
	cmd := ns.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// ip netns exec execs sleep: wait until it has.
	find := func(ps []doctor.Process, pid int) *doctor.Process {
		for i := range ps {
			if ps[i].PID == pid {
				return &ps[i]
			}
		}
		return nil
	}
	for _, c := range []struct {
		name      string
		facts     doctor.Facts
		self, kid bool // SameNetNS of this process and of the sleep
	}{
		{"own namespace", doctor.System(nil), true, false},
		{"test namespace", doctor.System(ns.NetNS), false, true},
	} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			ps, err := c.facts.Processes()
			if err != nil {
				t.Fatal(err)
			}
			me, kid := find(ps, os.Getpid()), find(ps, cmd.Process.Pid)
			if me == nil || me.SameNetNS != c.self || strings.Join(me.Args, " ") != strings.Join(os.Args, " ") {
				t.Fatalf("%s: this process: %+v, want args %q, SameNetNS %v", c.name, me, os.Args, c.self)
			}
			if kid != nil && kid.Comm == "sleep" {
				if kid.SameNetNS != c.kid || strings.Join(kid.Args, " ") != "sleep 30" {
					t.Errorf("%s: sleep in the test namespace: %+v, want SameNetNS %v", c.name, kid, c.kid)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no sleep with pid %d: %+v", c.name, cmd.Process.Pid, kid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
