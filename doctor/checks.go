package doctor

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/pm"
)

// kernel probes socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP) and explains
// the kernel's answer.
func (c *checker) kernel() {
	rel, err := c.f.KernelRelease()
	if err != nil {
		rel = "(unknown release)"
	}
	c.r.Kernel = rel
	err = c.f.MPTCPSocket(unix.AF_INET)
	switch {
	case err == nil:
		c.r.Usable = true
		c.add("kernel", OK, "", "MPTCP sockets can be created (Linux %s)", rel)
	case errors.Is(err, unix.EINVAL):
		c.add("kernel", Error, "upgrade to a kernel that has MPTCP (CONFIG_MPTCP=y): mptcpkit is tested on Debian's 6.1 and 6.12 and on 6.18 (its kernel matrix)",
			"Linux %s does not know MPTCP: socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP) fails with EINVAL, the answer of a kernel without IPPROTO_MPTCP to an unknown protocol", rel)
	case errors.Is(err, unix.EPROTONOSUPPORT):
		c.add("kernel", Error, "boot a kernel built with CONFIG_MPTCP=y and CONFIG_MPTCP_IPV6=y (Debian, Ubuntu, Fedora and RHEL kernels have it)",
			"Linux %s was built without MPTCP (CONFIG_MPTCP is not set): socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP) fails with EPROTONOSUPPORT", rel)
	case errors.Is(err, unix.ENOPROTOOPT):
		c.add("kernel", Error, c.sysctlFix("net.mptcp.enabled=1")+"   # to keep it: echo net.mptcp.enabled=1 > /etc/sysctl.d/90-mptcp.conf",
			"MPTCP is disabled in this network namespace (net.mptcp.enabled=0): socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP) fails with ENOPROTOOPT, and programs that ask for MPTCP silently fall back to TCP")
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
		c.add("kernel", Error, "check the seccomp profile or LSM policy (SELinux, AppArmor) of this process",
			"creating an MPTCP socket was refused (%v): a seccomp filter or security module blocks IPPROTO_MPTCP", err)
	default:
		c.add("kernel", Error, "", "socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP) failed: %v", err)
	}
	if !c.r.Usable {
		return
	}
	err6 := c.f.MPTCPSocket(unix.AF_INET6)
	switch {
	case err6 == nil:
	case errors.Is(err6, unix.EAFNOSUPPORT):
		c.add("kernel", Info, "", "IPv6 is not available here, so MPTCP works over IPv4 only")
	case errors.Is(err6, unix.EPROTONOSUPPORT):
		c.add("kernel", Warn, "boot a kernel built with CONFIG_MPTCP_IPV6=y",
			"MPTCP over IPv6 is not built into this kernel (CONFIG_MPTCP_IPV6 is not set): socket(AF_INET6, SOCK_STREAM, IPPROTO_MPTCP) fails with EPROTONOSUPPORT")
	default:
		c.add("kernel", Warn, "", "socket(AF_INET6, SOCK_STREAM, IPPROTO_MPTCP) failed: %v", err6)
	}
}

