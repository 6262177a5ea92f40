package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/netns"
	"github.com/mptcpkit/mptcpkit/pm"
)

// This file holds what limits, endpoint and monitor share: opening the
// path manager inside the -n namespace, ip-style word parsing, error
// wording, and the ip-compatible output.

// pmSession is a path manager client inside the namespace named with -n.
type pmSession struct {
	c  *pm.Client
	ns *netns.NetNS // nil: the current namespace
}

func (s *pmSession) Close() {
	s.c.Close()
	if s.ns != nil {
		s.ns.Close()
	}
}

// openPM opens the namespace given with -n and a pm client inside it.
// needAdmin says the command changes something (CAP_NET_ADMIN), which is
// checked locally before anything is sent.
func openPM(e *env, needAdmin bool) (*pmSession, error) {
	if needAdmin {
		if err := checkNetAdmin(); err != nil {
			return nil, err
		}
	}
	ns, err := e.openNetNS()
	if err != nil {
		return nil, err
	}
	cfg := &pm.Config{}
	if ns != nil {
		cfg.NetNS = ns.FD()
	}
	c, err := pm.Dial(cfg)
	if err != nil {
		if ns != nil {
			ns.Close()
		}
		return nil, pmErr(err)
	}
	return &pmSession{c: c, ns: ns}, nil
}

// errNeedAdmin is the error for a missing CAP_NET_ADMIN.
var errNeedAdmin = errors.New("needs CAP_NET_ADMIN: run as root or with sudo")

// checkNetAdmin fails unless the process has CAP_NET_ADMIN in its effective
// set, which every path manager change needs.
func checkNetAdmin() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil // cannot tell: let the kernel decide
	}
	if data[unix.CAP_NET_ADMIN/32].Effective&(1<<(unix.CAP_NET_ADMIN%32)) == 0 {
		return errNeedAdmin
	}
	return nil
}

// pmErr rewords errors from pm where the CLI can say more.
func pmErr(err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w (%v)", errNeedAdmin, err)
	}
	return err
}

// ifNames maps interface indexes to names inside the session's namespace.
func (s *pmSession) ifNames() map[int]string {
	m := map[int]string{}
	s.do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			m[i.Index] = i.Name
		}
		return err
	})
	return m
}

// ifIndex looks up an interface by name inside the session's namespace.
func (s *pmSession) ifIndex(name string) (int, error) {
	var idx int
	err := s.do(func() error {
		i, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		idx = i.Index
		return nil
	})
	return idx, err
}

func (s *pmSession) do(fn func() error) error {
	if s.ns == nil {
		return fn()
	}
	return s.ns.Do(fn)
}

// nsWhere names the namespace for messages ("" or " in network namespace X").
func (e *env) nsWhere() string {
	if e.netns == "" {
		return ""
	}
	return " in network namespace " + e.netns
}

// mk formats an mptcpkit command line that acts where this one does.
func (e *env) mk(args string) string {
	if e.netns != "" {
		return "mptcpkit -n " + e.netns + " " + args
	}
	return "mptcpkit " + args
}

