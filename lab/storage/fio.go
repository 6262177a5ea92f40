package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// FioResult is what one fio run (one group, group_reporting) measured.
type FioResult struct {
	Version string `json:"fio_version"`
	// Read and Write are the two directions (zero when the job did none).
	Read  FioDir `json:"read"`
	Write FioDir `json:"write"`
}

// FioDir is one direction of a fio run.
type FioDir struct {
	IOs        uint64  `json:"ios"`
	Bytes      uint64  `json:"bytes"`
	IOPS       float64 `json:"iops"`
	BitsPerSec float64 `json:"throughput_bps"` // bits per second
	ClatP50US  float64 `json:"clat_p50_us"`    // completion latency, µs
	ClatP99US  float64 `json:"clat_p99_us"`
}

// The parts of fio's --output-format=json that are used. Pointers tell a
// missing field from a zero one.
type fioJSON struct {
	Version *string  `json:"fio version"`
	Jobs    []fioJob `json:"jobs"`
}

type fioJob struct {
	Name  string      `json:"jobname"`
	Error *int        `json:"error"`
	Read  *fioDirJSON `json:"read"`
	Write *fioDirJSON `json:"write"`
}

type fioDirJSON struct {
	IOBytes  *uint64  `json:"io_bytes"`
	BWBytes  *float64 `json:"bw_bytes"`
	IOPS     *float64 `json:"iops"`
	TotalIOs *uint64  `json:"total_ios"`
	Clat     *struct {
		N          uint64             `json:"N"`
		Percentile map[string]float64 `json:"percentile"`
	} `json:"clat_ns"`
}

// ParseFio reads the JSON fio writes with --output-format=json for a run
// with group_reporting (one entry in "jobs"). It refuses output that is
// not one JSON document, lacks a field it needs, or reports a job error.
func ParseFio(b []byte) (*FioResult, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var f fioJSON
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("fio output is not JSON (%v): %q", err, head(b))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("fio output has more than one JSON document: %q", head(b))
	}
	if f.Version == nil || !strings.HasPrefix(*f.Version, "fio-3") {
		return nil, fmt.Errorf("fio output without \"fio version\": fio-3.x (got %v): needs fio 3", deref(f.Version))
	}
	if len(f.Jobs) != 1 {
		return nil, fmt.Errorf("fio output has %d job groups, want 1 (runs use --group_reporting)", len(f.Jobs))
	}
	j := f.Jobs[0]
	if j.Error == nil {
		return nil, fmt.Errorf("fio job %q has no \"error\" field", j.Name)
	}
	if *j.Error != 0 {
		return nil, fmt.Errorf("fio job %q failed with error %d (%s)", j.Name, *j.Error, errnoName(*j.Error))
	}
	r := &FioResult{Version: *f.Version}
	var err error
	if r.Read, err = dir(j.Name, "read", j.Read); err != nil {
		return nil, err
	}
	if r.Write, err = dir(j.Name, "write", j.Write); err != nil {
		return nil, err
	}
	return r, nil
}

func dir(job, name string, d *fioDirJSON) (FioDir, error) {
	if d == nil {
		return FioDir{}, fmt.Errorf("fio job %q has no %q section", job, name)
	}
	if d.IOBytes == nil || d.BWBytes == nil || d.IOPS == nil || d.TotalIOs == nil || d.Clat == nil {
		return FioDir{}, fmt.Errorf("fio job %q %s: missing io_bytes, bw_bytes, iops, total_ios or clat_ns", job, name)
	}
	out := FioDir{IOs: *d.TotalIOs, Bytes: *d.IOBytes, IOPS: *d.IOPS, BitsPerSec: *d.BWBytes * 8}
	if out.IOs == 0 {
		return out, nil
	}
	p50, ok50 := d.Clat.Percentile["50.000000"]
	p99, ok99 := d.Clat.Percentile["99.000000"]
	if !ok50 || !ok99 {
		return FioDir{}, fmt.Errorf("fio job %q %s: clat_ns has no 50th/99th percentile (fio's default percentile list was changed?)", job, name)
	}
	out.ClatP50US, out.ClatP99US = p50/1e3, p99/1e3
	if out.IOPS < 0 || out.BitsPerSec < 0 || out.ClatP50US < 0 || out.ClatP99US < out.ClatP50US {
		return FioDir{}, fmt.Errorf("fio job %q %s: implausible figures (iops %g, bw %g bit/s, clat p50 %g µs, p99 %g µs)", job, name, out.IOPS, out.BitsPerSec, out.ClatP50US, out.ClatP99US)
	}
	return out, nil
}

func head(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func deref(s *string) string {
	if s == nil {
		return "nothing"
	}
	return *s
}

// errnoName names the errno fio puts in a job's "error" (84 EILSEQ is
// fio's verify failure).
func errnoName(n int) string {
	switch n {
	case 5:
		return "EIO"
	case 84:
		return "EILSEQ: data verify failed"
	case 104:
		return "ECONNRESET"
	case 110:
		return "ETIMEDOUT"
	case 111:
		return "ECONNREFUSED"
	}
	return "errno " + fmt.Sprint(n)
}
