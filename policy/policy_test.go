package policy_test

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpkit/mptcpkit/policy"
)

func TestExamplePolicy(t *testing.T) {
	p, err := policy.Load("../docs/policy.example.toml")
	if err != nil {
		t.Fatalf("shipped example does not load: %v", err)
	}
	if p.Owner != policy.OwnerCreated || !p.RemoveOnExit || p.Coexist {
		t.Errorf("owner/remove_on_exit/coexist = %v/%v/%v", p.Owner, p.RemoveOnExit, p.Coexist)
	}
	if want := (policy.Limits{Subflows: policy.Limit{Set: true, Auto: true}, AddAddrAccepted: policy.Limit{Set: true, Value: 2}}); p.Limits != want {
		t.Errorf("limits = %+v, want %+v", p.Limits, want)
	}
	if want := (policy.Filter{SkipLoopback: true, SkipLinkLocal: true, SkipULA: true, SkipTemporary: true}); p.Filter != want {
		t.Errorf("filter = %+v, want %+v", p.Filter, want)
	}
	var got []string
	for _, r := range p.Rules {
		got = append(got, r.Name+":"+r.Flags.String())
	}
	want := []string{"virtual:none", "docker:none", "wired:subflow", "wifi:subflow,backup", "mobile:subflow,backup"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if p.Rules[4].Line == 0 || !p.Rules[4].AllowsPort(22) || p.Rules[4].AllowsPort(80) {
		t.Errorf("mobile rule: line %d ports %v", p.Rules[4].Line, p.Rules[4].Ports)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		want string // substring of the message
	}{
		{"missing version", "owner = \"all\"\n", 1, "missing `version`"},
		{"bad version", "\n\nversion = 2\n", 3, "unsupported version 2"},
		{"unknown top key", "version = 1\ncolour = \"red\"\n", 2, `unknown key "colour" at the top level`},
		{"unknown rule key", "version = 1\n[[rule]]\nflags = [\"subflow\"]\niface = \"eth0\"\n", 4, `unknown key "rule.iface" in [[rule]]`},
		{"bad flag", "version = 1\n\n[[rule]]\nname = \"x\"\nflags = [\"subflw\"]\n", 5, `rule "x": unknown flag "subflw"`},
		{"signal+fullmesh", "version = 1\n[[rule]]\ninterface = \"eth*\"\n\nflags = [\"signal\", \"fullmesh\"]\n", 5, "signal and fullmesh cannot be combined"},
		{"limit 9", "version = 1\n[limits]\nsubflows = 9\n", 3, "limits.subflows: 9 is out of range"},
		{"limit word", "version = 1\n[limits]\nadd_addr_accepted = \"many\"\n", 3, `"many" is not a limit`},
		{"bad owner", "version = 1\nowner = \"me\"\n", 2, `owner = "me" is not known`},
		{"bad kind", "version = 1\n[[rule]]\nflags=[\"subflow\"]\n[[rule]]\nkind = \"fiber\"\nflags=[\"subflow\"]\n", 5, `rule 2: unknown kind "fiber"`},
		{"no flags", "version = 1\n[[rule]]\ninterface = \"eth0\"\n", 2, "has neither flags nor ignore"},
		{"ignore and flags", "version = 1\n[[rule]]\nflags=[\"subflow\"]\nignore = true\n", 4, "ignore = true and flags together"},
		{"wrong type", "version = 1\n[[rule]]\nflags = \"subflow\"\n", 3, "flags"},
		{"syntax", "version = 1\n[[rule]\n", 2, ""},
		{"bad port", "version = 1\n[[rule]]\nflags=[\"subflow\"]\nports = [0]\n", 4, "port 0 out of range"},
		{"bad glob", "version = 1\n[[rule]]\ninterface = \"eth[\"\nflags=[\"subflow\"]\n", 3, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse("p.toml", []byte(tt.in))
			if err == nil {
				t.Fatal("no error")
			}
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *policy.Error", err, err)
			}
			if pe.Line != tt.line {
				t.Errorf("line = %d, want %d (%v)", pe.Line, tt.line, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if pe.Line > 0 && !strings.HasPrefix(err.Error(), "p.toml:") {
				t.Errorf("error %q does not start with file:line", err)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	p, err := policy.Parse("m.toml", []byte(`version = 1
[[rule]]
name = "lab"
interface = "veth*"
ignore = true
[[rule]]
name = "wifi"
kind = "wifi"
flags = ["subflow", "backup"]
[[rule]]
name = "eth1 only ethernet"
interface = "eth1"
kind = "ethernet"
flags = ["signal"]
[[rule]]
name = "rest"
flags = ["subflow", "fullmesh"]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		link policy.Link
		want string
	}{
		{policy.Link{Name: "veth0", Kind: "veth"}, "lab"},
		{policy.Link{Name: "wlan0", Kind: "wifi"}, "wifi"},
		{policy.Link{Name: "eth1", Kind: "ethernet"}, "eth1 only ethernet"},
		{policy.Link{Name: "eth1", Kind: "vlan"}, "rest"},
		{policy.Link{Name: "eth0", Kind: "ethernet"}, "rest"},
	} {
		r, _ := p.Match(tt.link)
		if r == nil || r.Name != tt.want {
			t.Errorf("Match(%+v) = %+v, want rule %q", tt.link, r, tt.want)
		}
	}
	empty, _ := policy.Parse("e.toml", []byte("version = 1\n"))
	if r, i := empty.Match(policy.Link{Name: "eth0"}); r != nil || i != -1 {
		t.Errorf("policy without rules matched %+v", r)
	}
}

func TestFilter(t *testing.T) {
	f := policy.Filter{SkipLoopback: true, SkipLinkLocal: true, SkipULA: true, SkipTemporary: true, RequireDefaultRoute: true}
	for _, tt := range []struct {
		addr  string
		temp  bool
		route bool
		want  string
	}{
		{"10.0.0.1", false, true, ""},
		{"10.0.0.1", false, false, "no IPv4 default route"},
		{"2001:db8::1", false, false, "no IPv6 default route"},
		{"127.0.0.1", false, true, "loopback"},
		{"::1", false, true, "loopback"},
		{"169.254.3.4", false, true, "link-local"},
		{"fe80::1", false, true, "link-local"},
		{"fd00::1", false, true, "unique local"},
		{"2001:db8::2", true, true, "temporary"},
		{"10.0.0.2", true, true, ""}, // the bit means "secondary" for IPv4
	} {
		got := f.Skip(policy.Addr{IP: netip.MustParseAddr(tt.addr), Temporary: tt.temp}, tt.route)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("Skip(%s temp=%v route=%v) = %q, want %q", tt.addr, tt.temp, tt.route, got, tt.want)
		}
	}
	d := policy.Default()
	if got := d.Filter.Skip(policy.Addr{IP: netip.MustParseAddr("fd00::1")}, false); got != "" {
		t.Errorf("default policy skips ULA: %q", got)
	}
	if r, _ := d.Match(policy.Link{Name: "anything", Kind: "other"}); r == nil || r.Flags != policy.FlagSubflow {
		t.Errorf("default rule = %+v", r)
	}
}

func FuzzParse(f *testing.F) {
	ex, _ := os.ReadFile("../docs/policy.example.toml")
	f.Add(string(ex))
	f.Add("version = 1\n[[rule]]\nflags=[\"signal\",\"fullmesh\"]\n")
	f.Fuzz(func(t *testing.T, in string) {
		p, err := policy.Parse("f.toml", []byte(in))
		if err != nil {
			if p != nil {
				t.Fatal("policy and error both returned")
			}
			return
		}
		for _, r := range p.Rules {
			if r.Flags&policy.FlagSignal != 0 && r.Flags&policy.FlagFullmesh != 0 {
				t.Fatal("signal+fullmesh accepted")
			}
		}
		if l := p.Limits.Subflows; l.Set && !l.Auto && l.Value > 8 {
			t.Fatal("limit above 8 accepted")
		}
		_ = p.Summary()
	})
}

// An unknown key found by the strict decoder after another problem in the
// file must not jump ahead of it: the list is in file order.
func TestParseErrorsInFileOrder(t *testing.T) {
	in := "version = 1\n[limits]\nsubflows = 9\n[[rule]]\nname = \"wifi\"\nflgs = [\"subflow\"]\ncolour = 1\n"
	_, err := policy.Parse("p.toml", []byte(in))
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v (%T) does not join several problems", err, err)
	}
	var got []int
	for _, e := range j.Unwrap() {
		var pe *policy.Error
		if !errors.As(e, &pe) {
			t.Fatalf("error %v (%T) is not a *policy.Error", e, e)
		}
		got = append(got, pe.Line)
	}
	want := []int{3, 4, 6, 7}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("error lines (-want +got):\n%s\nerror: %v", diff, err)
	}
}

// TestParseAllTypeErrors: every value of the wrong type is reported, each
// at its line, not only the first one the TOML decoder meets.
func TestParseAllTypeErrors(t *testing.T) {
	in := "version = 1\nowner = 3\n[addresses]\nskip_ula = \"yes\"\n[[rule]]\nname = \"a\"\nflags = \"subflow\"\n[[rule]]\nflags = [\"subflow\"]\nports = [\"ssh\", 22]\nignore = 1\n"
	_, err := policy.Parse("p.toml", []byte(in))
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v (%T) does not join several problems", err, err)
	}
	var got []string
	for _, e := range j.Unwrap() {
		var pe *policy.Error
		if !errors.As(e, &pe) {
			t.Fatalf("error %v (%T) is not a *policy.Error", e, e)
		}
		got = append(got, pe.Error())
	}
	want := []string{
		"p.toml:2: owner must be a string, not an integer (3)",
		"p.toml:4: addresses.skip_ula must be true or false, not a string (\"yes\")",
		"p.toml:7: rule \"a\": flags must be an array of names, not a string (\"subflow\")",
		"p.toml:10: rule 2: ports entry must be an integer, not a string (\"ssh\")",
		"p.toml:11: rule 2: ignore must be true or false, not an integer (1)",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d = %q, want it to start with %q", i, got[i], want[i])
		}
	}
}

// TestParseBOM: a file saved with a UTF-8 byte-order mark loads, and its
// lines are still counted right.
func TestParseBOM(t *testing.T) {
	p, err := policy.Parse("bom.toml", []byte("\xef\xbb\xbfversion = 1\n[[rule]]\nname = \"x\"\nflags = [\"subflow\"]\n"))
	if err != nil {
		t.Fatalf("policy with a BOM: %v", err)
	}
	if len(p.Rules) != 1 || p.Rules[0].Line != 2 {
		t.Errorf("rules %+v, want one at line 2", p.Rules)
	}
	_, err = policy.Parse("bom.toml", []byte("\xef\xbb\xbfversion = 1\nowner = \"me\"\n"))
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Line != 2 {
		t.Errorf("error %v, want one at line 2", err)
	}
}

// TestLoadBounded: a file larger than MaxSize, or an endless one, is
// refused at once with an error that names the limit.
func TestLoadBounded(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.toml")
	data := append([]byte("version = 1\n"), bytes.Repeat([]byte("# padding\n"), policy.MaxSize/10+1)...)
	if err := os.WriteFile(big, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{big, "/dev/zero"} {
		start := time.Now()
		_, err := policy.Load(name)
		if err == nil || !strings.Contains(err.Error(), "larger than 4194304 bytes (4 MiB)") {
			t.Errorf("Load(%s) = %v, want the size limit named", name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Load(%s) took %v", name, d)
		}
	}
	if _, err := policy.Parse("big.toml", data); err == nil || !strings.Contains(err.Error(), "4 MiB") {
		t.Errorf("Parse of %d bytes = %v, want the size limit named", len(data), err)
	}
}