// sysctls lists net.mptcp.* and flags values that change behaviour.
func (c *checker) sysctls() {
	m, err := c.f.Sysctls()
	if err != nil || len(m) == 0 {
		if err == nil {
			err = errors.New("none found")
		}
		sev := Info
		if c.r.Usable {
			sev = Warn
		}
		c.add("sysctl", sev, "", "cannot read the net.mptcp.* sysctls (/proc/sys/net/mptcp): %v", err)
		return
	}
	c.r.Sysctls = m
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var kv []string
	for _, k := range keys {
		kv = append(kv, strings.TrimPrefix(k, "net.mptcp.")+"="+m[k])
	}
	c.add("sysctl", Info, "", "net.mptcp: %s", strings.Join(kv, " "))
	if v, ok := m["net.mptcp.enabled"]; ok && v == "0" && c.r.Usable {
		// Cannot happen with a real kernel; facts disagree with each other.
		c.add("sysctl", Warn, c.sysctlFix("net.mptcp.enabled=1"), "net.mptcp.enabled is 0, yet an MPTCP socket could be created")
	}
	if m["net.mptcp.checksum_enabled"] == "1" {
		c.add("sysctl", Info, c.sysctlFix("net.mptcp.checksum_enabled=0"),
			"MPTCP data checksums are on (net.mptcp.checksum_enabled=1): they cost CPU and are needed only where middleboxes rewrite payload")
	}
	if m["net.mptcp.allow_join_initial_addr_port"] == "0" {
		c.add("sysctl", Info, c.sysctlFix("net.mptcp.allow_join_initial_addr_port=1"),
			"peers may not open extra subflows to this host's initial address and port (net.mptcp.allow_join_initial_addr_port=0); right only behind a load balancer")
	}
	if v, ok := m["net.mptcp.add_addr_timeout"]; ok && v == "0" {
		c.add("sysctl", Info, c.sysctlFix("net.mptcp.add_addr_timeout=120"),
			"ADD_ADDR announcements are never retransmitted (net.mptcp.add_addr_timeout=0): a lost announcement loses that path")
	}
}

// pathManager says which path manager is active.
func (c *checker) pathManager() {
	m := c.r.Sysctls
	kind, ok := m["net.mptcp.path_manager"]
	src := "net.mptcp.path_manager=" + kind
	if !ok {
		src = "net.mptcp.pm_type=" + m["net.mptcp.pm_type"]
		switch m["net.mptcp.pm_type"] {
		case "0":
			kind = "kernel"
		case "1":
			kind = "userspace"
		}
	}
	c.r.PathManager = kind
	avail := m["net.mptcp.available_path_managers"]
	if avail != "" {
		avail = " (available: " + avail + ")"
	}
	switch kind {
	case "kernel":
		c.add("path-manager", OK, "", "the in-kernel path manager is active (%s): its endpoints and limits decide which subflows each connection gets%s", src, avail)
	case "userspace":
		c.add("path-manager", Info, c.sysctlFix("net.mptcp.path_manager=kernel")+"   # to let the kernel manage paths instead",
			"the userspace path manager is active (%s): in-kernel endpoints are ignored, and a daemon must announce addresses and create subflows for each connection%s", src, avail)
	case "":
		if c.r.Usable {
			c.add("path-manager", Info, "", "cannot tell which path manager is active (no net.mptcp.path_manager or pm_type sysctl)")
		}
	default:
		c.add("path-manager", Info, "", "path manager %q is active (%s)%s", kind, src, avail)
	}
}

func (c *checker) processes() {
	procs, err := c.f.Processes()
	if err != nil {
		c.add("managers", Info, "", "cannot list processes to look for other path managers: %v", err)
		return
	}
	c.procs, c.procsOK = procs, true
}

// find returns the processes in the checked namespace matching ok.
func (c *checker) find(ok func(Process) bool) []Process {
	var out []Process
	for _, p := range c.procs {
		if p.SameNetNS && ok(p) {
			out = append(out, p)
		}
	}
	return out
}

func isMptcpd(p Process) bool { return p.Comm == "mptcpd" }

func isNetworkManager(p Process) bool { return p.Comm == "NetworkManager" }

func isMptcpkitDaemon(p Process) bool {
	return p.Comm == "mptcpkit" && slices.Contains(p.Args, "daemon")
}

func pids(ps []Process) string {
	var s []string
	for _, p := range ps {
		s = append(s, strconv.Itoa(p.PID))
	}
	return strings.Join(s, ", ")
}

