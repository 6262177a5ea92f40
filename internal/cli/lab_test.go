package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/lab"
)

// labTestName is a lab name unique to this test binary.
func labTestName(tag string) string {
	n := fmt.Sprintf("c%s%d", tag, os.Getpid()%10000)
	if len(n) > lab.MaxNameLen {
		n = n[:lab.MaxNameLen]
	}
	return n
}

// cleanLab removes lab name when t ends and checks nothing is left.
func cleanLab(t *testing.T, name string) {
	t.Cleanup(func() {
		if err := lab.Down(name, nil); err != nil {
			t.Errorf("lab down %s: %v", name, err)
		}
		if lab.Exists(name) {
			t.Errorf("lab %s left something behind", name)
		}
	})
}

func TestLabUsageErrors(t *testing.T) {
	got := transcript(t, nil, [][]string{
		{"lab"},
		{"lab", "sideways"},
		{"lab", "up", "--paths", "9"},
		{"lab", "up", "--paths", "3", "--rate", "100mbit,20mbit"},
		{"lab", "up", "--name", "Bad_Name"},
		{"lab", "up", "--rate", "fast"},
		{"lab", "up", "--loss", "120%"},
		{"lab", "up", "--delay", "soon"},
		{"lab", "up", "extra"},
		{"lab", "link", "1", "sideways"},
		{"lab", "link", "one", "down"},
		{"lab", "exec"},
		{"lab", "exec", "client"},
		{"lab", "demo", "-t", "0"},
		{"lab", "failover", "--side", "middle"},
		{"lab", "failover", "-t", "10", "--down-at", "5", "--down-for", "8"},
		{"lab", "bench", "--paths", "0,2"},
		{"lab", "show", "nosuch"},
	})
	golden(t, "lab/errors.txt", got)
}

func TestLabHelp(t *testing.T) {
	for _, verb := range []string{"", "up", "down", "show", "exec", "link", "demo", "failover", "bench"} {
		args := []string{"lab", "--help"}
		if verb != "" {
			args = []string{"lab", verb, "--help"}
		}
		out, errs, code := runCLI(context.Background(), args...)
		if code != 0 || !strings.Contains(out, "Usage: mptcpkit lab") || !strings.Contains(out, "Examples:") {
			t.Errorf("mptcpkit %s: exit %d, stdout %q, stderr %q: want usage with examples", strings.Join(args, " "), code, out, errs)
		}
	}
}

