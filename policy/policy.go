package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/mptcpkit/mptcpkit/pm"
)

// Flags are endpoint flags: pm.Flags, which a rule writes as a list of
// `ip mptcp` words (pm.Flags.String) and which cannot hold implicit, the
// flag only the kernel sets.
type Flags pm.Flags

// Endpoint flags a rule may give.
const (
	FlagSignal   = Flags(pm.FlagSignal)
	FlagSubflow  = Flags(pm.FlagSubflow)
	FlagBackup   = Flags(pm.FlagBackup)
	FlagFullmesh = Flags(pm.FlagFullmesh)
	FlagLaminar  = Flags(pm.FlagLaminar)
)

// MarshalJSON writes flags as the policy file does: a list of names.
func (f Flags) MarshalJSON() ([]byte, error) {
	names := []string{}
	if f != 0 {
		names = strings.Split(pm.Flags(f).String(), ",")
	}
	return json.Marshal(names)
}

// String is pm.Flags.String, and "none" for no flags.
func (f Flags) String() string {
	if f == 0 {
		return "none"
	}
	return pm.Flags(f).String()
}

// Kinds a rule may match (what the daemon detects for a link).
var Kinds = []string{"ethernet", "wifi", "wwan", "veth", "bridge", "vlan", "bond", "tun", "wireguard", "ppp", "loopback", "other"}

// Owner says which endpoints the daemon may change.
type Owner string

const (
	OwnerCreated Owner = "created" // only endpoints it created (default)
	OwnerAll     Owner = "all"     // the whole table: foreign endpoints are removed
)

// Limit is a path-manager limit: unset (leave the kernel's value alone),
// auto, or a number 0..8.
type Limit struct {
	Set   bool
	Auto  bool
	Value uint32
}

// MarshalJSON writes a limit as the policy file does: "auto", a number, or
// null when the policy leaves the kernel's value alone.
func (l Limit) MarshalJSON() ([]byte, error) {
	switch {
	case !l.Set:
		return []byte("null"), nil
	case l.Auto:
		return []byte(`"auto"`), nil
	}
	return strconv.AppendUint(nil, uint64(l.Value), 10), nil
}

func (l Limit) String() string {
	switch {
	case !l.Set:
		return "unchanged"
	case l.Auto:
		return "auto"
	}
	return strconv.Itoa(int(l.Value))
}

// Limits are the in-kernel path manager's limits the policy sets.
type Limits struct {
	// Subflows: auto raises the kernel's limit to the number of subflow
	// endpoints when it is lower (never lowers it).
	Subflows Limit `json:"subflows"`
	// AddAddrAccepted (ADD_ADDRs accepted from the peer): auto raises it
	// to the same value as subflows auto when it is lower.
	AddAddrAccepted Limit `json:"add_addr_accepted"`
}

// Filter says which addresses never get an endpoint.
type Filter struct {
	SkipLoopback        bool `json:"skip_loopback"`         // 127.0.0.0/8, ::1
	SkipLinkLocal       bool `json:"skip_link_local"`       // 169.254.0.0/16, fe80::/10
	SkipULA             bool `json:"skip_ula"`              // fc00::/7
	SkipTemporary       bool `json:"skip_temporary"`        // IPv6 privacy (temporary) addresses
	RequireDefaultRoute bool `json:"require_default_route"` // the address's family must have a default route
}

// Rule decides for the addresses of the links it matches.
type Rule struct {
	Name      string `json:"name,omitempty"`
	Interface string `json:"interface,omitempty"` // glob (path.Match syntax); "" matches any
	Kind      string `json:"kind,omitempty"`      // one of Kinds; "" matches any
	Flags     Flags  `json:"flags"`
	Ignore    bool   `json:"ignore,omitempty"`
	// Ports restricts the rule, in userspace path-manager mode, to
	// connections towards these destination ports. Empty: every connection.
	Ports []uint16 `json:"ports,omitempty"`
	Line  int      `json:"line,omitempty"` // where the rule starts in the file (0 for built-in rules)
}

// Describe names the rule for logs: its name or its position.
func (r *Rule) Describe() string {
	if r.Name != "" {
		return strconv.Quote(r.Name)
	}
	if r.Line > 0 {
		return fmt.Sprintf("at line %d", r.Line)
	}
	return "(default)"
}