// limitsAndEndpoints compares the in-kernel path manager's limits with its
// endpoints and the endpoints with the interfaces.
func (c *checker) limitsAndEndpoints() {
	lim, err := c.f.Limits()
	if err != nil {
		sev := Warn
		if !c.r.Usable {
			sev = Info
		}
		fix := ""
		if errors.Is(err, pm.ErrNotSupported) {
			fix = "upgrade to a kernel with the mptcp_pm netlink family (CONFIG_MPTCP=y; Debian's 6.1 and newer have it)"
		}
		c.add("limits", sev, fix, "cannot read the path manager's limits: %v", err)
		return
	}
	c.r.Limits = &lim
	eps, err := c.f.Endpoints()
	if err != nil {
		c.add("endpoint", Warn, "", "cannot list the path manager's endpoints: %v", err)
		return
	}
	c.r.Endpoints = eps
	userspace := c.r.PathManager == "userspace"

	var subflow, signal, configured int
	for _, e := range eps {
		if e.Flags&pm.FlagImplicit != 0 {
			continue
		}
		configured++
		if e.Flags&pm.FlagSubflow != 0 {
			subflow++
		}
		if e.Flags&pm.FlagSignal != 0 {
			signal++
		}
	}
	c.add("limits", OK, "", "limits: subflows %d, add_addr_accepted %d; %s (%d subflow, %d signal)",
		lim.Subflows, lim.AddAddrAccepted, plural(len(eps), "endpoint", "endpoints"), subflow, signal)

	if userspace {
		if configured > 0 {
			c.add("endpoint", Info, c.mk("endpoint flush")+"   # if nothing else needs them",
				"%d in-kernel endpoints are configured, but the userspace path manager ignores them", configured)
		}
		daemons := c.find(func(p Process) bool { return isMptcpd(p) || isMptcpkitDaemon(p) })
		if c.procsOK && len(daemons) == 0 {
			c.add("path-manager", Warn, c.mk("daemon")+"   # or: "+c.sysctlFix("net.mptcp.path_manager=kernel"),
				"the userspace path manager is active but no path-manager daemon (mptcpd, mptcpkit daemon) runs in this namespace: connections get no extra subflows")
		}
		return
	}

	if configured == 0 {
		more := " and accept no addresses peers announce (add_addr_accepted 0)"
		if lim.AddAddrAccepted > 0 {
			more = fmt.Sprintf(", plus up to %d addresses each peer announces (add_addr_accepted)", lim.AddAddrAccepted)
		}
		c.add("endpoint", Info, c.mk("endpoint add ADDR dev IFNAME subflow")+"   # on a client with a second path",
			"no endpoints: connections use one path%s", more)
	}
	if subflow > int(lim.Subflows) {
		want := min(subflow, pm.MaxLimit)
		c.add("limits", Warn, c.mk(fmt.Sprintf("limits set subflows %d", want)),
			"%d subflow endpoints but the subflow limit is %d: each connection opens only %d extra subflows, so %s unused",
			subflow, lim.Subflows, lim.Subflows, plural(subflow-int(lim.Subflows), "of them stays", "of them stay"))
	}
	if signal > 0 && lim.Subflows == 0 {
		c.add("limits", Warn, c.mk(fmt.Sprintf("limits set subflows %d", min(signal, pm.MaxLimit))),
			"%d signal endpoints announce addresses, but the subflow limit is 0: peers' subflows to them are refused", signal)
	}
	if signal > 0 && lim.AddAddrAccepted == 0 {
		c.add("limits", Warn, c.mk(fmt.Sprintf("limits set add_addr_accepted %d", min(max(signal, 1), pm.MaxLimit)))+"   # on each client",
			"%d signal endpoints announce addresses, but add_addr_accepted is 0 here: a client configured like this host ignores every address a server announces, and peers need add_addr_accepted >= %d to use these announcements",
			signal, signal)
	} else if lim.AddAddrAccepted == 0 {
		c.add("limits", Info, c.mk("limits set add_addr_accepted 2"),
			"add_addr_accepted is 0: as a client, this host ignores the addresses servers announce")
	}
	if lim.AddAddrAccepted > lim.Subflows {
		c.add("limits", Info, c.mk(fmt.Sprintf("limits set subflows %d", lim.AddAddrAccepted)),
			"add_addr_accepted %d is above the subflow limit %d: accepted announcements beyond %d cannot get a subflow",
			lim.AddAddrAccepted, lim.Subflows, lim.Subflows)
	}
	if len(eps) >= pm.MaxEndpoints {
		c.add("endpoint", Info, "", "%d endpoints: the kernel's maximum; adding another fails until one is deleted", len(eps))
	}
	c.endpoints(eps)
}

