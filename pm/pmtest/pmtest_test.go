package pmtest_test

import (
	"errors"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/pm"
	"github.com/mptcpkit/mptcpkit/pm/pmtest"
)

// A PM stands in for a *pm.Client where code takes the path manager as an
// interface, such as the daemon's.
var (
	_ daemon.PathManager = (*pm.Client)(nil)
	_ daemon.PathManager = (*pmtest.PM)(nil)
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestTable(t *testing.T) {
	p := pmtest.New(nil)
	for i := 1; i <= pm.MaxEndpoints; i++ {
		if err := p.AddEndpoint(pm.Endpoint{ID: 99, Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Flags: pm.FlagSubflow}); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	err := p.AddEndpoint(pm.Endpoint{Addr: addr("192.0.2.100")})
	if !errors.Is(err, syscall.ERANGE) {
		t.Errorf("add to a full table: %v, want ERANGE", err)
	}
	if err := p.DeleteEndpoint(3, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if err := p.DeleteEndpoint(0, addr("192.0.2.4")); err != nil {
		t.Fatalf("delete by address: %v", err)
	}
	if err := p.DeleteEndpoint(3, netip.Addr{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("delete a deleted id: %v, want os.ErrNotExist", err)
	}
	if err := p.AddEndpoint(pm.Endpoint{Addr: addr("192.0.2.1")}); !errors.Is(err, os.ErrExist) {
		t.Errorf("add a second 192.0.2.1: %v, want os.ErrExist", err)
	}
	if err := p.ChangeEndpoint(pm.Endpoint{Addr: addr("192.0.2.2")}, pm.FlagBackup); err != nil {
		t.Fatal(err)
	}
	if err := p.ChangeEndpoint(pm.Endpoint{ID: 1}, pm.FlagSignal); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("change to signal: %v, want EINVAL", err)
	}
	eps, err := p.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 6 || eps[1].ID != 2 || eps[1].Flags != pm.FlagSubflow|pm.FlagBackup || eps[5].ID != 8 {
		t.Errorf("table: %+v", eps)
	}
	eps[0].ID = 77 // a copy
	if again, _ := p.Endpoints(); again[0].ID != 1 {
		t.Errorf("Endpoints shares the table: %+v", again)
	}
	// A freed slot takes the next id, not a reused one.
	if err := p.AddEndpoint(pm.Endpoint{Addr: addr("192.0.2.50")}); err != nil {
		t.Fatal(err)
	}
	if eps, _ := p.Endpoints(); eps[len(eps)-1].ID != 9 {
		t.Errorf("new endpoint id %d, want 9", eps[len(eps)-1].ID)
	}
}

func TestLimits(t *testing.T) {
	var p pmtest.PM // the zero PM works
	two, nine := uint32(2), uint32(9)
	if err := p.SetLimits(pm.LimitsUpdate{Subflows: &two}); err != nil {
		t.Fatal(err)
	}
	if err := p.SetLimits(pm.LimitsUpdate{AddAddrAccepted: &nine}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("limit 9: %v, want EINVAL", err)
	}
	if l, err := p.Limits(); err != nil || l != (pm.Limits{Subflows: 2}) {
		t.Errorf("Limits = %+v, %v", l, err)
	}
}

// TestFunc: the Func sees every call first and its error is the answer;
// Calls records them all.
func TestFunc(t *testing.T) {
	refused := pmtest.Error(pmtest.OpAddEndpoint, syscall.EPERM, "")
	p := pmtest.New(func(c pmtest.Call) error {
		if c.Op == pmtest.OpAddEndpoint && c.Endpoint.Addr == addr("192.0.2.2") {
			return refused
		}
		return nil
	})
	p.Set(pm.Endpoint{ID: 5, Addr: addr("192.0.2.5")})
	if err := p.AddEndpoint(pm.Endpoint{Addr: addr("192.0.2.2")}); err != refused || !errors.Is(err, os.ErrPermission) {
		t.Errorf("add 192.0.2.2: %v, want the Func's error", err)
	}
	if err := p.AddEndpoint(pm.Endpoint{Addr: addr("192.0.2.3")}); err != nil {
		t.Fatal(err)
	}
	p.ChangeEndpoint(pm.Endpoint{ID: 6, Flags: pm.FlagSignal}, pm.FlagBackup)
	eps, _ := p.Endpoints()
	if len(eps) != 2 || eps[1].ID != 6 || eps[1].Flags != pm.FlagBackup {
		t.Errorf("table: %+v; want 192.0.2.3 as id 6 (after Set's 5), backup", eps)
	}
	want := []pmtest.Call{
		{Op: pmtest.OpAddEndpoint, Endpoint: pm.Endpoint{Addr: addr("192.0.2.2")}},
		{Op: pmtest.OpAddEndpoint, Endpoint: pm.Endpoint{Addr: addr("192.0.2.3")}},
		{Op: pmtest.OpChangeEndpoint, Endpoint: pm.Endpoint{ID: 6}, Flags: pm.FlagBackup},
		{Op: pmtest.OpEndpoints},
	}
	if diff := cmp.Diff(want, p.Calls(), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}