// AllowsPort reports whether the rule applies to a connection towards port.
func (r *Rule) AllowsPort(port uint16) bool {
	if len(r.Ports) == 0 {
		return true
	}
	for _, p := range r.Ports {
		if p == port {
			return true
		}
	}
	return false
}

// Policy is a decoded, validated policy.
type Policy struct {
	Source       string  `json:"source"` // file name, or "(default)"
	Owner        Owner   `json:"owner"`
	RemoveOnExit bool    `json:"remove_on_exit"`
	Coexist      bool    `json:"coexist"`
	Limits       Limits  `json:"limits"`
	Filter       Filter  `json:"addresses"`
	Rules        []Rule  `json:"rule"`
	Damping      Damping `json:"damping"`
	Quality      Quality `json:"quality"`
}

// Default is the policy without a file: every up, non-loopback,
// non-link-local address gets a subflow endpoint; limits auto.
func Default() *Policy {
	return &Policy{
		Source:       "(default)",
		Owner:        OwnerCreated,
		RemoveOnExit: true,
		Limits:       Limits{Subflows: Limit{Set: true, Auto: true}},
		Filter:       Filter{SkipLoopback: true, SkipLinkLocal: true},
		Rules:        []Rule{{Name: "default", Interface: "*", Flags: FlagSubflow}},
		Damping:      DefaultDamping,
		Quality:      DefaultQuality,
	}
}

// Error is one problem in a policy file, with its line (0 if unknown) and
// how to fix it.
type Error struct {
	File string
	Line int
	Msg  string
	Fix  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString(" (")
		b.WriteString(e.Fix)
		b.WriteString(")")
	}
	return b.String()
}

// MaxSize is the largest policy file Load and Parse accept: far above any
// real policy (16,000 rules take 1.4 MB), and small enough that a wrong
// path (a device, a log file) is refused at once instead of read until
// memory runs out.
const MaxSize = 4 << 20

// Load reads and parses the policy file at name. It reads at most MaxSize
// bytes: a longer file (or an endless one, such as /dev/zero) is refused.
func Load(name string) (*Policy, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return Parse(name, b)
}

func tooLarge(name string) error {
	return &Error{File: name, Msg: fmt.Sprintf("larger than %d bytes (4 MiB), the most a policy file may be", MaxSize),
		Fix: "is this the policy file? split the rules with globs (interface = \"eth*\") rather than one rule per link"}
}

// Raw TOML shapes. Pointers tell "absent" from "zero".
type rawFile struct {
	Version      *int64      `toml:"version"`
	Owner        *string     `toml:"owner"`
	RemoveOnExit *bool       `toml:"remove_on_exit"`
	Coexist      *bool       `toml:"coexist"`
	Limits       *rawLimits  `toml:"limits"`
	Addresses    *rawFilter  `toml:"addresses"`
	Rules        []rawRule   `toml:"rule"`
	Damping      *rawDamping `toml:"damping"`
	Quality      *rawQuality `toml:"quality"`
}

type rawLimits struct {
	Subflows        any `toml:"subflows"`
	AddAddrAccepted any `toml:"add_addr_accepted"`
}

type rawFilter struct {
	SkipLoopback        *bool `toml:"skip_loopback"`
	SkipLinkLocal       *bool `toml:"skip_link_local"`
	SkipULA             *bool `toml:"skip_ula"`
	SkipTemporary       *bool `toml:"skip_temporary"`
	RequireDefaultRoute *bool `toml:"require_default_route"`
}

type rawRule struct {
	Name      string   `toml:"name"`
	Interface string   `toml:"interface"`
	Kind      string   `toml:"kind"`
	Flags     []string `toml:"flags"`
	Ignore    bool     `toml:"ignore"`
	Ports     []int64  `toml:"ports"`
}

var knownKeys = map[string]string{
	"":          "version, owner, remove_on_exit, coexist, [limits], [addresses], [damping], [quality], [[rule]]",
	"damping":   "hold_down, max_hold_down, decay",
	"quality":   "backup_when, restore_after, max_restore_after, prefer, interval",
	"limits":    "subflows, add_addr_accepted",
	"addresses": "skip_loopback, skip_link_local, skip_ula, skip_temporary, require_default_route",
	"rule":      "name, interface, kind, flags, ignore, ports",
}

