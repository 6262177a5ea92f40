package netns_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/netns"
)

// dirMounts counts the mounts whose mount point is netns.Dir.
func dirMounts(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == netns.Dir {
			n++
		}
	}
	return n
}

// TestCreateDoesNotStackMounts: Dir is bind-mounted on itself at most once,
// however many namespaces are created (a self bind mount keeps st_dev, so
// comparing devices with the parent never saw it and every Create stacked
// another recursive copy, until mount-max gave ENOSPC).
func TestCreateDoesNotStackMounts(t *testing.T) {
	nstest.Require(t)
	for i := range 3 {
		name := fmt.Sprintf("mkt-netns-stack-%d-%d", os.Getpid(), i)
		ns, err := netns.Create(name)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		ns.Close()
		t.Cleanup(func() { netns.Delete(name) })
	}
	if n := dirMounts(t); n != 1 {
		t.Errorf("%s is mounted %d times after 3 Creates, want once", netns.Dir, n)
	}
}
