package daemon_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/netmon"
	"github.com/mptcpkit/mptcpkit/netmon/netmontest"
	"github.com/mptcpkit/mptcpkit/pm/pmtest"
)

// TestFailures runs the daemon against a fake table and a fake monitor:
// kernel errors are counted, reported in the state file with a readable
// message (ERANGE named as the full table), and a later reconcile recovers.
func TestFailures(t *testing.T) {
	mon := netmontest.New(netmon.State{
		Links: []netmon.Link{{Index: 2, Name: "eth0", Kind: "ethernet", AdminUp: true, Carrier: true}},
		Addrs: []netmon.Addr{{Prefix: netip.MustParsePrefix("192.0.2.1/24"), LinkIndex: 2}},
	})
	var mu sync.Mutex
	failAdd := map[netip.Addr]error{netip.MustParseAddr("192.0.2.2"): pmtest.Error(pmtest.OpAddEndpoint, syscall.ERANGE, "")}
	var failList error // once
	f := pmtest.New(func(c pmtest.Call) error {
		mu.Lock()
		defer mu.Unlock()
		switch c.Op {
		case pmtest.OpAddEndpoint:
			return failAdd[c.Endpoint.Addr]
		case pmtest.OpEndpoints:
			err := failList
			failList = nil
			return err
		}
		return nil
	})
	reg := daemon.NewMetrics()
	states := make(chan *daemon.StateFile, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			Monitor: mon, PM: f, Metrics: reg, StatePath: filepath.Join(t.TempDir(), "s.json"),
			Conflicts:   func() ([]daemon.Conflict, error) { return nil, nil },
			OnReconcile: func(s *daemon.StateFile) { states <- s },
			Debounce:    time.Millisecond,
		})
	}()
	next := func() *daemon.StateFile {
		t.Helper()
		select {
		case s := <-states:
			return s
		case err := <-done:
			t.Fatalf("Run returned %v", err)
		case <-time.After(3 * time.Second):
			t.Fatal("no reconcile")
		}
		return nil
	}
	if s := next(); len(s.Endpoints) != 1 || s.LastError != "" || s.Limits == nil || s.Limits.Subflows != 1 {
		t.Fatalf("first reconcile: %+v", s)
	}
	// A second address the kernel refuses with ERANGE (someone filled the
	// table behind our back).
	mon.Update(func(st *netmon.State) {
		st.Addrs = append(st.Addrs, netmon.Addr{Prefix: netip.MustParsePrefix("192.0.2.2/24"), LinkIndex: 2})
	})
	s := next()
	if !strings.Contains(s.LastError, "endpoint table is full (8 endpoints)") {
		t.Errorf("last error %q does not explain ERANGE", s.LastError)
	}
	for _, d := range s.Decisions {
		if d.Addr.String() == "192.0.2.2" && (d.In || !strings.Contains(d.Reason, "add failed")) {
			t.Errorf("decision for 192.0.2.2: %+v", d)
		}
	}
	if n := counter(t, reg, "mptcpkit_daemon_reconcile_errors_total"); n != 1 {
		t.Errorf("reconcile errors = %v, want 1", n)
	}
	// The table can't be listed once; then everything recovers.
	mu.Lock()
	failList = errors.New("netlink: boom")
	delete(failAdd, netip.MustParseAddr("192.0.2.2"))
	mu.Unlock()
	mon.Update(func(*netmon.State) {})
	if s := next(); !strings.Contains(s.LastError, "boom") {
		t.Errorf("last error %q", s.LastError)
	}
	mon.Update(func(*netmon.State) {})
	if s := next(); s.LastError != "" || len(s.Endpoints) != 2 || s.Limits.Subflows != 2 {
		t.Errorf("after recovery: error %q, endpoints %+v, limits %+v (auto: subflows = 2)", s.LastError, s.Endpoints, s.Limits)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if eps, _ := f.Endpoints(); len(eps) != 0 {
		t.Errorf("left after stop: %+v", eps)
	}
}

func counter(t *testing.T, m *daemon.Metrics, name string) float64 {
	t.Helper()
	v, ok := m.Value(name)
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	return v
}
