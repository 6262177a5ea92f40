package netns_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/netns"
)

func TestCreateDoDelete(t *testing.T) {
	nstest.Require(t)
	name := fmt.Sprintf("mkt-netns-create-%d", os.Getpid())
	ns, err := netns.Create(name)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { ns.Close(); netns.Delete(name) })

	if _, err := netns.Create(name); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second Create: got %v, want ErrExist", err)
	}

	var inside []net.Interface
	if err := ns.Do(func() error {
		var err error
		inside, err = net.Interfaces()
		return err
	}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	// A fresh namespace has only lo.
	if len(inside) != 1 || inside[0].Name != "lo" {
		t.Fatalf("interfaces in new namespace = %v, want just lo", inside)
	}
	// The calling goroutine's namespace is untouched: the host has more than lo
	// or at least its lo is up.
	cur, err := netns.Current()
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	var a, b unixStat
	if err := statFD(ns.FD(), &a); err != nil {
		t.Fatal(err)
	}
	if err := statFD(cur.FD(), &b); err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("current thread is in the new namespace after Do")
	}

	names, err := netns.List()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range names {
		found = found || n == name
	}
	if !found {
		t.Fatalf("List() = %v, missing %s", names, name)
	}

	if err := netns.Delete(name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := netns.Open(name); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open after Delete: %v, want ErrNotExist", err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := netns.Open("mkt-no-such-namespace"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want ErrNotExist", err)
	}
	if _, err := netns.Open("/etc/hostname"); err == nil {
		t.Fatal("opening a plain file as a namespace succeeded")
	}
	if _, err := netns.Create("bad/name"); err == nil {
		t.Fatal("Create accepted a name with a slash")
	}
}

// TestCreateLeavesProcessNamespace checks that Create moves no thread of the
// process for good: the main thread's namespace (/proc/self/ns/net) is the
// same before and after, however often Create runs.
func TestCreateLeavesProcessNamespace(t *testing.T) {
	nstest.Require(t)
	var before, after unixStat
	if err := statPath("/proc/self/ns/net", &before); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("mkt-netns-leave-%d-%d", os.Getpid(), i)
		ns, err := netns.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		ns.Close()
		if err := netns.Delete(name); err != nil {
			t.Fatal(err)
		}
	}
	if err := statPath("/proc/self/ns/net", &after); err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Fatal("the main thread is in another network namespace after Create")
	}
}

// TestSame: Same tells the calling thread's namespace from another one,
// also on the thread Do runs fn on.
func TestSame(t *testing.T) {
	if !netns.Same(0) {
		t.Error("Same(0) = false, want true (0 is the caller's namespace)")
	}
	cur, err := netns.Current()
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	if !netns.Same(cur.FD()) {
		t.Error("Same(Current().FD()) = false")
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if netns.Same(int(null.Fd())) {
		t.Error("Same(/dev/null) = true")
	}
	name := fmt.Sprintf("mkt-netns-same-%d", os.Getpid())
	ns, err := netns.Create(name)
	if err != nil {
		t.Skipf("create namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close(); netns.Delete(name) })
	if netns.Same(ns.FD()) {
		t.Errorf("Same(%s) = true outside it", name)
	}
	err = ns.Do(func() error {
		if !netns.Same(ns.FD()) {
			t.Errorf("Same(%s) = false inside its Do", name)
		}
		if netns.Same(cur.FD()) {
			t.Error("Same(original namespace) = true inside Do")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