// Parse decodes and validates a policy; name is used in error messages.
// All problems found are returned joined, each an *Error: unknown keys and
// values of the wrong type as well as invalid values, each with its line.
// A leading UTF-8 byte-order mark is ignored. Parsing takes time linear in
// the size of data, which may be at most MaxSize bytes.
func Parse(name string, data []byte) (*Policy, error) {
	if len(data) > MaxSize {
		return nil, tooLarge(name)
	}
	// Editors on Windows save UTF-8 with a byte-order mark; TOML has none.
	// Blank it rather than cut it, so offsets (and so lines) stay the same.
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		data = append([]byte("   "), data[3:]...)
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, decodeError(name, err)
	}
	lines := indexLines(data)
	var errs []error
	raw := decodeRaw(name, doc, lines, &errs)
	fail := func(key string, msg, fix string) {
		errs = append(errs, &Error{File: name, Line: lines.line(key), Msg: msg, Fix: fix})
	}
	p := Default()
	p.Source = name
	p.Limits = Limits{}
	p.Rules = nil

	switch {
	case raw.Version == nil:
		errs = append(errs, &Error{File: name, Line: 1, Msg: "missing `version`", Fix: "add `version = 1` at the top"})
	case *raw.Version != 1:
		fail("version", fmt.Sprintf("unsupported version %d", *raw.Version), "this mptcpkit reads `version = 1`")
	}
	if raw.Owner != nil {
		switch Owner(*raw.Owner) {
		case OwnerCreated, OwnerAll:
			p.Owner = Owner(*raw.Owner)
		default:
			fail("owner", fmt.Sprintf("owner = %q is not known", *raw.Owner), `use "created" (only endpoints the daemon made) or "all" (the whole endpoint table)`)
		}
	}
	if raw.RemoveOnExit != nil {
		p.RemoveOnExit = *raw.RemoveOnExit
	}
	if raw.Coexist != nil {
		p.Coexist = *raw.Coexist
	}
	if l := raw.Limits; l != nil {
		var err *Error
		if p.Limits.Subflows, err = parseLimit(l.Subflows); err != nil {
			fail("limits.subflows", "limits.subflows: "+err.Msg, err.Fix)
		}
		if p.Limits.AddAddrAccepted, err = parseLimit(l.AddAddrAccepted); err != nil {
			fail("limits.add_addr_accepted", "limits.add_addr_accepted: "+err.Msg, err.Fix)
		}
	}
	if a := raw.Addresses; a != nil {
		set := func(dst *bool, src *bool) {
			if src != nil {
				*dst = *src
			}
		}
		set(&p.Filter.SkipLoopback, a.SkipLoopback)
		set(&p.Filter.SkipLinkLocal, a.SkipLinkLocal)
		set(&p.Filter.SkipULA, a.SkipULA)
		set(&p.Filter.SkipTemporary, a.SkipTemporary)
		set(&p.Filter.RequireDefaultRoute, a.RequireDefaultRoute)
	}
	parseDamping(raw.Damping, p, fail)
	parseQuality(raw.Quality, p, fail, lines)
	for i, rr := range raw.Rules {
		key := fmt.Sprintf("rule.%d", i)
		r := Rule{Name: rr.Name, Interface: rr.Interface, Kind: rr.Kind, Ignore: rr.Ignore, Line: lines.line(key)}
		where := fmt.Sprintf("rule %d", i+1)
		if rr.Name != "" {
			where = fmt.Sprintf("rule %q", rr.Name)
		}
		if rr.Interface != "" {
			if _, err := path.Match(rr.Interface, "x"); err != nil {
				fail(key+".interface", fmt.Sprintf("%s: interface glob %q is malformed", where, rr.Interface), "use shell-style globs like \"eth*\" or \"wl?0\"")
			}
		}
		if rr.Kind != "" && !contains(Kinds, rr.Kind) {
			fail(key+".kind", fmt.Sprintf("%s: unknown kind %q", where, rr.Kind), "kinds: "+strings.Join(Kinds, ", "))
		}
		for _, w := range rr.Flags {
			f, ok := parseFlag(w)
			if !ok {
				fail(key+".flags", fmt.Sprintf("%s: unknown flag %q", where, w), "flags: subflow, signal, backup, fullmesh, laminar; or `ignore = true` for no endpoint")
				continue
			}
			r.Flags |= f
		}
		if r.Flags&FlagSignal != 0 && r.Flags&FlagFullmesh != 0 {
			fail(key+".flags", fmt.Sprintf("%s: flags signal and fullmesh cannot be combined (the kernel refuses them)", where), "drop one: fullmesh goes with subflow")
		}
		if rr.Ignore && len(rr.Flags) > 0 {
			fail(key+".ignore", fmt.Sprintf("%s: ignore = true and flags together", where), "an ignored interface gets no endpoint: remove `flags` or `ignore`")
		}
		if !rr.Ignore && rr.Flags == nil {
			fail(key, fmt.Sprintf("%s has neither flags nor ignore", where), "add e.g. `flags = [\"subflow\"]` or `ignore = true`")
		}
		for _, port := range rr.Ports {
			if port < 1 || port > 65535 {
				fail(key+".ports", fmt.Sprintf("%s: port %d out of range", where, port), "ports are 1..65535")
				continue
			}
			r.Ports = append(r.Ports, uint16(port))
		}
		p.Rules = append(p.Rules, r)
	}
	if len(errs) > 0 {
		// Unknown keys are found first, by the strict decoder; report
		// everything in file order so the list reads top to bottom.
		sort.SliceStable(errs, func(i, j int) bool { return errLine(errs[i]) < errLine(errs[j]) })
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func errLine(err error) int {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Line
	}
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseFlag parses one flag word of a rule: pm's words but implicit.
func parseFlag(w string) (Flags, bool) {
	f, err := pm.ParseFlag(w)
	if err != nil || f == pm.FlagImplicit {
		return 0, false
	}
	return Flags(f), true
}

func parseLimit(v any) (Limit, *Error) {
	switch x := v.(type) {
	case nil:
		return Limit{}, nil
	case string:
		if x == "auto" {
			return Limit{Set: true, Auto: true}, nil
		}
		return Limit{}, &Error{Msg: fmt.Sprintf("%q is not a limit", x), Fix: `use "auto" or a number 0..8`}
	case int64:
		if x < 0 || x > 8 {
			return Limit{}, &Error{Msg: fmt.Sprintf("%d is out of range (the kernel allows at most 8)", x), Fix: "use a number 0..8 or \"auto\""}
		}
		return Limit{Set: true, Value: uint32(x)}, nil
	}
	return Limit{}, &Error{Msg: fmt.Sprintf("%v is not a limit", v), Fix: `use "auto" or a number 0..8`}
}

// decodeError turns go-toml's syntax errors into *Error values with lines.
func decodeError(name string, err error) error {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := de.Error()
		if k := de.Key(); len(k) > 0 {
			msg = strings.Join(k, ".") + ": " + msg
		}
		return &Error{File: name, Line: line, Msg: msg, Fix: "see docs/policy.example.toml for the expected form"}
	}
	return &Error{File: name, Msg: err.Error()}
}

