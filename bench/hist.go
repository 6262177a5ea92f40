package bench

import (
	"math"
	"math/bits"
	"time"
)

// histogram counts durations in log-linear buckets: exact below
// histSub nanoseconds, then histSub buckets per power of two (relative
// error under 1/histSub). Its memory is fixed (histBuckets counters)
// whatever it records; values beyond histMax are clamped.
type histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      float64
	min, max time.Duration
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // 128
	histMaxExp  = 40               // 2^40 ns ≈ 18 minutes
	histBuckets = histSub + (histMaxExp-histSubBits+1)*histSub
	histMax     = time.Duration(1)<<histMaxExp - 1
)

func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits - 1 // v>>e is in [histSub, 2*histSub)
	return histSub + e*histSub + int(v>>e) - histSub
}

// histUpper is the largest value that falls in bucket i.
func histUpper(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	e := (i - histSub) / histSub
	m := uint64((i-histSub)%histSub + histSub)
	return (m+1)<<e - 1
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	if d > histMax {
		d = histMax
	}
	h.counts[histIndex(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the smallest bucket bound below which a fraction q of
// the values fall, never more than the largest value recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			d := time.Duration(histUpper(i))
			if d > h.max {
				d = h.max
			}
			if d < h.min {
				d = h.min
			}
			return d
		}
	}
	return h.max
}

func (h *histogram) latency(size int, seconds float64) *Latency {
	l := &Latency{Size: size, Transactions: int64(h.n)}
	if seconds > 0 {
		l.Rate = float64(h.n) / seconds
	}
	if h.n > 0 {
		l.Min, l.Max = h.min, h.max
		l.Mean = time.Duration(h.sum / float64(h.n))
		l.P50, l.P90, l.P99 = h.quantile(0.50), h.quantile(0.90), h.quantile(0.99)
	}
	return l
}
