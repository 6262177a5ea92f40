package daemon

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestTextFormat: the hand-written exposition parses with Prometheus' own
// text parser, label values with quotes, backslashes and newlines come back
// unchanged, and counters, gauges and the histogram keep their types and
// values.
func TestTextFormat(t *testing.T) {
	m := NewMetrics()
	m.reconciles.Inc()
	m.reconciles.Inc()
	m.changes.WithLabelValues("add").Add(3)
	weird := "a\"b\\c\nd"
	m.info.WithLabelValues("kernel", weird).Set(1)
	m.reconcileSeconds.Observe(0.0001)
	m.reconcileSeconds.Observe(0.003)
	m.reconcileSeconds.Observe(100)
	m.setEndpoints(nil, 0)

	var b bytes.Buffer
	if err := m.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("not the text format: %v\n%s", err, b.String())
	}
	if got := mfs["mptcpkit_daemon_reconciles_total"].GetMetric()[0].GetCounter().GetValue(); got != 2 {
		t.Errorf("reconciles = %v, want 2", got)
	}
	if mf := mfs["mptcpkit_daemon_endpoint_changes_total"]; mf.GetType().String() != "COUNTER" || mf.GetMetric()[0].GetLabel()[0].GetValue() != "add" || mf.GetMetric()[0].GetCounter().GetValue() != 3 {
		t.Errorf("changes: %v", mf)
	}
	info := mfs["mptcpkit_daemon_info"]
	if info.GetType().String() != "GAUGE" || len(info.GetMetric()) != 1 {
		t.Fatalf("info: %v", info)
	}
	for _, l := range info.GetMetric()[0].GetLabel() {
		if l.GetName() == "netns" && l.GetValue() != weird {
			t.Errorf("label value %q came back as %q", weird, l.GetValue())
		}
	}
	if !strings.Contains(info.GetHelp(), `(kernel or userspace)`) {
		t.Errorf("help: %q", info.GetHelp())
	}
	h := mfs["mptcpkit_daemon_reconcile_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 3 || h.GetSampleSum() != 100.0031 {
		t.Errorf("histogram count %d sum %v, want 3 and 100.0031", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, bk := range h.GetBucket() {
		if math.IsInf(bk.GetUpperBound(), 1) {
			continue
		}
		want := uint64(1)
		if bk.GetUpperBound() >= 0.003 {
			want = 2
		}
		if bk.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v: %d, want %d", bk.GetUpperBound(), bk.GetCumulativeCount(), want)
		}
	}
	if got := mfs["mptcpkit_endpoints"].GetMetric(); len(got) != 7 {
		t.Errorf("endpoints by flag: %d series, want 7", len(got))
	}
}

// TestNoMetricsLibraryInBinary: the mptcpkit binary links no Prometheus
// client library nor protobuf (their package initialisation slowed every
// command's start-up); prometheus/common stays a test-only dependency.
func TestNoMetricsLibraryInBinary(t *testing.T) {
	if v := os.Getenv("MPTCPKIT_VM"); v != "" {
		t.Skipf("kernel matrix guest (%s) has no go toolchain; this build property is checked on the host", v)
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/mptcpkit/mptcpkit/cmd/mptcpkit").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/prometheus/client_golang") || strings.HasPrefix(pkg, "github.com/prometheus/common") ||
			strings.HasPrefix(pkg, "github.com/prometheus/client_model") || strings.HasPrefix(pkg, "google.golang.org/protobuf") {
			t.Errorf("cmd/mptcpkit depends on %s", pkg)
		}
	}
}
