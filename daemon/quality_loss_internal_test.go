package daemon

import (
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/policy"
)

// TestLossNeedsSegments: a loss clause does not hold on a handful of
// segments (1 retransmission in 4 read as 25% loss and demoted a healthy
// path in TestPathSelection on a loaded machine), and does on enough.
func TestLossNeedsSegments(t *testing.T) {
	cond := policy.Condition{Any: [][]policy.Clause{{{Metric: policy.MetricLoss, Op: ">", Value: 2, For: time.Second}}}}
	now := time.Unix(1000, 0)
	at := func(segs, retrans uint64) []sample {
		return []sample{{at: now, segs: segs, retrans: retrans, bytes: segs * 1000, dur: 2 * time.Second}}
	}
	for _, tc := range []struct {
		segs, retrans uint64
		holds         bool
	}{
		{4, 1, false},
		{minLossSegments - 1, 10, false},
		{minLossSegments, 10, true},
		{1000, 100, true},
		{1000, 10, false},
	} {
		why := evaluate(cond, at(tc.segs, tc.retrans), now)
		if (why != "") != tc.holds {
			t.Errorf("%d retransmitted of %d segments: evaluate = %q, want holds=%v", tc.retrans, tc.segs, why, tc.holds)
		}
	}
}
