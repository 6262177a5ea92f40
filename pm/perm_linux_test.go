//go:build linux

package pm_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/pm"
)

const noPrivEnv = "PM_TEST_WITHOUT_CAP_NET_ADMIN"

// TestWithoutCapNetAdmin runs this test binary again inside the test's
// namespace but in a new user namespace, where it is root of nothing: the
// network namespace belongs to the initial user namespace, so the kernel
// refuses what needs CAP_NET_ADMIN. Reads stay allowed.
func TestWithoutCapNetAdmin(t *testing.T) {
	if os.Getenv(noPrivEnv) == "1" {
		withoutCapNetAdmin(t)
		return
	}
	ns := nstest.New(t, "pm")
	c := dial(t, ns)
	mustAdd(t, c, pm.Endpoint{Addr: a("10.0.0.1"), Flags: pm.FlagSubflow})

	var out []byte
	var runErr error
	ns.Do(t, func() error { // the child starts in the thread's namespace
		cmd := exec.Command(os.Args[0], "-test.run=^TestWithoutCapNetAdmin$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), noPrivEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		}
		out, runErr = cmd.CombinedOutput()
		return nil
	})
	if runErr != nil {
		t.Fatalf("unprivileged run failed: %v\n%s", runErr, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestWithoutCapNetAdmin") {
		t.Fatalf("unprivileged run did not pass:\n%s", out)
	}
	t.Logf("child:\n%s", out)
	// Nothing changed.
	wantEndpoints(t, c, "after the unprivileged run", []pm.Endpoint{{ID: 1, Addr: a("10.0.0.1"), Flags: pm.FlagSubflow}})
}

// withoutCapNetAdmin is the child's part.
func withoutCapNetAdmin(t *testing.T) {
	c, err := pm.Dial(nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	// Reads need no privilege.
	eps, err := c.Endpoints()
	if err != nil || len(eps) != 1 || eps[0].Addr != a("10.0.0.1") {
		t.Fatalf("Endpoints = %+v, %v; want the parent's endpoint (wrong namespace?)", eps, err)
	}
	if _, err := c.Limits(); err != nil {
		t.Errorf("Limits: %v", err)
	}
	check := func(what string, err error) {
		t.Helper()
		t.Logf("%s: %v", what, err)
		if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "needs CAP_NET_ADMIN") {
			t.Errorf("%s = %v, want os.ErrPermission saying it needs CAP_NET_ADMIN", what, err)
		}
	}
	check("AddEndpoint", c.AddEndpoint(pm.Endpoint{Addr: a("10.0.0.2")}))
	check("DeleteEndpoint", c.DeleteEndpoint(1, a("10.0.0.1")))
	check("FlushEndpoints", c.FlushEndpoints())
	two := uint32(2)
	check("SetLimits", c.SetLimits(pm.LimitsUpdate{Subflows: &two}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	check("Events", c.Events(ctx, func(pm.Event) error { return nil }))
}
