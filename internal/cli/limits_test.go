package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/pm"
)

func TestLimitsGolden(t *testing.T) {
	var b bytes.Buffer
	for _, l := range []pm.Limits{{}, {AddAddrAccepted: 0, Subflows: 2}, {AddAddrAccepted: 8, Subflows: 8}} {
		writeLimits(&b, l, false)
		writeLimits(&b, l, true)
	}
	golden(t, "limits/show.txt", b.String())
}

// TestLimitsMatchesIP sets limits with mptcpkit and reads them with ip, and
// the other way round; only the limits given to set change.
func TestLimitsMatchesIP(t *testing.T) {
	ns := nstest.New(t, "limits")
	mk := func(args ...string) string {
		t.Helper()
		out, errs, code := runCLI(context.Background(), append([]string{"-n", ns.Name}, args...)...)
		if code != 0 {
			t.Fatalf("mptcpkit %s: exit %d: %s", strings.Join(args, " "), code, errs)
		}
		return out
	}
	ipShow := func() string { return strings.TrimSpace(ns.Run(t, "ip", "mptcp", "limits", "show")) }

	// ip's bytes, trailing space included (issue 12 point 1).
	if got, want := mk("limits"), "add_addr_accepted 0 subflows 2 \n"; got != want {
		t.Errorf("default limits = %q, want %q", got, want)
	}
	if got, ip := mk("limits", "show"), ns.Run(t, "ip", "mptcp", "limits", "show"); got != ip {
		t.Errorf("limits show = %q, ip prints %q", got, ip)
	}
	// ip's numbers (strtoul base 0): hex and octal; `limits set` alone is a
	// no-op; abbreviations e/l of the ip-mptcp verbs (issue 12 point 4).
	mk("l", "set", "subflows", "0x3", "add_addr_accepted", "04")
	if got := ipShow(); got != "add_addr_accepted 4 subflows 3" {
		t.Errorf("after set subflows 0x3 add_addr_accepted 04, ip shows %q", got)
	}
	if out := mk("limits", "set"); out != "" {
		t.Errorf("limits set alone printed %q", out)
	}
	if got := ipShow(); got != "add_addr_accepted 4 subflows 3" {
		t.Errorf("limits set alone changed the limits: ip shows %q", got)
	}
	mk("limits", "set", "subflows", "2", "add_addr_accepted", "0")
	mk("limits", "set", "subflows", "5")
	if got := ipShow(); got != "add_addr_accepted 0 subflows 5" {
		t.Errorf("after set subflows 5, ip shows %q", got)
	}
	mk("limits", "set", "add_addr_accepted", "3") // subflows stays 5
	if got := ipShow(); got != "add_addr_accepted 3 subflows 5" {
		t.Errorf("after set add_addr_accepted 3, ip shows %q", got)
	}
	mk("limits", "set", "sub", "8", "add", "8") // ip's abbreviations
	if got := ipShow(); got != "add_addr_accepted 8 subflows 8" {
		t.Errorf("after set sub 8 add 8, ip shows %q", got)
	}
	ns.Run(t, "ip", "mptcp", "limits", "set", "subflows", "1", "add_addr_accepted", "2")
	if got, want := mk("limits", "show", "-j"), `{"add_addr_accepted":2,"subflows":1}`+"\n"; got != want {
		t.Errorf("limits show -j = %q, want %q", got, want)
	}
	if got, want := mk("limits", "-j", "show"), `{"add_addr_accepted":2,"subflows":1}`+"\n"; got != want {
		t.Errorf("limits -j show = %q, want %q", got, want)
	}
	if got, want := mk("--json", "limits", "list"), `{"add_addr_accepted":2,"subflows":1}`+"\n"; got != want {
		t.Errorf("--json limits list = %q, want %q", got, want)
	}

	got := transcript(t, strings.NewReplacer(ns.Name, "NS"), [][]string{
		{"-n", ns.Name, "limits", "set", "subflows", "9"},
		{"-n", ns.Name, "limits", "set", "add_addr_accepted", "100"},
		{"-n", ns.Name, "limits", "set", "subflows", "-1"},
		{"-n", ns.Name, "limits", "set", "subflows"},
		{"-n", ns.Name, "limits", "set", "subflows", "0x"},
		{"-n", ns.Name, "limits", "set", "subflows", "0b1"},
		{"-n", ns.Name, "limits", "set", "subflows", "1_0"},
		{"-n", ns.Name, "limits", "set", "subflows", "09"},
		{"-n", ns.Name, "limits", "set", "subflows", "2", "subflows", "3"},
		{"-n", ns.Name, "limits", "set", "paths", "2"},
		{"-n", ns.Name, "limits", "show", "extra"},
		{"-n", ns.Name, "limits", "frob"},
	})
	golden(t, "limits/errors.txt", got)
	if got := ipShow(); got != "add_addr_accepted 2 subflows 1" {
		t.Errorf("refused sets changed the limits: ip shows %q", got)
	}
}
