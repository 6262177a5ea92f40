package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/lab"
)

// TestLabNetNSRef: -n lab:NAME:client reaches the lab's client namespace,
// as the help examples say; bad references are refused with the fix; and
// lab up's help and Try lines give the addresses a delayed path really has
// (issue 13 point 10).
func TestLabNetNSRef(t *testing.T) {
	nstest.Require(t)
	name := labTestName("n")
	cleanLab(t, name)
	ctx := context.Background()
	help, _, _ := runCLI(ctx, "lab", "up", "--help")
	if !strings.Contains(help, "10.L.(100+P).2") {
		t.Errorf("lab up --help does not give a delayed path's server address (10.L.(100+P).2, checked by lab's TestDelayLine)")
	}
	out, errs, code := runCLI(ctx, "lab", "up", "--name", name, "--paths", "1")
	if code != 0 {
		t.Fatalf("lab up: exit %d: %s%s", code, out, errs)
	}
	st, err := lab.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	srv := st.Paths[0].ServerAddr.String()
	if want := fmt.Sprintf("-n lab:%s:client bench client %s --compare", name, srv); !strings.Contains(out, want) {
		t.Errorf("lab up's Try lines lack %q:\n%s", want, out)
	}
	out, errs, code = runCLI(ctx, "-n", "lab:"+name+":client", "-j", "limits")
	var lim struct {
		Subflows        uint32 `json:"subflows"`
		AddAddrAccepted uint32 `json:"add_addr_accepted"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &lim) != nil || lim.Subflows != 8 || lim.AddAddrAccepted != 8 {
		t.Errorf("-n lab:%s:client -j limits: exit %d, %q %q; want the lab's limits (subflows 8, add_addr_accepted 8)", name, code, out, errs)
	}
	for _, tt := range []struct{ ref, want string }{
		{"lab:" + name + ":middle", "write lab:NAME:client or lab:NAME:server"},
		{"lab:zz" + strconv.Itoa(st.Number) + "none:client", "no lab"},
		{"lab:Bad_Name:server", "not valid"},
	} {
		_, errs, code := runCLI(ctx, "-n", tt.ref, "limits")
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("-n %s limits: exit %d, stderr %q; want exit 2 and %q", tt.ref, code, errs, tt.want)
		}
	}
}

// TestLabHelpListsEveryVerb checks that `lab --help` lists every verb the
// command tree dispatches (`lab kv` was once left out), and that each
// verb's name and aliases reach it.
func TestLabHelpListsEveryVerb(t *testing.T) {
	lab := labCommand()
	if len(lab.Sub) < 8 {
		t.Fatalf("found only %v in the lab command's verbs", names(lab.Sub))
	}
	out, _, _ := runCLI(context.Background(), "lab", "--help")
	for _, v := range lab.Sub {
		if !v.Hidden && !strings.Contains(out, "\n  "+v.Name+" ") {
			t.Errorf("lab --help does not list verb %q", v.Name)
		}
		for _, n := range append([]string{v.Name}, v.Aliases...) {
			got, _, _ := runCLI(context.Background(), "lab", n, "--help")
			if got != v.Help {
				t.Errorf("lab %s --help printed %q, want the help of lab %s", n, got, v.Name)
			}
		}
	}
}

func TestSelfCommandFor(t *testing.T) {
	none := func(string) (string, error) { return "", fmt.Errorf("not found") }
	for _, tt := range []struct {
		exe      string
		look     func(string) (string, error)
		cmd      string
		wantNote bool
	}{
		{"/nonexistent/bin/mptcpkit", none, "/nonexistent/bin/mptcpkit", false},
		{"/tmp/go-build123/b001/exe/mptcpkit", none, "mptcpkit", true},
		{"/tmp/x/cli.test", none, "mptcpkit", true},
	} {
		cmd, note := selfCommandFor(tt.exe, tt.look)
		if cmd != tt.cmd || (note != "") != tt.wantNote {
			t.Errorf("selfCommandFor(%s) = %q, %q; want %q, note %v", tt.exe, cmd, note, tt.cmd, tt.wantNote)
		}
	}
}
