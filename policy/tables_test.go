package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/policy"
)

// TestDampingQualityTablesDecode: [damping] and [quality] are read (the
// linear decoder once refused them as unknown top-level keys), and a value
// of the wrong type in them is one clear error with its line.
func TestDampingQualityTablesDecode(t *testing.T) {
	p, err := policy.Parse("p.toml", []byte("version = 1\n[damping]\nhold_down = \"2s\"\nmax_hold_down = \"8s\"\n[quality]\nbackup_when = \"loss > 2% for 3s\"\ninterval = \"250ms\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(p.Damping.HoldDown) != 2*time.Second || time.Duration(p.Damping.MaxHoldDown) != 8*time.Second || time.Duration(p.Quality.Interval) != 250*time.Millisecond {
		t.Errorf("damping %+v quality interval %v", p.Damping, p.Quality.Interval)
	}
	_, err = policy.Parse("p.toml", []byte("version = 1\n[damping]\nhold_down = 2\n[quality]\nbogus = \"x\"\n"))
	if err == nil || !strings.Contains(err.Error(), "p.toml:3") || !strings.Contains(err.Error(), "damping.hold_down must be a string") ||
		!strings.Contains(err.Error(), `unknown key "quality.bogus" in [quality]`) || strings.Count(err.Error(), "\n") > 2 {
		t.Errorf("err = %v", err)
	}
}
