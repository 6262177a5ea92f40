package lab

import (
	"encoding/json"
	"math"
	"net/netip"
	"time"

	"github.com/mptcpkit/mptcpkit/mptcp"
)

// The JSON of lab's reports and state speaks mptcpkit's one vocabulary
// (docs and internal/cli's vocabulary test): durations in µs under keys
// ending in _us, rates in bits per second under keys ending in _bps. The
// Go fields keep their natural types (time.Duration, Mbit/s for text);
// these methods convert at the edge.

// usec is d in whole µs; a negative d (a "never" marker) stays -1.
func usec(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Microseconds()
}

// bps is a rate in Mbit/s as bits per second.
func bps(mbps float64) uint64 {
	if mbps <= 0 || math.IsNaN(mbps) {
		return 0
	}
	return uint64(math.Round(mbps * 1e6))
}

// MarshalJSON writes the delay as delay_us.
func (p Path) MarshalJSON() ([]byte, error) {
	type plain Path
	return json.Marshal(struct {
		plain
		DelayUS int64 `json:"delay_us"`
	}{plain(p), usec(p.Delay)})
}

// UnmarshalJSON reads delay_us, and delay_ns from the state files of
// older versions (a lab made before the upgrade keeps working).
func (p *Path) UnmarshalJSON(b []byte) error {
	type plain Path
	aux := struct {
		*plain
		DelayUS *int64 `json:"delay_us"`
		DelayNS *int64 `json:"delay_ns"`
	}{plain: (*plain)(p)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	switch {
	case aux.DelayUS != nil:
		p.Delay = time.Duration(*aux.DelayUS) * time.Microsecond
	case aux.DelayNS != nil:
		p.Delay = time.Duration(*aux.DelayNS)
	}
	return nil
}

// MarshalJSON writes the delays as delay_us.
func (a Aggregation) MarshalJSON() ([]byte, error) {
	type plain Aggregation
	d := make([]int64, len(a.Delay))
	for i, x := range a.Delay {
		d[i] = usec(x)
	}
	return json.Marshal(struct {
		plain
		DelayUS []int64 `json:"delay_us"`
	}{plain(a), d})
}

// MarshalJSON writes the time as at_us.
func (e LinkEvent) MarshalJSON() ([]byte, error) {
	type plain LinkEvent
	return json.Marshal(struct {
		plain
		AtUS int64 `json:"at_us"`
	}{plain(e), usec(e.At)})
}

// subflowJSON is a subflow in a report: RTTs in µs, the delivery rate in
// bits per second (mptcp.Subflow has Go durations and bytes/s).
type subflowJSON struct {
	ID              uint8          `json:"id"`
	Local           netip.AddrPort `json:"local"`
	Remote          netip.AddrPort `json:"remote"`
	RTTUS           int64          `json:"rtt_us"`
	RTTVarUS        int64          `json:"rttvar_us"`
	Cwnd            uint32         `json:"cwnd"`
	MSS             uint32         `json:"mss"`
	BytesSent       uint64         `json:"bytes_sent"`
	BytesAcked      uint64         `json:"bytes_acked"`
	BytesReceived   uint64         `json:"bytes_received"`
	BytesRetrans    uint64         `json:"bytes_retrans"`
	Retransmits     uint32         `json:"retransmits"`
	DeliveryRateBPS uint64         `json:"delivery_rate_bps"`
	Backup          bool           `json:"backup"`
	TCPState        uint8          `json:"tcp_state"`
}

func subflowsJSON(sfs []mptcp.Subflow) []subflowJSON {
	var out []subflowJSON
	for _, s := range sfs {
		out = append(out, subflowJSON{ID: s.ID, Local: s.Local, Remote: s.Remote, RTTUS: usec(s.RTT), RTTVarUS: usec(s.RTTVar),
			Cwnd: s.Cwnd, MSS: s.MSS, BytesSent: s.BytesSent, BytesAcked: s.BytesAcked, BytesReceived: s.BytesReceived,
			BytesRetrans: s.BytesRetrans, Retransmits: s.TotalRetrans, DeliveryRateBPS: s.DeliveryRate * 8, Backup: s.Backup, TCPState: s.TCPState})
	}
	return out
}

// MarshalJSON writes goodput_bps, longest_stall_us and the subflows in
// the vocabulary (subflowJSON).
func (r TransferReport) MarshalJSON() ([]byte, error) {
	type plain TransferReport
	return json.Marshal(struct {
		plain
		GoodputBPS     uint64        `json:"goodput_bps"`
		LongestStallUS int64         `json:"longest_stall_us"`
		Subflows       []subflowJSON `json:"subflows,omitempty"`
	}{plain(r), bps(r.Mbps), usec(r.LongestStall), subflowsJSON(r.Subflows)})
}

// MarshalJSON writes returned_after_us (-1: never; left out when the path
// was not set up again).
func (p PathTransfer) MarshalJSON() ([]byte, error) {
	type plain PathTransfer
	var ra *int64
	if p.ReturnedAfter != 0 {
		v := usec(p.ReturnedAfter)
		ra = &v
	}
	return json.Marshal(struct {
		plain
		ReturnedAfterUS *int64 `json:"returned_after_us,omitempty"`
	}{plain(p), ra})
}

// MarshalJSON writes the goodput as goodput_bps.
func (m Measurement) MarshalJSON() ([]byte, error) {
	type plain Measurement
	return json.Marshal(struct {
		plain
		GoodputBPS uint64 `json:"goodput_bps"`
	}{plain(m), bps(m.Mbps)})
}

// MarshalJSON writes the capacity as capacity_bps.
func (r DemoReport) MarshalJSON() ([]byte, error) {
	type plain DemoReport
	return json.Marshal(struct {
		plain
		CapacityBPS uint64 `json:"capacity_bps"`
	}{plain(r), bps(r.Capacity)})
}

// The Unmarshal methods read the reports back (tests, scripts in Go).

// UnmarshalJSON reads goodput_bps.
func (m *Measurement) UnmarshalJSON(b []byte) error {
	type plain Measurement
	aux := struct {
		*plain
		GoodputBPS float64 `json:"goodput_bps"`
	}{plain: (*plain)(m)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	m.Mbps = aux.GoodputBPS / 1e6
	return nil
}

// UnmarshalJSON reads capacity_bps.
func (r *DemoReport) UnmarshalJSON(b []byte) error {
	type plain DemoReport
	aux := struct {
		*plain
		CapacityBPS float64 `json:"capacity_bps"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	r.Capacity = aux.CapacityBPS / 1e6
	return nil
}

// UnmarshalJSON reads delay_us.
func (a *Aggregation) UnmarshalJSON(b []byte) error {
	type plain Aggregation
	aux := struct {
		*plain
		DelayUS []int64 `json:"delay_us"`
	}{plain: (*plain)(a)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	a.Delay = nil
	for _, d := range aux.DelayUS {
		a.Delay = append(a.Delay, time.Duration(d)*time.Microsecond)
	}
	return nil
}

// UnmarshalJSON reads at_us.
func (e *LinkEvent) UnmarshalJSON(b []byte) error {
	type plain LinkEvent
	aux := struct {
		*plain
		AtUS int64 `json:"at_us"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	e.At = time.Duration(aux.AtUS) * time.Microsecond
	return nil
}

// UnmarshalJSON reads goodput_bps and longest_stall_us.
func (r *TransferReport) UnmarshalJSON(b []byte) error {
	type plain TransferReport
	aux := struct {
		*plain
		GoodputBPS     float64       `json:"goodput_bps"`
		LongestStallUS int64         `json:"longest_stall_us"`
		Subflows       []subflowJSON `json:"subflows"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	r.Mbps = aux.GoodputBPS / 1e6
	r.LongestStall = time.Duration(aux.LongestStallUS) * time.Microsecond
	r.Subflows = nil
	for _, s := range aux.Subflows {
		r.Subflows = append(r.Subflows, mptcp.Subflow{ID: s.ID, Local: s.Local, Remote: s.Remote,
			RTT: time.Duration(s.RTTUS) * time.Microsecond, RTTVar: time.Duration(s.RTTVarUS) * time.Microsecond,
			Cwnd: s.Cwnd, MSS: s.MSS, BytesSent: s.BytesSent, BytesAcked: s.BytesAcked, BytesReceived: s.BytesReceived,
			BytesRetrans: s.BytesRetrans, TotalRetrans: s.Retransmits, DeliveryRate: s.DeliveryRateBPS / 8, Backup: s.Backup, TCPState: s.TCPState})
	}
	return nil
}

// UnmarshalJSON reads returned_after_us (-1: never).
func (p *PathTransfer) UnmarshalJSON(b []byte) error {
	type plain PathTransfer
	aux := struct {
		*plain
		ReturnedAfterUS *int64 `json:"returned_after_us"`
	}{plain: (*plain)(p)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	switch {
	case aux.ReturnedAfterUS == nil:
		p.ReturnedAfter = 0
	case *aux.ReturnedAfterUS < 0:
		p.ReturnedAfter = -1
	default:
		p.ReturnedAfter = time.Duration(*aux.ReturnedAfterUS) * time.Microsecond
	}
	return nil
}
