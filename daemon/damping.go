package daemon

import (
	"fmt"
	"sort"
	"time"

	"github.com/mptcpkit/mptcpkit/netmon"
	"github.com/mptcpkit/mptcpkit/policy"
)

// LinkDamping is a link's flap history as `daemon status` shows it.
type LinkDamping struct {
	Link      string        `json:"link"`
	Flaps     int           `json:"flaps"`               // remembered flaps (after decay)
	HoldDown  time.Duration `json:"-"`                   // applied at its last return; JSON: hold_down_us
	HeldUntil time.Time     `json:"held_until,omitzero"` // endpoints return then
	LastFlap  time.Time     `json:"last_flap,omitzero"`
}

// flaps tracks, per link, how often it went from usable to unusable and
// holds a flapping link's addresses down (policy [damping]).
type flaps struct {
	links map[int]*linkFlaps
}

type linkFlaps struct {
	name      string
	usable    bool
	n         int
	last      time.Time
	hold      time.Duration
	heldUntil time.Time
}

// decayed is the flap count after forgetting one per quiet decay period.
func (l *linkFlaps) decayed(d policy.Damping, now time.Time) int {
	if l.n == 0 || d.Decay <= 0 {
		return l.n
	}
	return max(0, l.n-int(now.Sub(l.last)/time.Duration(d.Decay)))
}

// observe records the links' usability at now; it returns the links that
// flapped and the ones that came back held down, for logs.
func (f *flaps) observe(st *netmon.State, d policy.Damping, now time.Time) (events []string) {
	if f.links == nil {
		f.links = map[int]*linkFlaps{}
	}
	seen := map[int]bool{}
	for _, l := range st.Links {
		seen[l.Index] = true
		lf := f.links[l.Index]
		usable := l.Usable()
		if lf == nil {
			f.links[l.Index] = &linkFlaps{name: l.Name, usable: usable}
			continue
		}
		lf.name = l.Name
		switch {
		case lf.usable && !usable:
			lf.n = lf.decayed(d, now) + 1
			lf.last = now
			lf.heldUntil = time.Time{}
		case !lf.usable && usable:
			lf.hold = d.HoldFor(lf.decayed(d, now))
			if lf.hold > 0 {
				lf.heldUntil = now.Add(lf.hold)
				events = append(events, fmt.Sprintf("%s flapped %d times: held down for %v", l.Name, lf.decayed(d, now), lf.hold))
			}
		}
		lf.usable = usable
	}
	for idx := range f.links {
		if !seen[idx] {
			delete(f.links, idx)
		}
	}
	return events
}

// held returns until when a link's addresses are held down (zero: not).
func (f *flaps) held(ifIndex int, now time.Time) (time.Time, *linkFlaps) {
	lf := f.links[ifIndex]
	if lf == nil || !now.Before(lf.heldUntil) {
		return time.Time{}, nil
	}
	return lf.heldUntil, lf
}

// next is the earliest end of a hold-down after now (zero: none).
func (f *flaps) next(now time.Time) time.Time {
	var t time.Time
	for _, lf := range f.links {
		if now.Before(lf.heldUntil) && (t.IsZero() || lf.heldUntil.Before(t)) {
			t = lf.heldUntil
		}
	}
	return t
}

// apply takes held-down links' addresses out of the decisions.
func (f *flaps) apply(ds []Decision, d policy.Damping, now time.Time) {
	for i := range ds {
		if !ds[i].In {
			continue
		}
		until, lf := f.held(ds[i].ifIndex, now)
		if lf == nil {
			continue
		}
		ds[i].In = false
		ds[i].Reason = fmt.Sprintf("link flapped %d times: held down for %v, until %s (flap damping)",
			lf.decayed(d, now), lf.hold, until.UTC().Format("15:04:05.000"))
	}
}

// report lists links with flaps remembered, by name.
func (f *flaps) report(d policy.Damping, now time.Time) []LinkDamping {
	var out []LinkDamping
	for _, lf := range f.links {
		n := lf.decayed(d, now)
		if n == 0 && !now.Before(lf.heldUntil) {
			continue
		}
		ld := LinkDamping{Link: lf.name, Flaps: n, HoldDown: lf.hold, LastFlap: lf.last.UTC()}
		if now.Before(lf.heldUntil) {
			ld.HeldUntil = lf.heldUntil.UTC()
		}
		out = append(out, ld)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Link < out[j].Link })
	return out
}