// lineIndex maps dotted key paths ("rule.2.flags", "limits") to lines.
type lineIndex map[string]int

func (li lineIndex) line(key string) int {
	for key != "" {
		if l, ok := li[key]; ok {
			return l
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

func indexLines(data []byte) lineIndex {
	li := lineIndex{}
	var p unstable.Parser
	p.Reset(data)
	// Offsets of the newlines, to turn an offset into a line by binary
	// search: the parser's Shape counts lines from the start of the file on
	// every call, which made loading quadratic in the file's size.
	var nl []int
	for i, c := range data {
		if c == '\n' {
			nl = append(nl, i)
		}
	}
	lineAt := func(off int) int { return sort.SearchInts(nl, off) + 1 }
	// put records key's line, and its prefixes' unless known: an unknown
	// top-level key "a" of "a.b = 1" then has a line too.
	put := func(key string, line int) {
		li[key] = line
		for i := strings.LastIndexByte(key, '.'); i > 0; i = strings.LastIndexByte(key, '.') {
			key = key[:i]
			if _, ok := li[key]; ok {
				break
			}
			li[key] = line
		}
	}
	var table []string
	arrays := map[string]int{}
	keyOf := func(it unstable.Iterator) ([]string, int) {
		var parts []string
		line := 0
		for it.Next() {
			n := it.Node()
			if line == 0 {
				line = lineAt(int(n.Raw.Offset))
			}
			parts = append(parts, string(n.Data))
		}
		return parts, line
	}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			k, line := keyOf(e.Key())
			table = k
			put(strings.Join(k, "."), line)
		case unstable.ArrayTable:
			k, line := keyOf(e.Key())
			base := strings.Join(k, ".")
			idx := arrays[base]
			arrays[base] = idx + 1
			table = append(k, strconv.Itoa(idx))
			put(strings.Join(table, "."), line)
		case unstable.KeyValue:
			k, line := keyOf(e.Key())
			full := append(append([]string{}, table...), k...)
			put(strings.Join(full, "."), line)
		}
	}
	return li
}

// Link is what a rule is matched against.
type Link struct {
	Name string
	Kind string
}

// Match returns the first rule matching link and its index, or nil, -1.
func (p *Policy) Match(l Link) (*Rule, int) {
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Interface != "" {
			if ok, _ := path.Match(r.Interface, l.Name); !ok {
				continue
			}
		}
		if r.Kind != "" && r.Kind != l.Kind {
			continue
		}
		return r, i
	}
	return nil, -1
}

