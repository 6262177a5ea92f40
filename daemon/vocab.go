package daemon

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The daemon's JSON (state file, `daemon status -j`, the status page's
// data) speaks mptcpkit's one vocabulary: durations in µs under keys
// ending in _us, tokens as 8 hex digits. The Go fields keep their types;
// these methods convert at the edge, and read the ns keys of state files
// written by older versions.

// MarshalJSON writes rtt_us.
func (p PathQuality) MarshalJSON() ([]byte, error) {
	type plain PathQuality
	return json.Marshal(struct {
		plain
		RTTUS int64 `json:"rtt_us"`
	}{plain(p), p.RTT.Microseconds()})
}

// UnmarshalJSON reads rtt_us (or an older state file's rtt_ns).
func (p *PathQuality) UnmarshalJSON(b []byte) error {
	type plain PathQuality
	aux := struct {
		*plain
		RTTUS *int64 `json:"rtt_us"`
		RTTNS *int64 `json:"rtt_ns"`
	}{plain: (*plain)(p)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	switch {
	case aux.RTTUS != nil:
		p.RTT = time.Duration(*aux.RTTUS) * time.Microsecond
	case aux.RTTNS != nil:
		p.RTT = time.Duration(*aux.RTTNS)
	}
	return nil
}

// MarshalJSON writes the token as 8 hex digits and rtt_us.
func (s SubflowQuality) MarshalJSON() ([]byte, error) {
	type plain SubflowQuality
	return json.Marshal(struct {
		Token string `json:"token"`
		plain
		RTTUS int64 `json:"rtt_us"`
	}{fmt.Sprintf("%08x", s.Token), plain(s), s.RTT.Microseconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *SubflowQuality) UnmarshalJSON(b []byte) error {
	type plain SubflowQuality
	aux := struct {
		Token string `json:"token"`
		*plain
		RTTUS int64 `json:"rtt_us"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if aux.Token != "" {
		t, err := strconv.ParseUint(aux.Token, 16, 32)
		if err != nil {
			return fmt.Errorf("token %q: want 8 hex digits", aux.Token)
		}
		s.Token = uint32(t)
	}
	s.RTT = time.Duration(aux.RTTUS) * time.Microsecond
	return nil
}

// MarshalJSON writes interval_us.
func (q Quality) MarshalJSON() ([]byte, error) {
	type plain Quality
	return json.Marshal(struct {
		plain
		IntervalUS int64 `json:"interval_us"`
	}{plain(q), q.Interval.Microseconds()})
}

// UnmarshalJSON reads interval_us.
func (q *Quality) UnmarshalJSON(b []byte) error {
	type plain Quality
	aux := struct {
		*plain
		IntervalUS int64 `json:"interval_us"`
	}{plain: (*plain)(q)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	q.Interval = time.Duration(aux.IntervalUS) * time.Microsecond
	return nil
}

// MarshalJSON writes hold_down_us.
func (l LinkDamping) MarshalJSON() ([]byte, error) {
	type plain LinkDamping
	return json.Marshal(struct {
		plain
		HoldDownUS int64 `json:"hold_down_us"`
	}{plain(l), l.HoldDown.Microseconds()})
}

// UnmarshalJSON reads hold_down_us (or an older state file's hold_down,
// in ns).
func (l *LinkDamping) UnmarshalJSON(b []byte) error {
	type plain LinkDamping
	aux := struct {
		*plain
		HoldDownUS *int64 `json:"hold_down_us"`
		HoldDownNS *int64 `json:"hold_down"`
	}{plain: (*plain)(l)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	switch {
	case aux.HoldDownUS != nil:
		l.HoldDown = time.Duration(*aux.HoldDownUS) * time.Microsecond
	case aux.HoldDownNS != nil:
		l.HoldDown = time.Duration(*aux.HoldDownNS)
	}
	return nil
}