func TestLabUpShowExecLinkDown(t *testing.T) {
	nstest.Require(t)
	name := labTestName("u")
	cleanLab(t, name)
	ctx := context.Background()
	out, errs, code := runCLI(ctx, "lab", "up", "--name", name, "--paths", "2", "--rate", "100mbit,20mbit", "--loss", "0,1%")
	if code != 0 {
		t.Fatalf("lab up: exit %d: %s%s", code, out, errs)
	}
	if !strings.Contains(out, "20Mbit") || !strings.Contains(out, "1%") {
		t.Errorf("lab up output lacks the path settings:\n%s", out)
	}
	// exec runs inside and passes the exit status.
	if _, _, code := runCLI(ctx, "lab", "exec", "client", "--name", name, "--", "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("lab exec exit 3: got %d", code)
	}
	out, _, code = runCLI(ctx, "lab", "exec", "server", "--name", name, "--", "cat", "/proc/net/dev")
	if code != 0 || !strings.Contains(out, "mk"+name+"s2") {
		t.Errorf("lab exec server: exit %d, %q: want the server's path-2 interface", code, out)
	}
	// link down shows in show -j.
	if out, errs, code := runCLI(ctx, "lab", "link", "2", "down", "--name", name); code != 0 {
		t.Fatalf("lab link: exit %d %s%s", code, out, errs)
	}
	// -j after the name, as `lab show --help` shows it.
	out, _, code = runCLI(ctx, "lab", "show", name, "-j")
	var shown []struct {
		Name  string `json:"name"`
		Paths []struct {
			Rate uint64 `json:"rate_bps"`
		} `json:"paths"`
		Counters []struct{ Up bool } `json:"counters"`
		CC       string              `json:"cc_in_effect"`
		Loss     string              `json:"loss_method"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || code != 0 {
		t.Fatalf("lab show -j: exit %d, %v:\n%s", code, err, out)
	}
	// Which loss method the kernel gave (netem where it has it), in text too.
	if len(shown) == 1 {
		text, _, _ := runCLI(ctx, "lab", "show", name)
		if m := shown[0].Loss; m != "netem" && m != "nftables" || !strings.Contains(text, "  loss: "+m) {
			t.Errorf("lab show: loss method %q (-j), text:\n%s\nwant netem or nftables, shown in both", m, text)
		}
	}
	if len(shown) != 1 || shown[0].Name != name || len(shown[0].Paths) != 2 || shown[0].Paths[1].Rate != 20e6 ||
		len(shown[0].Counters) != 2 || !shown[0].Counters[0].Up || shown[0].Counters[1].Up || shown[0].CC == "" {
		t.Errorf("lab show -j: %+v: want 2 paths, path 2 at 20 Mbit and down, a congestion control", shown)
	}
	// --name works for show as for exec and link.
	out2, errs, code := runCLI(ctx, "-j", "lab", "show", "--name", name)
	shown = nil
	if err := json.Unmarshal([]byte(out2), &shown); err != nil || code != 0 || len(shown) != 1 || shown[0].Name != name {
		t.Errorf("lab show --name %s -j: exit %d, %v, %s:\n%s\nwant lab %s alone", name, code, err, errs, out2, name)
	}
	out, _, code = runCLI(ctx, "lab", "down", name)
	if code != 0 || !strings.Contains(out, "removed") {
		t.Errorf("lab down: exit %d, %q", code, out)
	}
	if lab.Exists(name) {
		t.Error("lab still exists after lab down")
	}
	out, _, code = runCLI(ctx, "lab", "down", name)
	if code != 0 || !strings.Contains(out, "nothing to remove") {
		t.Errorf("second lab down: exit %d, %q", code, out)
	}
}

func TestLabDemo(t *testing.T) {
	nstest.Require(t)
	name := labTestName("d")
	cleanLab(t, name)
	// No --out: the report goes to $XDG_STATE_HOME/mptcpkit/demo, printed
	// as an absolute path, and nothing lands in the current directory
	// (issue 13 point 10).
	state, cwd := t.TempDir(), t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	t.Chdir(cwd)
	dir := filepath.Join(state, "mptcpkit", "demo")
	out, errs, code := runCLI(context.Background(), "lab", "demo", "--name", name, "-t", "2")
	if code != 0 {
		t.Fatalf("lab demo: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "report: "+filepath.Join(dir, "mptcpkit-demo.json")+"\n") {
		t.Errorf("lab demo output does not name the report's absolute path %s:\n%s", dir, out)
	}
	if ents, _ := os.ReadDir(cwd); len(ents) > 0 {
		t.Errorf("lab demo wrote %s into the current directory", ents[0].Name())
	}
	for _, want := range []string{"building lab", "running TCP", "running MPTCP", "goodput (Mbit/s)", "MPTCP / TCP", "path 2 bytes sent", "removing lab"} {
		if !strings.Contains(out, want) {
			t.Errorf("lab demo output lacks %q:\n%s", want, out)
		}
	}
	if lab.Exists(name) {
		t.Error("lab demo left its lab behind")
	}
	var rep lab.DemoReport
	b, err := os.ReadFile(filepath.Join(dir, "mptcpkit-demo.json"))
	if err == nil {
		err = json.Unmarshal(b, &rep)
	}
	if err != nil {
		t.Fatal(err)
	}
	checkVocab(t, "mptcpkit-demo.json", b)
	if rep.Ratio < 1.5 || rep.CC == "" || len(rep.MPTCP.Paths) != 2 || rep.MPTCP.Paths[1].WireBytes < 1e6 {
		t.Errorf("report: ratio %.2f, cc %q, paths %+v: want MPTCP well above TCP with both paths used", rep.Ratio, rep.CC, rep.MPTCP.Paths)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "mptcpkit-demo.svg"))
	if err != nil || !strings.HasPrefix(string(svg), "<svg") || !strings.Contains(string(svg), fmt.Sprintf("%.1f Mbit/s", rep.MPTCP.Mbps)) {
		t.Errorf("chart: %v\n%.300s", err, svg)
	}
}

func TestLabDemoInterrupted(t *testing.T) {
	nstest.Require(t)
	name := labTestName("i")
	cleanLab(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	out, errs, code := runCLI(ctx, "lab", "demo", "--name", name, "-t", "5", "--out", t.TempDir())
	if code != 130 || !strings.Contains(errs, "interrupted") {
		t.Errorf("interrupted lab demo: exit %d, stderr %q: want 130 and a word on it", code, errs)
	}
	if !strings.Contains(out, "removing lab") {
		t.Errorf("interrupted demo did not say it removed its lab:\n%s%s", out, errs)
	}
	if lab.Exists(name) {
		t.Error("interrupted lab demo left its lab behind")
	}
}

func TestLabFailoverCLI(t *testing.T) {
	nstest.Require(t)
	name := labTestName("f")
	cleanLab(t, name)
	out, errs, code := runCLI(context.Background(), "-j", "lab", "failover", "--name", name, "-t", "4", "--down-at", "1", "--down-for", "1.5", "--side", "server")
	if code != 0 {
		t.Fatalf("lab failover: exit %d\n%s%s", code, out, errs)
	}
	var rep lab.FailoverReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("lab failover -j: %v\n%s", err, out)
	}
	checkVocab(t, "lab failover -j", []byte(out))
	tr := rep.Transfer
	if tr == nil || !tr.Completed || !tr.ChecksumMatch || tr.SHA256Sent == "" || tr.CC == "" || len(tr.Paths) != 2 || len(tr.Events) != 2 {
		t.Errorf("failover report: %+v", tr)
	}
	if lab.Exists(name) {
		t.Error("lab failover left its lab behind")
	}
}

func TestLabBenchCLI(t *testing.T) {
	nstest.Require(t)
	name := labTestName("b")
	cleanLab(t, name)
	out, errs, code := runCLI(context.Background(), "lab", "bench", "--name", name, "--paths", "1", "-t", "1", "--cc", "reno")
	if code != 0 {
		t.Fatalf("lab bench: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "EFFICIENCY") || !strings.Contains(out, "reno") || !strings.Contains(out, "100Mbit") {
		t.Errorf("lab bench output:\n%s", out)
	}
	if lab.Exists(name) {
		t.Error("lab bench left its lab behind")
	}
}
