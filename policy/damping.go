package policy

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration written as in the policy file ("1.5s").
type Duration time.Duration

// MarshalJSON writes the duration as a string ("1s", "250ms").
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Damping is flap damping: how long a link that keeps going down and up is
// held down before its addresses get endpoints again.
//
// A flap is a link going from usable (up, with carrier) to unusable. Its
// endpoints go at once; when the link is usable again they return at once
// after its first flap, and after HoldDown at the second flap within the
// memory of the link; the hold-down doubles with each further flap, up to
// MaxHoldDown. Every Decay without a flap forgets one flap, so the
// hold-down halves step by step until a stable link is back to none.
type Damping struct {
	HoldDown    Duration `json:"hold_down"`     // 0 turns damping off
	MaxHoldDown Duration `json:"max_hold_down"` // ceiling of the back-off
	Decay       Duration `json:"decay"`         // one flap forgotten per period without flaps
}

// DefaultDamping is the damping without a [damping] table.
var DefaultDamping = Damping{HoldDown: Duration(time.Second), MaxHoldDown: Duration(time.Minute), Decay: Duration(15 * time.Second)}

// HoldFor is the hold-down after a link's flaps-th flap (0 for the first).
func (d Damping) HoldFor(flaps int) time.Duration {
	if d.HoldDown <= 0 || flaps < 2 {
		return 0
	}
	h := time.Duration(d.HoldDown)
	for i := 2; i < flaps && h < time.Duration(d.MaxHoldDown); i++ {
		h *= 2
	}
	return min(h, time.Duration(d.MaxHoldDown))
}

type rawDamping struct {
	HoldDown    *string `toml:"hold_down"`
	MaxHoldDown *string `toml:"max_hold_down"`
	Decay       *string `toml:"decay"`
}

// parseDamping fills p.Damping from raw, reporting problems with fail.
func parseDamping(raw *rawDamping, p *Policy, fail func(key, msg, fix string)) {
	p.Damping = DefaultDamping
	if raw == nil {
		return
	}
	dur := func(key string, s *string, dst *Duration, allowZero bool) {
		if s == nil {
			return
		}
		v, err := time.ParseDuration(*s)
		switch {
		case err != nil:
			fail("damping."+key, fmt.Sprintf("damping.%s: %q is not a duration", key, *s), `write it like "500ms", "2s" or "1m"`)
		case v < 0 || (v == 0 && !allowZero):
			fail("damping."+key, fmt.Sprintf("damping.%s: %s must be more than zero", key, *s), `write it like "500ms", "2s" or "1m"`)
		default:
			*dst = Duration(v)
		}
	}
	dur("hold_down", raw.HoldDown, &p.Damping.HoldDown, true)
	dur("max_hold_down", raw.MaxHoldDown, &p.Damping.MaxHoldDown, false)
	dur("decay", raw.Decay, &p.Damping.Decay, false)
	if p.Damping.HoldDown > p.Damping.MaxHoldDown {
		fail("damping.max_hold_down", fmt.Sprintf("damping: max_hold_down %s is below hold_down %s", time.Duration(p.Damping.MaxHoldDown), time.Duration(p.Damping.HoldDown)),
			"the back-off starts at hold_down and doubles up to max_hold_down: make max_hold_down at least hold_down")
	}
}

// Summary is one line for `--check-config`.
func (d Damping) Summary() string {
	if d.HoldDown <= 0 {
		return "damping: off (a flapping link's endpoints return at once)\n"
	}
	return fmt.Sprintf("damping: hold-down %v from a link's second flap, doubling up to %v; one flap forgotten per %v quiet\n",
		time.Duration(d.HoldDown), time.Duration(d.MaxHoldDown), time.Duration(d.Decay))
}
