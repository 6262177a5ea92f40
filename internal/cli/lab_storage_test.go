package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/lab"
	"github.com/mptcpkit/mptcpkit/lab/storage"
)

// TestLabStorageUsage: bad flags get one clear error naming the flag (exit
// 2) before anything is built.
func TestLabStorageUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"lab", "storage", "--paths", "9"}, "--paths 9: want 1 to 8"},
		{[]string{"lab", "storage", "--rate", "fast"}, "--rate"},
		{[]string{"lab", "storage", "--loss", "120"}, "--loss"},
		{[]string{"lab", "storage", "-t", "0"}, "-t 0: want 1 to 3600 seconds"},
		{[]string{"lab", "storage", "--client", "iscsi"}, `--client "iscsi": want libnbd or kernel`},
		{[]string{"lab", "storage", "--name", "Bad_Name"}, "--name"},
		{[]string{"lab", "storage", "--lab", "Bad_Name"}, "--lab"},
		{[]string{"lab", "storage", "extra"}, `takes no arguments (got "extra")`},
		{[]string{"lab", "storage", "--rcvbuf", "1k"}, `--rcvbuf "1k": want a byte count of at least 4096, or kernel`},
		{[]string{"lab", "storage", "--rcvbuf", "100"}, `--rcvbuf "100"`},
	} {
		out, errs, code := runCLI(context.Background(), c.args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 and %q", c.args, code, errs, out, c.want)
		}
	}
	out, _, code := runCLI(context.Background(), "lab", "storage", "--help")
	if code != 0 || !strings.Contains(out, "4k random reads, 4 jobs, iodepth 256") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
}

// TestLabStorageJSON is the "done when" as a user runs it: the
// built mptcpkit, `lab storage -j` on 2 x 100 Mbit/s (3 s per row), whose
// JSON shows MPTCP/TCP 4k IOPS >= 1.8 with 2 subflows per connection and
// no fallback, and the lab gone afterwards. A row hit by the MPTCP receive
// stall (docs/BENCHMARKS.md) is run again once.
func TestLabStorageJSON(t *testing.T) {
	nstest.Require(t)
	dir := t.TempDir()
	exe := filepath.Join(dir, "mptcpkit")
	build := exec.Command("go", "build", "-o", exe, "../../cmd/mptcpkit")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	name := labTestName("s")
	cleanLab(t, name)
	var rep storage.Report
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, exe, "lab", "storage", "-j", "-t", "3", "--out", "-", "--name", name)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Fatalf("lab storage: %v\n%s", err, stderr.String())
		}
		rep = storage.Report{}
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("lab storage -j printed no report: %v\n%s", err, out)
		}
		checkVocab(t, "lab storage -j", out)
		stalled := false
		for _, r := range rep.Rows {
			stalled = stalled || r.Stalled
		}
		if !stalled {
			break
		}
		if attempt == 3 {
			t.Fatalf("a row stalled in 3 attempts: %s", out)
		}
		t.Logf("attempt %d: a row stalled; running again", attempt)
	}
	if lab.Exists(name) {
		t.Errorf("lab %s left behind", name)
	}
	var found bool
	for _, c := range rep.Comparisons {
		if c.Workload != storage.RandRead4K {
			continue
		}
		found = true
		m := c.MPTCP.Conns
		t.Logf("4k randread: TCP %.0f, MPTCP %.0f IOPS (%.2fx), MPTCP %+v", c.TCP.IOPS, c.MPTCP.IOPS, c.Ratio, m)
		if c.Ratio < 1.8 {
			t.Errorf("MPTCP/TCP IOPS %.2f, want >= 1.8", c.Ratio)
		}
		if m.MPTCP != 4 || m.Subflows != 2 || m.Fallback || m.TCP != 0 {
			t.Errorf("MPTCP run: %+v, want 4 MPTCP connections with 2 subflows, no fallback", m)
		}
	}
	if !found || rep.Reference.Ratio < 1.95 || rep.Reference.Ratio > 1.96 {
		t.Errorf("report without the 4k comparison or the reference: %+v", rep)
	}
}
