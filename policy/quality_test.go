package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/policy"
)

// TestDampingAndQuality: [damping] and [quality] decode with their
// defaults, the hold-down doubles per flap up to the ceiling, and every
// mistake is reported with its line.
func TestDampingAndQuality(t *testing.T) {
	p, err := policy.Parse("p.toml", []byte(`version = 1
[damping]
hold_down = "200ms"
max_hold_down = "1s"
decay = "5s"
[quality]
backup_when = "loss > 2% for 3s or rtt>150ms for 2s and rate < 5mbit"
restore_after = "4s"
prefer = "loss"
[[rule]]
flags = ["subflow"]
`))
	if err != nil {
		t.Fatal(err)
	}
	var holds []time.Duration
	for n := 0; n <= 6; n++ {
		holds = append(holds, p.Damping.HoldFor(n))
	}
	ms := time.Millisecond
	if want := []time.Duration{0, 0, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}; !equal(holds, want) {
		t.Errorf("hold-downs by flap count = %v, want %v", holds, want)
	}
	q := p.Quality
	if !q.Enabled() || len(q.BackupWhen.Any) != 2 || len(q.BackupWhen.Any[1]) != 2 || q.Prefer != "loss" || q.RestoreAfter != policy.Duration(4*time.Second) {
		t.Fatalf("quality = %+v", q)
	}
	c := q.BackupWhen.Any
	if c[0][0] != (policy.Clause{Metric: "loss", Op: ">", Value: 2, For: 3 * time.Second}) ||
		c[1][0] != (policy.Clause{Metric: "rtt", Op: ">", Value: 0.15, For: 2 * time.Second}) ||
		c[1][1] != (policy.Clause{Metric: "rate", Op: "<", Value: 5e6}) {
		t.Errorf("clauses = %+v", c)
	}
	if d := policy.Default(); d.Quality.Enabled() || d.Damping.HoldFor(2) != time.Second {
		t.Errorf("defaults: quality on = %v, second flap hold-down %v", d.Quality.Enabled(), d.Damping.HoldFor(2))
	}
	off, _ := policy.Parse("p.toml", []byte("version = 1\n[damping]\nhold_down = \"0s\"\n"))
	if off == nil || off.Damping.HoldFor(5) != 0 {
		t.Errorf("hold_down = 0s does not turn damping off")
	}

	for _, tc := range []struct{ in, want string }{
		{"[damping]\nhold_down = \"soon\"\n", `p.toml:3: damping.hold_down: "soon" is not a duration`},
		{"[damping]\nhold_down = \"2s\"\nmax_hold_down = \"1s\"\n", "p.toml:4: damping: max_hold_down 1s is below hold_down 2s"},
		{"[damping]\nholddown = \"2s\"\n", `p.toml:3: unknown key "damping.holddown" in [damping]`},
		{"[quality]\nbackup_when = \"loss > 2 for 3s\"\n", `p.toml:3: quality.backup_when: at word 3 "2": loss is a percentage`},
		{"[quality]\n\nbackup_when = \"jitter > 2ms\"\n", `p.toml:4: quality.backup_when: at word 1 "jitter": unknown metric`},
		{"[quality]\nbackup_when = \"rtt = 2ms\"\n", `at word 2 "=": expected > or <`},
		{"[quality]\nbackup_when = \"rtt > 2ms for\"\n", "at the end: `for` needs a duration"},
		{"[quality]\nbackup_when = \"rtt > 2ms then loss > 1%\"\n", `at word 4 "then": expected`},
		{"[quality]\nbackup_when = \"rate < 5 megabits\"\n", `rate is a number with bit`},
		{"[quality]\nbackup_when = \"rtt > 1s\"\nprefer = \"speed\"\n", `p.toml:4: quality.prefer = "speed" is not known`},
		{"[quality]\nbackup_when = \"rtt > 1s\"\ninterval = \"1ms\"\n", "p.toml:4: quality.interval: 1ms is too short"},
		{"\n[quality]\nprefer = \"rtt\"\n", "p.toml:3: [quality] has no backup_when"},
		{"[quality]\nbackup_when = 3\n", "p.toml:3"},
	} {
		_, err := policy.Parse("p.toml", []byte("version = 1\n"+tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
