package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/lab"
)

// TestLabInputRefused covers issue 13 point 6: lab input that tc or the
// lab would misread, or that was accepted and ignored, is refused with the
// fix in the message.
func TestLabInputRefused(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"lab", "up", "--rate", "100"}, "no unit: write e.g. 100mbit"},
		{[]string{"lab", "up", "--rate", "100M"}, "one of tc's units"},
		{[]string{"lab", "up", "--queue", "0"}, "--queue 0: want 1 to 100000 packets"},
		{[]string{"lab", "bench", "--queue", "0"}, "--queue 0: want 1 to 100000"},
		{[]string{"lab", "up", "--delay", "20"}, `delay "20" has no unit: write e.g. 20ms`},
		{[]string{"-n", "/proc/self/ns/net", "lab", "show"}, "lab show does not take -n"},
		{[]string{"-n", "/proc/self/ns/net", "lab", "down"}, "lab down does not take -n"},
		{[]string{"lab", "down", "ux1", "--name", "x"}, "got both --name x and ux1"},
		{[]string{"lab", "down", "--all", "l1"}, "--all takes no lab names"},
		{[]string{"lab", "down", "l1", "--force"}, "--force only goes with --all"},
	} {
		out, errs, code := runCLI(context.Background(), tt.args...)
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("mptcpkit %s: exit %d, stdout %q, stderr %q; want exit 2 and %q", strings.Join(tt.args, " "), code, out, errs, tt.want)
		}
	}
}

// TestLabRateNote: a rate in tc's bytes units is read as tc reads it and
// the reading is said.
func TestLabRateNote(t *testing.T) {
	r, err := lab.ParseList("100mbps", lab.ParseRate)
	if err != nil || r[0] != 800_000_000 {
		t.Fatalf("ParseRate(100mbps) = %v, %v; want 800000000 (tc: megabytes/s)", r, err)
	}
	if n := labRateNote("100mbps", r); !strings.Contains(n, "800Mbit per path") {
		t.Errorf("note for 100mbps = %q", n)
	}
	if n := labRateNote("100mbit", []uint64{100e6}); n != "" {
		t.Errorf("note for 100mbit = %q, want none", n)
	}
}

// TestLabDownAllKeepsOthers: `lab down --all` removes the caller's labs
// only; other users' labs are listed and kept (SUDO_UID stands in for two
// users so the test never touches labs made by anything else).
func TestLabDownAllKeepsOthers(t *testing.T) {
	nstest.Require(t)
	name := labTestName("o")
	cleanLab(t, name)
	ctx := context.Background()
	owner := fmt.Sprint(3_000_000 + os.Getpid())
	other := fmt.Sprint(3_500_000 + os.Getpid())
	t.Setenv("SUDO_UID", owner)
	if out, errs, code := runCLI(ctx, "lab", "up", "--name", name, "--paths", "1"); code != 0 {
		t.Fatalf("lab up: exit %d: %s%s", code, out, errs)
	}
	st, err := lab.Load(name)
	if err != nil || fmt.Sprint(st.CreatorUID) != owner {
		t.Fatalf("lab state creator = %+v, %v; want uid %s", st, err, owner)
	}
	t.Setenv("SUDO_UID", other)
	out, errs, code := runCLI(ctx, "lab", "down", "--all")
	if code != 0 || !strings.Contains(errs, name+" (made by uid "+owner+")") || !strings.Contains(errs, "--force") {
		t.Errorf("lab down --all as another user: exit %d, stdout %q, stderr %q; want the lab kept and named", code, out, errs)
	}
	if !lab.Exists(name) {
		t.Fatalf("lab down --all as another user removed lab %s", name)
	}
	t.Setenv("SUDO_UID", owner)
	out, errs, code = runCLI(ctx, "lab", "down", "--all")
	if code != 0 || !strings.Contains(out, "lab "+name+" removed") {
		t.Errorf("lab down --all as its creator: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if lab.Exists(name) {
		t.Errorf("lab %s still exists after its creator's lab down --all", name)
	}
}
