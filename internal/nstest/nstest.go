package nstest

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"testing"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/mptcpkit/mptcpkit/netns"
)

// Prefix starts the name of every namespace this package makes.
const Prefix = "mkt-"

var seq atomic.Uint32 // per test binary, makes names unique

// NS is a network namespace owned by one test.
type NS struct {
	*netns.NetNS
	Name string
	h    *netlink.Handle
}

// New creates a namespace for t, with lo up, deleted when t ends. label says
// what the namespace is for (e.g. "client"). It calls Require first: without
// root or MPTCP the test is skipped (failed under MPTCPKIT_CI=1).
func New(t testing.TB, label string) *NS {
	t.Helper()
	Require(t)
	sweep()
	hash := fnv.New32a()
	hash.Write([]byte(t.Name()))
	tn := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	if len(tn) > 40 {
		tn = tn[:40]
	}
	name := fmt.Sprintf("%s%s-%s-%d-%d", Prefix, tn, label, os.Getpid(), seq.Add(1))
	n, err := netns.Create(name)
	if err != nil {
		t.Fatalf("nstest: create namespace %s: %v", name, err)
	}
	ns := &NS{NetNS: n, Name: name}
	t.Cleanup(func() { ns.destroy(t) })
	ns.h, err = netlink.NewHandleAt(vnetns.NsHandle(n.FD()))
	if err != nil {
		t.Fatalf("nstest: netlink handle in %s: %v", name, err)
	}
	lo, err := ns.h.LinkByName("lo")
	if err != nil {
		t.Fatalf("nstest: lo in %s: %v", name, err)
	}
	if err := ns.h.LinkSetUp(lo); err != nil {
		t.Fatalf("nstest: lo up in %s: %v", name, err)
	}
	return ns
}

func (ns *NS) destroy(t testing.TB) {
	if ns.h != nil {
		ns.h.Close()
	}
	// Kill what still runs inside before deleting (processes started by Start).
	ns.NetNS.Close()
	if err := netns.Delete(ns.Name); err != nil {
		t.Errorf("nstest: delete namespace %s: %v", ns.Name, err)
	}
}

// Handle returns an rtnetlink handle inside the namespace.
func (ns *NS) Handle() *netlink.Handle { return ns.h }

// Do runs fn inside the namespace and fails t on error.
func (ns *NS) Do(t testing.TB, fn func() error) {
	t.Helper()
	if err := ns.NetNS.Do(fn); err != nil {
		t.Fatalf("nstest: in %s: %v", ns.Name, err)
	}
}

// Sysctl sets /proc/sys/KEY (dots or slashes) inside the namespace.
func (ns *NS) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	p := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	ns.Do(t, func() error { return os.WriteFile(p, []byte(value), 0o644) })
}

// ReadSysctl reads /proc/sys/KEY inside the namespace.
func (ns *NS) ReadSysctl(t testing.TB, key string) string {
	t.Helper()
	p := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	var out []byte
	ns.Do(t, func() (err error) { out, err = os.ReadFile(p); return err })
	return strings.TrimSpace(string(out))
}

// Command returns a command that runs inside the namespace (via
// `ip netns exec`). The caller starts and waits for it.
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command inside the namespace, fails t if it fails, and returns
// its standard output.
func (ns *NS) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := ns.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("nstest: %s in %s: %v\n%s", strings.Join(append([]string{name}, args...), " "), ns.Name, err, stderr.String())
	}
	return stdout.String()
}

// Link joins a and b with a veth pair: aIf in a with address aCIDR, bIf in b
// with bCIDR (either address may be empty). Both ends are up when it returns.
// The pair goes away with the namespaces.
func Link(t testing.TB, a *NS, aIf, aCIDR string, b *NS, bIf, bCIDR string) {
	t.Helper()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aIf},
		PeerName:      bIf,
		PeerNamespace: netlink.NsFd(b.FD()),
	}
	if err := a.h.LinkAdd(veth); err != nil {
		t.Fatalf("nstest: veth %s/%s: %v", aIf, bIf, err)
	}
	for _, e := range []struct {
		ns   *NS
		name string
		cidr string
	}{{a, aIf, aCIDR}, {b, bIf, bCIDR}} {
		l, err := e.ns.h.LinkByName(e.name)
		if err != nil {
			t.Fatalf("nstest: %s in %s: %v", e.name, e.ns.Name, err)
		}
		if e.cidr != "" {
			addr, err := netlink.ParseAddr(e.cidr)
			if err != nil {
				t.Fatalf("nstest: address %q: %v", e.cidr, err)
			}
			// No DAD delay for IPv6 test addresses.
			addr.Flags |= unix.IFA_F_NODAD
			if err := e.ns.h.AddrAdd(l, addr); err != nil {
				t.Fatalf("nstest: add %s to %s: %v", e.cidr, e.name, err)
			}
		}
		if err := e.ns.h.LinkSetUp(l); err != nil {
			t.Fatalf("nstest: %s up: %v", e.name, err)
		}
	}
}

// IP returns the address part of a CIDR string.
func IP(cidr string) net.IP {
	ip, _, err := net.ParseCIDR(cidr)
	if err != nil {
		panic(err)
	}
	return ip
}

// sweep deletes mkt- namespaces whose creating process no longer exists.
func sweep() {
	names, _ := netns.List()
	for _, n := range names {
		if !strings.HasPrefix(n, Prefix) {
			continue
		}
		parts := strings.Split(n, "-")
		if len(parts) < 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[len(parts)-2])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			netns.Delete(n)
		}
	}
}

// UserspacePM selects the userspace path manager in the namespace:
// net.mptcp.path_manager=userspace where the kernel has that sysctl (Linux
// 6.15 on), else net.mptcp.pm_type=1 (older kernels; 6.1 and 6.12 in the
// kernel matrix).
func (ns *NS) UserspacePM(t testing.TB) {
	t.Helper()
	ns.Do(t, func() error {
		if _, err := os.Stat("/proc/sys/net/mptcp/path_manager"); err == nil {
			return os.WriteFile("/proc/sys/net/mptcp/path_manager", []byte("userspace"), 0o644)
		}
		return os.WriteFile("/proc/sys/net/mptcp/pm_type", []byte("1"), 0o644)
	})
}
