package daemon

import (
	"bufio"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// This file is a small writer of the Prometheus text exposition format
// (version 0.0.4): counters, gauges and one histogram, with HELP/TYPE lines
// and escaped label values. The daemon used prometheus/client_golang
// before; its package initialisation (default registry, Go and process
// collectors, protobuf descriptors) cost every mptcpkit command ~1-2 ms of
// start-up for a feature only the daemon uses, and linked protobuf into
// the binary.

// family is one metric family: a name, help text, type and label names,
// with one series per combination of label values.
type family struct {
	name, help, typ string
	labels          []string
	buckets         []float64 // histograms only

	mu     sync.Mutex
	series map[string]*series
}

type series struct {
	values []string
	v      float64
	counts []uint64 // histograms: per bucket (not cumulative)
	sum    float64
	n      uint64
}

func newFamily(name, typ, help string, labels ...string) *family {
	return &family{name: name, help: help, typ: typ, labels: labels, series: map[string]*series{}}
}

// get returns the series for the label values, creating it.
func (f *family) get(values []string) *series {
	if len(values) != len(f.labels) {
		panic("metrics: " + f.name + ": wrong number of label values")
	}
	key := strings.Join(values, "\xff")
	s := f.series[key]
	if s == nil {
		s = &series{values: append([]string(nil), values...)}
		if f.typ == "histogram" {
			s.counts = make([]uint64, len(f.buckets))
		}
		f.series[key] = s
	}
	return s
}

// metric is one series of a counter or gauge family.
type metric struct {
	f      *family
	values []string
}

func (m metric) Add(v float64) {
	m.f.mu.Lock()
	m.f.get(m.values).v += v
	m.f.mu.Unlock()
}
func (m metric) Inc() { m.Add(1) }
func (m metric) Set(v float64) {
	m.f.mu.Lock()
	m.f.get(m.values).v = v
	m.f.mu.Unlock()
}

// value returns the series' value and whether it exists.
func (m metric) value() (float64, bool) {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	s := m.f.series[strings.Join(m.values, "\xff")]
	if s == nil {
		return 0, false
	}
	return s.v, true
}

// vec is a family with labels; scalar a family without.
type vec struct{ f *family }

func (v vec) WithLabelValues(values ...string) metric { return metric{f: v.f, values: values} }

// reset drops every series (gauges whose label sets change).
func (v vec) reset() {
	v.f.mu.Lock()
	v.f.series = map[string]*series{}
	v.f.mu.Unlock()
}

func scalar(f *family) metric {
	f.get(nil) // a label-less counter or gauge is exposed as 0 from the start
	return metric{f: f}
}

// histogram is a label-less histogram.
type histogram struct{ f *family }

func newHistogram(name, help string, buckets []float64) histogram {
	f := newFamily(name, "histogram", help)
	f.buckets = buckets
	f.get(nil)
	return histogram{f: f}
}

func (h histogram) Observe(v float64) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	s := h.f.get(nil)
	for i, b := range h.f.buckets {
		if v <= b {
			s.counts[i]++
			break
		}
	}
	s.sum += v
	s.n++
}

func exponentialBuckets(start, factor float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = start
		start *= factor
	}
	return out
}

// textWriter writes families in the text format.
type textWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (t *textWriter) header(name, typ, help string) {
	t.w.WriteString("# HELP " + name + " " + escapeHelp(help) + "\n")
	t.w.WriteString("# TYPE " + name + " " + typ + "\n")
}

// sample writes `name{l1="v1",...} value`.
func (t *textWriter) sample(name string, labels, values []string, v float64) {
	t.buf = append(t.buf[:0], name...)
	if len(labels) > 0 {
		t.buf = append(t.buf, '{')
		for i, l := range labels {
			if i > 0 {
				t.buf = append(t.buf, ',')
			}
			t.buf = append(t.buf, l...)
			t.buf = append(t.buf, '=', '"')
			t.buf = appendLabelValue(t.buf, values[i])
			t.buf = append(t.buf, '"')
		}
		t.buf = append(t.buf, '}')
	}
	t.buf = append(t.buf, ' ')
	t.buf = appendFloat(t.buf, v)
	t.buf = append(t.buf, '\n')
	t.w.Write(t.buf)
}

// comment writes a comment line (ignored by parsers), used to say why a
// family read at scrape time is missing.
func (t *textWriter) comment(s string) {
	t.w.WriteString("# " + strings.ReplaceAll(s, "\n", " ") + "\n")
}

func (t *textWriter) family(f *family) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t.header(f.name, f.typ, f.help)
	keys := make([]string, 0, len(f.series))
	for k := range f.series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// Label pairs in name order, as Prometheus' own client writes them.
	perm := make([]int, len(f.labels))
	for i := range perm {
		perm[i] = i
	}
	sort.Slice(perm, func(i, j int) bool { return f.labels[perm[i]] < f.labels[perm[j]] })
	labels := make([]string, len(f.labels))
	values := make([]string, len(f.labels))
	for i, p := range perm {
		labels[i] = f.labels[p]
	}
	for _, k := range keys {
		s := f.series[k]
		if f.typ != "histogram" {
			for i, p := range perm {
				values[i] = s.values[p]
			}
			t.sample(f.name, labels, values, s.v)
			continue
		}
		var cum uint64
		for i, b := range f.buckets {
			cum += s.counts[i]
			t.sample(f.name+"_bucket", []string{"le"}, []string{string(appendFloat(nil, b))}, float64(cum))
		}
		t.sample(f.name+"_bucket", []string{"le"}, []string{"+Inf"}, float64(s.n))
		t.sample(f.name+"_sum", nil, nil, s.sum)
		t.sample(f.name+"_count", nil, nil, float64(s.n))
	}
}

func escapeHelp(s string) string {
	if !strings.ContainsAny(s, "\\\n") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func appendLabelValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func newTextWriter(w io.Writer) *textWriter { return &textWriter{w: bufio.NewWriter(w)} }
func (t *textWriter) flush() error          { return t.w.Flush() }
