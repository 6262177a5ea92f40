package storage

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestRowJSONVocabulary: a storage row says its latency in µs (_us) and
// its throughput in bits per second (_bps), the one vocabulary of every
// mptcpkit -j output; no ms, ns or bytes per second keys.
func TestRowJSONVocabulary(t *testing.T) {
	b, err := os.ReadFile("testdata/fio-randread.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseFio(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Read.BitsPerSec != 11766827*8 {
		t.Errorf("throughput %g bit/s, want fio's bw_bytes x 8 = %d", r.Read.BitsPerSec, 11766827*8)
	}
	var row Row
	row.IOs, row.IOPS, row.BitsPerSec, row.ClatP50US, row.ClatP99US = r.Read.IOs, r.Read.IOPS, r.Read.BitsPerSec, r.Read.ClatP50US, r.Read.ClatP99US
	rep := Report{Rows: []Row{row}}
	out, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if bad := regexp.MustCompile(`"[a-z_]*(_ns|_ms|_per_s)"`).FindAllString(s, -1); bad != nil {
		t.Errorf("keys in other units %v: %s", bad, s)
	}
	for _, want := range []string{`"throughput_bps":94134616`, `"clat_p50_us":358`, `"clat_p99_us":650`} {
		if !strings.Contains(s, want) {
			t.Errorf("no %s in %s", want, s)
		}
	}
}
