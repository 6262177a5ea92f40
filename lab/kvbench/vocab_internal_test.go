package kvbench

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestRowJSONVocabulary: redis-benchmark's latencies (ms) land in the row
// and its JSON in µs (_us keys), the one vocabulary of mptcpkit's -j
// outputs; no _ms keys.
func TestRowJSONVocabulary(t *testing.T) {
	csv := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","41666.67","1.130","0.248","0.887","2.423","4.207","12.631"
`
	var row Row
	if err := parseCSV([]byte(csv), &row); err != nil {
		t.Fatal(err)
	}
	if row.RPS != 41666.67 || row.AvgUS != 1130 || row.P50US != 887 || row.P99US != 4207 {
		t.Errorf("row %+v: want rps 41666.67, avg 1130 µs, p50 887 µs, p99 4207 µs", row)
	}
	b, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if bad := regexp.MustCompile(`"[a-z_]*(_ns|_ms)"`).FindAllString(s, -1); bad != nil {
		t.Errorf("keys in other units %v: %s", bad, s)
	}
	for _, want := range []string{`"avg_us":1130`, `"p50_us":887`, `"p99_us":4207`} {
		if !strings.Contains(s, want) {
			t.Errorf("no %s in %s", want, s)
		}
	}
}