// Addr is an address as the filter sees it.
type Addr struct {
	IP        netip.Addr
	Temporary bool // IPv6 IFA_F_TEMPORARY
}

var ula = netip.MustParsePrefix("fc00::/7")

// Skip reports why an address is filtered out ("" if it is not).
// defaultRoute says whether the address's family has a default route.
func (f Filter) Skip(a Addr, defaultRoute bool) string {
	ip := a.IP.Unmap()
	switch {
	case f.SkipLoopback && ip.IsLoopback():
		return "loopback address"
	case f.SkipLinkLocal && ip.IsLinkLocalUnicast():
		return "link-local address"
	case f.SkipULA && ip.Is6() && ula.Contains(ip):
		return "IPv6 unique local address (skip_ula)"
	case f.SkipTemporary && ip.Is6() && a.Temporary:
		return "IPv6 temporary address (skip_temporary)"
	case f.RequireDefaultRoute && !defaultRoute:
		fam := "IPv4"
		if ip.Is6() {
			fam = "IPv6"
		}
		return "no " + fam + " default route (require_default_route)"
	}
	return ""
}

// Summary lists the rules for logs and `--check-config`.
func (p *Policy) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy %s: owner=%s remove_on_exit=%t coexist=%t\n", p.Source, p.Owner, p.RemoveOnExit, p.Coexist)
	fmt.Fprintf(&b, "limits: subflows=%s add_addr_accepted=%s\n", p.Limits.Subflows, p.Limits.AddAddrAccepted)
	var skips []string
	for _, s := range []struct {
		on   bool
		name string
	}{{p.Filter.SkipLoopback, "loopback"}, {p.Filter.SkipLinkLocal, "link-local"}, {p.Filter.SkipULA, "ULA"}, {p.Filter.SkipTemporary, "temporary"}} {
		if s.on {
			skips = append(skips, s.name)
		}
	}
	sort.Strings(skips)
	fmt.Fprintf(&b, "addresses: skip %s; require default route: %t\n", strings.Join(skips, ", "), p.Filter.RequireDefaultRoute)
	b.WriteString(p.Damping.Summary())
	b.WriteString(p.Quality.Summary())
	for i, r := range p.Rules {
		what := "flags " + r.Flags.String()
		if r.Ignore {
			what = "ignore"
		}
		iface, kind := r.Interface, r.Kind
		if iface == "" {
			iface = "*"
		}
		if kind == "" {
			kind = "any"
		}
		fmt.Fprintf(&b, "rule %d %s: interface %s kind %s -> %s", i+1, r.Describe(), iface, kind, what)
		if len(r.Ports) > 0 {
			fmt.Fprintf(&b, " (ports %v)", r.Ports)
		}
		b.WriteString("\n")
	}
	return b.String()
}
