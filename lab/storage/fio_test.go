package storage

import (
	"os"
	"strings"
	"testing"
)

func TestParseFio(t *testing.T) {
	b, err := os.ReadFile("testdata/fio-randread.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseFio(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != "fio-3.33" || r.Read.IOs != 12508 || int(r.Read.IOPS) != 2872 || r.Read.Bytes != 51232768 {
		t.Errorf("read = %+v (version %s)", r.Read, r.Version)
	}
	if r.Read.ClatP50US < 358000 || r.Read.ClatP50US > 359000 || r.Read.ClatP99US < 650000 || r.Read.ClatP99US > 651000 {
		t.Errorf("clat p50 %g p99 %g µs, want 358.6 and 650.1 ms", r.Read.ClatP50US, r.Read.ClatP99US)
	}
	if r.Write.IOs != 0 || r.Write.ClatP50US != 0 {
		t.Errorf("write = %+v, want nothing", r.Write)
	}

	v, err := os.ReadFile("testdata/fio-verify.json")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := ParseFio(v); err != nil || r.Write.Bytes != 64<<20 || r.Read.Bytes != 64<<20 {
		t.Errorf("verify run: %+v, %v; want 64 MiB written and read back", r, err)
	}

	bad := map[string]string{
		"not json":        "fio: connected to NBD server\n" + string(b),
		"two documents":   string(b) + string(b),
		"job error":       strings.Replace(string(v), `"error" : 0,`, `"error" : 84,`, 1),
		"no error field":  strings.Replace(string(b), `"error" : 0,`, ``, 1),
		"no read section": strings.Replace(string(b), `"read" :`, `"reed" :`, 1),
		"no percentiles":  strings.Replace(string(b), `"99.000000"`, `"98.000000"`, 1),
		"no version":      strings.Replace(string(b), `"fio version"`, `"version"`, 1),
		"no jobs":         `{"fio version": "fio-3.33", "jobs": []}`,
	}
	for name, in := range bad {
		if in == string(b) || in == string(v) {
			t.Fatalf("%s: the replacement did not apply (testdata changed?)", name)
		}
		if _, err := ParseFio([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