// endpoints checks each endpoint against the interfaces.
func (c *checker) endpoints(eps []pm.Endpoint) {
	if len(eps) == 0 {
		return
	}
	ifs, err := c.f.Interfaces()
	if err != nil {
		c.add("endpoint", Info, "", "cannot list interfaces to check the endpoints against: %v", err)
		ifs = nil
	}
	byIndex := map[int]Interface{}
	for _, i := range ifs {
		byIndex[i.Index] = i
	}
	holder := func(e pm.Endpoint) (Interface, bool) {
		for _, i := range ifs {
			for _, a := range i.Addrs {
				if a.Unmap() == e.Addr.Unmap() {
					return i, true
				}
			}
		}
		return Interface{}, false
	}
	for _, e := range eps {
		dev := ""
		bound, hasDev := byIndex[e.IfIndex]
		if e.IfIndex != 0 && hasDev {
			dev = bound.Name
		}
		name := endpointString(e, dev)
		del := c.mk(fmt.Sprintf("endpoint delete id %d", e.ID))
		if e.Flags&(pm.FlagSignal|pm.FlagSubflow) == 0 && e.Flags&pm.FlagImplicit == 0 {
			re := fmt.Sprintf("endpoint add %s", e.Addr)
			if dev != "" {
				re += " dev " + dev
			}
			c.add("endpoint", Warn, del+" && "+c.mk(re+" subflow"),
				"endpoint %s has neither the signal nor the subflow flag: it is not announced and no subflow uses it, so it does nothing", name)
		}
		if ifs == nil {
			continue
		}
		if e.IfIndex != 0 && !hasDev {
			c.add("endpoint", Warn, del,
				"endpoint %s is bound to interface index %d, which no longer exists: its subflows cannot be created", name, e.IfIndex)
			continue
		}
		if e.IfIndex != 0 && !bound.Up {
			c.add("endpoint", Warn, c.ip("link set "+bound.Name+" up")+"   # or: "+del,
				"endpoint %s is bound to %s, which is down: subflows over it fail", name, bound.Name)
			continue
		}
		if e.IfIndex != 0 && bound.NoCarrier {
			c.add("endpoint", Warn, "check "+bound.Name+"'s cable or link   # or: "+del,
				"endpoint %s is bound to %s, which is up but has no carrier (cable unplugged, peer down): the address stays, but subflows over it stall", name, bound.Name)
			continue
		}
		h, ok := holder(e)
		switch {
		case !ok:
			c.add("endpoint", Warn, del,
				"endpoint %s: %s is not assigned to any interface (a stale endpoint: the address went away)", name, e.Addr)
		case e.IfIndex == 0 && !h.Up:
			c.add("endpoint", Warn, c.ip("link set "+h.Name+" up")+"   # or: "+del,
				"endpoint %s: its address is on %s, which is down", name, h.Name)
		case e.IfIndex == 0 && h.NoCarrier:
			c.add("endpoint", Warn, "check "+h.Name+"'s cable or link   # or: "+del,
				"endpoint %s: its address is on %s, which is up but has no carrier (cable unplugged, peer down): subflows over it stall", name, h.Name)
		case e.IfIndex != 0 && h.Index != e.IfIndex:
			c.add("endpoint", Info, "",
				"endpoint %s: the address is on %s, not on %s where its subflows are bound", name, h.Name, dev)
		}
	}
}

