package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/mptcpkit/mptcpkit/pm"
)

// Severity ranks a finding.
type Severity int

// Severities, from fine to fatal. Error means MPTCP cannot be used until it
// is fixed.
const (
	OK Severity = iota
	Info
	Warn
	Error
)

var severityNames = [...]string{"ok", "info", "warn", "error"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// MarshalText encodes s as "ok", "info", "warn" or "error".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes the names MarshalText writes.
func (s *Severity) UnmarshalText(b []byte) error {
	for i, n := range severityNames {
		if string(b) == n {
			*s = Severity(i)
			return nil
		}
	}
	return fmt.Errorf("doctor: unknown severity %q (want ok, info, warn or error)", b)
}

// Finding is one result of one check.
type Finding struct {
	// Check names the check: "kernel", "sysctl", "path-manager", "limits",
	// "endpoint", "managers", "bpf".
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	// Summary says in one sentence what was found and what it means.
	Summary string `json:"summary"`
	// Fix is the command that fixes it (empty when nothing needs fixing).
	Fix string `json:"fix,omitempty"`
}

// Report is the result of [Check].
type Report struct {
	// NetNS is the namespace that was checked ("" for the caller's).
	NetNS string `json:"netns,omitempty"`
	// Kernel is the kernel release (uname -r).
	Kernel string `json:"kernel"`
	// Usable reports whether MPTCP sockets can be created.
	Usable bool `json:"usable"`
	// PathManager is "kernel", "userspace" or "" when unknown.
	PathManager string `json:"path_manager"`
	// Sysctls holds every net.mptcp.* sysctl by full name.
	Sysctls map[string]string `json:"sysctls"`
	// Limits and Endpoints are the in-kernel path manager's state (nil when
	// they could not be read).
	Limits    *pm.Limits    `json:"-"`
	Endpoints []pm.Endpoint `json:"-"`
	Findings  []Finding     `json:"findings"`
}

// MarshalJSON writes the report with the limits as
// {"add_addr_accepted":N,"subflows":N} and the endpoints as objects with
// id, address, port (when set), flags ("subflow,backup") and ifindex.
func (r *Report) MarshalJSON() ([]byte, error) {
	type alias Report
	type limits struct {
		AddAddrAccepted uint32 `json:"add_addr_accepted"`
		Subflows        uint32 `json:"subflows"`
	}
	type endpoint struct {
		ID      uint8  `json:"id"`
		Address string `json:"address"`
		Port    uint16 `json:"port,omitempty"`
		Flags   string `json:"flags"`
		IfIndex int    `json:"ifindex,omitempty"`
	}
	out := struct {
		*alias
		Limits    *limits    `json:"limits,omitempty"`
		Endpoints []endpoint `json:"endpoints"`
	}{alias: (*alias)(r), Endpoints: []endpoint{}}
	if r.Limits != nil {
		out.Limits = &limits{r.Limits.AddAddrAccepted, r.Limits.Subflows}
	}
	for _, e := range r.Endpoints {
		out.Endpoints = append(out.Endpoints, endpoint{e.ID, e.Addr.String(), e.Port, e.Flags.String(), e.IfIndex})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // fixes are shell commands: keep > and && readable
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Worst returns the highest severity among the findings.
func (r *Report) Worst() Severity {
	w := OK
	for _, f := range r.Findings {
		w = max(w, f.Severity)
	}
	return w
}

// Count returns how many findings have severity s.
func (r *Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Interface is a network interface as the checks see it.
type Interface struct {
	Index int
	Name  string
	Up    bool
	// NoCarrier: administratively up but without carrier (IFF_RUNNING
	// clear), such as an unplugged cable or a veth whose peer is down.
	NoCarrier bool
	Addrs     []netip.Addr
}

// Process is a running program as the checks see it.
type Process struct {
	PID  int
	Comm string   // /proc/PID/comm
	Args []string // /proc/PID/cmdline
	// SameNetNS reports whether it runs in the network namespace checked.
	SameNetNS bool
}

// BTF says what the kernel's BTF offers for forcing sockets onto MPTCP.
type BTF struct {
	// VMLinux reports whether /sys/kernel/btf/vmlinux exists.
	VMLinux bool
	// UpdateSocketProtocol reports whether the kernel has the BPF hook
	// update_socket_protocol (Debian's 6.12 has it, 6.1 not).
	UpdateSocketProtocol bool
	// LoadError is why the kernel refused to load mptcpkit's fmod_ret
	// program on that hook ("" when it loaded, or when no load was tried
	// because the hook is missing). Kernels that refuse BPF trampolines
	// (lockdown, a BPF LSM policy) have the hook but answer EPERM here.
	LoadError string `json:",omitempty"`
}

// NetworkManagerConfig is NetworkManager's global MPTCP setting.
type NetworkManagerConfig struct {
	// MPTCPFlags is the connection.mptcp-flags value set in
	// NetworkManager.conf or conf.d ("" when unset).
	MPTCPFlags string
	// File is where it was set.
	File string
}

// Disabled reports whether the configured flags turn NetworkManager's MPTCP
// endpoint handling off (flag 0x1, "disabled"): then it adds no endpoints.
func (n NetworkManagerConfig) Disabled() bool { return nmDisabled(n.MPTCPFlags) }

// Facts is what the checks read from the operating system. [System] reads
// the real ones; tests and other programs may supply their own. An error
// from any method becomes a finding; it does not stop the other checks.
type Facts interface {
	// KernelRelease returns uname -r.
	KernelRelease() (string, error)
	// MPTCPSocket tries socket(family, SOCK_STREAM, IPPROTO_MPTCP) and returns
	// its error (an unix.Errno), nil if it worked.
	MPTCPSocket(family int) error
	// Sysctls returns every net.mptcp.* sysctl by full name.
	Sysctls() (map[string]string, error)
	// Limits and Endpoints read the in-kernel path manager.
	Limits() (pm.Limits, error)
	Endpoints() ([]pm.Endpoint, error)
	// Interfaces lists the network interfaces with their addresses.
	Interfaces() ([]Interface, error)
	// Processes lists running programs.
	Processes() ([]Process, error)
	// NetworkManager returns NetworkManager's configured MPTCP flags.
	NetworkManager() (NetworkManagerConfig, error)
	// KernelBTF reports BTF support for forcing MPTCP.
	KernelBTF() (BTF, error)
}

// Options adjust a check.
type Options struct {
	// NetNS names the namespace the facts come from; fix commands are
	// written to act on it (`ip netns exec NAME sysctl ...`,
	// `mptcpkit -n NAME ...`).
	NetNS string
}

// Check runs every check against f and returns the report. It never fails:
// facts it cannot read become findings.
func Check(ctx context.Context, f Facts, opts *Options) *Report {
	if opts == nil {
		opts = &Options{}
	}
	c := &checker{f: f, opts: opts, r: &Report{NetNS: opts.NetNS, Sysctls: map[string]string{}}}
	c.kernel()
	c.sysctls()
	c.pathManager()
	c.processes()
	c.limitsAndEndpoints()
	c.managers()
	c.bpf()
	return c.r
}

type checker struct {
	f       Facts
	opts    *Options
	r       *Report
	procs   []Process
	procsOK bool // procs could be listed
}

func (c *checker) add(check string, sev Severity, fix, format string, args ...any) {
	c.r.Findings = append(c.r.Findings, Finding{Check: check, Severity: sev, Summary: fmt.Sprintf(format, args...), Fix: fix})
}

// sysctlFix is the command that sets a sysctl in the checked namespace.
func (c *checker) sysctlFix(kv string) string {
	if c.opts.NetNS != "" {
		return fmt.Sprintf("ip netns exec %s sysctl -w %s", c.opts.NetNS, kv)
	}
	return "sysctl -w " + kv
}

// mk returns an mptcpkit command line acting on the checked namespace.
func (c *checker) mk(args string) string {
	if c.opts.NetNS != "" {
		return fmt.Sprintf("mptcpkit -n %s %s", c.opts.NetNS, args)
	}
	return "mptcpkit " + args
}

// ip returns an ip command line acting on the checked namespace.
func (c *checker) ip(args string) string {
	if c.opts.NetNS != "" {
		return fmt.Sprintf("ip -n %s %s", c.opts.NetNS, args)
	}
	return "ip " + args
}

func endpointString(e pm.Endpoint, ifname string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id %d (%s", e.ID, e.Addr)
	if e.Port != 0 {
		fmt.Fprintf(&b, " port %d", e.Port)
	}
	if ifname != "" {
		fmt.Fprintf(&b, " dev %s", ifname)
	}
	if e.Flags != 0 {
		fmt.Fprintf(&b, " %s", strings.ReplaceAll(e.Flags.String(), ",", " "))
	}
	b.WriteString(")")
	return b.String()
}
