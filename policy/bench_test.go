package policy_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/policy"
)

// manyRules returns a valid policy with n rules of five keys each.
func manyRules(n int) []byte {
	var b strings.Builder
	b.WriteString("version = 1\n[limits]\nsubflows = \"auto\"\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\n[[rule]]\nname = \"r%d\"\ninterface = \"eth%d*\"\nkind = \"ethernet\"\nflags = [\"subflow\", \"backup\"]\nports = [22, %d]\n", i, i, 1+i%60000)
	}
	return []byte(b.String())
}

// BenchmarkParse16000 loads a policy of 16,000 rules (1.4 MB).
func BenchmarkParse16000(b *testing.B) {
	data := manyRules(16000)
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		p, err := policy.Parse("big.toml", data)
		if err != nil || len(p.Rules) != 16000 {
			b.Fatalf("%v, %d rules", err, len(p.Rules))
		}
	}
}

// TestParseLinear: loading grows linearly with the file. Eight times the
// rules may take up to 24 times as long: a linear loader takes about 8
// (both sizes are larger than the caches), a quadratic one 64 (the old one
// took 2.9 s for 2,000 rules and 26.7 s for 16,000). The fastest of five runs of each size
// is compared; a run of the large file that takes three times the bound
// fails the test at once rather than waiting for a quadratic loader.
func TestParseLinear(t *testing.T) {
	const small, large, bound = 2000, 16000, 24
	parse := func(n int, data []byte, limit time.Duration) (time.Duration, bool) {
		runtime.GC()
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			p, err := policy.Parse("big.toml", data)
			if err == nil && len(p.Rules) != n {
				err = fmt.Errorf("%d rules, want %d", len(p.Rules), n)
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%d rules: %v", n, err)
			}
			return time.Since(start), true
		case <-time.After(limit):
			return limit, false
		}
	}
	fastest := func(n int, limit time.Duration) (time.Duration, bool) {
		data := manyRules(n)
		best := time.Duration(1<<63 - 1)
		for i := 0; i < 5; i++ {
			d, ok := parse(n, data, limit)
			if !ok {
				return d, false
			}
			best = min(best, d)
		}
		return best, true
	}
	s, _ := fastest(small, time.Minute)
	l, ok := fastest(large, 3*bound*s)
	t.Logf("%d rules: %v; %d rules: %v (%.1fx)", small, s, large, l, float64(l)/float64(s))
	if !ok || l > bound*s {
		t.Errorf("%dx the rules took more than %dx the time (%v for %d rules): loading is not linear", large/small, bound, s, small)
	}
}