// managers looks for other programs that change the endpoints.
func (c *checker) managers() {
	if !c.procsOK {
		return
	}
	found := false
	if ps := c.find(isMptcpd); len(ps) > 0 {
		found = true
		c.add("managers", Warn, "systemctl disable --now mptcp.service   # or stop mptcpd (pid "+pids(ps)+")",
			"mptcpd runs in this namespace (pid %s) and adds, removes and rewrites endpoints and limits itself: endpoints set by hand or by mptcpkit daemon will be overwritten", pids(ps))
	}
	if ps := c.find(isNetworkManager); len(ps) > 0 {
		found = true
		nm, err := c.f.NetworkManager()
		disabled := err == nil && nmDisabled(nm.MPTCPFlags)
		switch {
		case disabled:
			c.add("managers", OK, "", "NetworkManager runs (pid %s) with connection.mptcp-flags=%s (%s): it leaves the endpoints alone", pids(ps), nm.MPTCPFlags, nm.File)
		case !c.r.Usable:
			c.add("managers", Info, "", "NetworkManager runs (pid %s); once MPTCP is enabled it will manage subflow endpoints itself unless connection.mptcp-flags is disabled", pids(ps))
		default:
			how := "the default"
			if nm.MPTCPFlags != "" {
				how = "connection.mptcp-flags=" + nm.MPTCPFlags + " in " + nm.File
			}
			c.add("managers", Warn,
				`printf '[connection]\nconnection.mptcp-flags=0x1\n' > /etc/NetworkManager/conf.d/90-mptcp-off.conf && systemctl reload NetworkManager   # or per connection: nmcli connection modify NAME connection.mptcp-flags disabled`,
				"NetworkManager runs (pid %s) and, with MPTCP enabled (%s), adds and deletes subflow endpoints on the interfaces it manages (NetworkManager 1.40+): endpoints set by hand or by another manager may be overwritten", pids(ps), how)
		}
	}
	if ps := c.find(isMptcpkitDaemon); len(ps) > 0 {
		c.add("managers", Info, "", "mptcpkit daemon runs in this namespace (pid %s) and keeps the endpoints in line with the network", pids(ps))
	}
	if !found {
		c.add("managers", OK, "", "no other endpoint manager (NetworkManager, mptcpd) runs in this namespace")
	}
}

// nmDisabled reports whether a connection.mptcp-flags value disables MPTCP
// handling in NetworkManager (flag 0x1, "disabled").
func nmDisabled(v string) bool {
	v = strings.TrimSpace(v)
	if v == "" {
		return false
	}
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		if w == "disabled" {
			return true
		}
	}
	n, err := strconv.ParseUint(strings.Fields(v)[0], 0, 32)
	return err == nil && n&1 != 0
}

// bpf reports whether programs can be forced onto MPTCP with BPF.
func (c *checker) bpf() {
	b, err := c.f.KernelBTF()
	switch {
	case err != nil:
		c.add("bpf", Info, "", "cannot read the kernel's BTF, so forcing programs onto MPTCP with BPF (mptcpkit force) may not work: %v", err)
	case !b.VMLinux:
		c.add("bpf", Info, "use a kernel built with CONFIG_DEBUG_INFO_BTF=y that has update_socket_protocol (Debian's 6.12 has both); meanwhile use `mptcpkit run`",
			"no kernel BTF (/sys/kernel/btf/vmlinux is missing): `mptcpkit force` cannot turn programs' TCP sockets into MPTCP")
	case !b.UpdateSocketProtocol:
		c.add("bpf", Info, "use a kernel with the BPF hook update_socket_protocol (Debian's 6.12 has it, 6.1 not); meanwhile use `mptcpkit run`",
			"the kernel has BTF but not the BPF hook update_socket_protocol: `mptcpkit force` cannot turn programs' TCP sockets into MPTCP")
	case b.LoadError != "":
		c.add("bpf", Info, "use `mptcpkit run -- CMD` (seccomp, needs no BPF) for programs you start",
			"the kernel has update_socket_protocol but refused mptcpkit's program on it, so `mptcpkit force` cannot work here: %s", b.LoadError)
	default:
		c.add("bpf", OK, "", "BPF can force programs onto MPTCP: the fmod_ret program on update_socket_protocol loads (mptcpkit force)")
	}
}

// plural is "N one" for n == 1 and "N many" otherwise.
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