// words splits the arguments of an ip-style command into words, taking out
// -j/--json (anywhere) and answering -h/--help/help with help.
func words(e *env, cmd, help string, args []string) ([]string, error) {
	var out []string
	for i, a := range args {
		switch a {
		case "-j", "--json", "-json":
			e.json = true
		case "-h", "--help", "-help", "help":
			fmt.Fprint(e.stdout, help)
			return nil, errHelp
		case "--":
			return append(out, args[i+1:]...), nil
		default:
			if strings.HasPrefix(a, "-") && len(a) > 1 && !isNumber(a) {
				return nil, usagef(cmd, "%s: unknown option %q (options: -j/--json, -h/--help)", cmd, a)
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// leadingJSON takes -j/--json off the front of args (`endpoint -j show`).
func leadingJSON(e *env, args []string) []string {
	for len(args) > 0 && (args[0] == "-j" || args[0] == "--json" || args[0] == "-json") {
		e.json, args = true, args[1:]
	}
	return args
}

func isNumber(s string) bool {
	_, err := strconv.ParseInt(s, 0, 64)
	return err == nil
}

// matches reports whether word abbreviates keyword, as ip's matches() does.
func matches(word, keyword string) bool {
	return word != "" && strings.HasPrefix(keyword, word)
}

// parseAddr parses an endpoint address, with an error that says how.
func parseAddr(cmd, word string) (netip.Addr, error) {
	a, err := netip.ParseAddr(word)
	if err == nil {
		if a.Zone() != "" {
			return netip.Addr{}, usagef(cmd, "%s: address %q has a zone; give the interface with `dev IFNAME` instead", cmd, word)
		}
		return a.Unmap(), nil
	}
	if p, perr := netip.ParsePrefix(word); perr == nil {
		return netip.Addr{}, usagef(cmd, "%s: %q is a prefix; give the address alone (%s)", cmd, word, p.Addr())
	}
	return netip.Addr{}, usagef(cmd, "%s: %q is not an IP address; give an IPv4 or IPv6 address such as 10.0.2.1 or 2001:db8::1", cmd, word)
}

// parseUint parses a number in an inclusive range; what names it in the
// error ("endpoint add: id"). Like ip (strtoul with base 0), 0x3 is hex and
// a leading 0 means octal.
func parseUint(cmd, what, word string, lo, hi uint64) (uint64, error) {
	n, err := parseCNumber(word)
	if err != nil || n < lo || n > hi {
		return 0, usagef(cmd, "%s %q is not a number from %d to %d", what, word, lo, hi)
	}
	return n, nil
}

// parseCNumber parses an unsigned number the way C's strtoul with base 0
// does (what ip's get_u8/get_u16/get_u32 use): 0x or 0X for hex, a leading
// 0 for octal, else decimal. No sign, no spaces, no Go-only forms (0b, 0o,
// underscores).
func parseCNumber(word string) (uint64, error) {
	base, digits := 10, word
	switch {
	case len(word) > 2 && (word[:2] == "0x" || word[:2] == "0X"):
		base, digits = 16, word[2:]
	case len(word) > 1 && word[0] == '0':
		base, digits = 8, word[1:]
	}
	if digits == "" || strings.ContainsAny(digits, "+-_") {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(digits, base, 64)
}

// Exit statuses of the ip-mptcp verbs, as ip's.
const (
	ipExitSyntax  = 255 // ip's exit(-1) on a bad argument
	ipExitRefused = 2   // ip's return -2 when the kernel says no
)

// ipExit gives err the exit status ip would have (Run applies it to the
// IPStyle commands): 255 for a mistake on the command line, 2 when the
// kernel (or a check made before asking it, for what it would refuse)
// refuses, 1 when MPTCP is missing.
func ipExit(err error) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		ue.Code = ipExitSyntax
		return err
	}
	if errors.Is(err, pm.ErrNotSupported) {
		return err
	}
	return &CodedError{Err: err, Code: ipExitRefused}
}

// --- ip-compatible output ---

// field is one key of an ordered JSON object.
type field struct {
	k string
	v any
}

// writeObject writes fields as one JSON object, keys in the given order.
func writeObject(b *bytes.Buffer, fields []field) {
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.k)
		v, _ := json.Marshal(f.v)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
}

// flagOrder is the order ip prints endpoint flags in.
var flagOrder = []pm.Flags{pm.FlagSignal, pm.FlagSubflow, pm.FlagBackup, pm.FlagFullmesh, pm.FlagImplicit, pm.FlagLaminar}

// endpointFields is an endpoint as `ip -j mptcp endpoint show` prints it:
// address, port (when non-zero), id, one true key per flag, dev (when the
// interface index resolves to a name).
func endpointFields(ep pm.Endpoint, names map[int]string) []field {
	fs := []field{{"address", ep.Addr.String()}}
	if ep.Port != 0 {
		fs = append(fs, field{"port", ep.Port})
	}
	fs = append(fs, field{"id", ep.ID})
	for _, f := range flagOrder {
		if ep.Flags&f != 0 {
			fs = append(fs, field{f.String(), true})
		}
	}
	if ep.IfIndex != 0 {
		if n, ok := names[ep.IfIndex]; ok {
			fs = append(fs, field{"dev", n})
		}
	}
	return fs
}

// writeEndpoints prints endpoints like `ip [-j] mptcp endpoint show`.
func writeEndpoints(w io.Writer, eps []pm.Endpoint, names map[int]string, asJSON bool) error {
	var b bytes.Buffer
	if asJSON {
		b.WriteByte('[')
		for i, ep := range eps {
			if i > 0 {
				b.WriteByte(',')
			}
			writeObject(&b, endpointFields(ep, names))
		}
		b.WriteString("]\n")
	} else {
		for _, ep := range eps {
			var parts []string
			for _, f := range endpointFields(ep, names) {
				switch f.k {
				case "address":
					parts = append(parts, f.v.(string))
				case "port", "id", "dev":
					parts = append(parts, fmt.Sprintf("%s %v", f.k, f.v))
				default:
					parts = append(parts, f.k)
				}
			}
			if rest := ep.Flags &^ (pm.FlagSignal | pm.FlagSubflow | pm.FlagBackup | pm.FlagFullmesh | pm.FlagImplicit | pm.FlagLaminar); rest != 0 {
				parts = append(parts, fmt.Sprintf("flags %#x", uint32(rest)))
			}
			// ip prints every word followed by a space, so its lines end
			// with one; scripts compare whole lines (the kernel's
			// pm_netlink.sh -i does), so ours do too.
			for _, p := range parts {
				b.WriteString(p)
				b.WriteByte(' ')
			}
			b.WriteByte('\n')
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeLimits prints limits like `ip mptcp limits show`, or as
// {"add_addr_accepted":N,"subflows":N}.
func writeLimits(w io.Writer, l pm.Limits, asJSON bool) error {
	if asJSON {
		var b bytes.Buffer
		writeObject(&b, []field{{"add_addr_accepted", l.AddAddrAccepted}, {"subflows", l.Subflows}})
		b.WriteByte('\n')
		_, err := w.Write(b.Bytes())
		return err
	}
	// With ip's trailing space.
	_, err := fmt.Fprintf(w, "add_addr_accepted %d subflows %d \n", l.AddAddrAccepted, l.Subflows)
	return err
}
