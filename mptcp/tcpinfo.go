package mptcp

import (
	"encoding/binary"
	"fmt"
	"time"
)

// TCPInfo is the part of struct tcp_info (include/uapi/linux/tcp.h) this
// package reports per subflow, decoded as far as the kernel filled it.
//
//	field(s)                                   offset   kernel
//	State, Retransmits … TotalRetrans          0–103    2.6 (size 104)
//	PacingRate, MaxPacingRate                  104–119  3.15
//	BytesAcked, BytesReceived                  120–135  4.1/4.2
//	SegsOut, SegsIn, MinRTT …                  136–159  4.2–4.6
//	DeliveryRate                               160–167  4.9
//	BytesSent, BytesRetrans                    200–215  4.19
//	RcvWnd                                     232–235  6.2
type TCPInfo struct {
	Size         int           `json:"size"`  // bytes the kernel returned
	State        uint8         `json:"state"` // TCP_ESTABLISHED = 1, …
	CAState      uint8         `json:"ca_state"`
	Retransmits  uint8         `json:"retransmits"` // current consecutive RTO retransmissions
	RTO          time.Duration `json:"rto"`
	SndMSS       uint32        `json:"snd_mss"`
	RcvMSS       uint32        `json:"rcv_mss"`
	Unacked      uint32        `json:"unacked"`
	Lost         uint32        `json:"lost"`
	Retrans      uint32        `json:"retrans"` // segments currently retransmitted, unacked
	PMTU         uint32        `json:"pmtu"`
	RTT          time.Duration `json:"rtt"`
	RTTVar       time.Duration `json:"rttvar"`
	SndSsthresh  uint32        `json:"snd_ssthresh"`
	SndCwnd      uint32        `json:"snd_cwnd"`
	AdvMSS       uint32        `json:"advmss"`
	TotalRetrans uint32        `json:"total_retrans"`

	PacingRate    uint64        `json:"pacing_rate"` // bytes/s
	BytesAcked    uint64        `json:"bytes_acked"`
	BytesReceived uint64        `json:"bytes_received"`
	SegsOut       uint32        `json:"segs_out"`
	SegsIn        uint32        `json:"segs_in"`
	MinRTT        time.Duration `json:"min_rtt"`
	DeliveryRate  uint64        `json:"delivery_rate"` // bytes/s
	BytesSent     uint64        `json:"bytes_sent"`    // includes retransmissions
	BytesRetrans  uint64        `json:"bytes_retrans"`
	SndWnd        uint32        `json:"snd_wnd"`
	RcvWnd        uint32        `json:"rcv_wnd"`
}

// tcpInfoMin is the size of the oldest struct tcp_info (up to
// tcpi_total_retrans).
const tcpInfoMin = 104

// tcpInfoBuf is how many bytes of struct tcp_info we ask for: more than any
// kernel so far returns (6.18: 248 or so); the kernel copies what it has.
const tcpInfoBuf = 512

// ParseTCPInfo decodes struct tcp_info as returned by getsockopt(TCP_INFO),
// inside MPTCP_TCPINFO/MPTCP_FULL_INFO, or in INET_DIAG_INFO of a TCP
// socket. b must hold at least the original 104 bytes.
func ParseTCPInfo(b []byte) (*TCPInfo, error) {
	if len(b) < tcpInfoMin {
		return nil, fmt.Errorf("mptcp: struct tcp_info too short: %d bytes, want at least %d", len(b), tcpInfoMin)
	}
	le := binary.NativeEndian
	u32 := func(off int) uint32 { return le.Uint32(b[off:]) }
	us := func(off int) time.Duration { return time.Duration(u32(off)) * time.Microsecond }
	t := &TCPInfo{Size: len(b)}
	t.State = b[0]
	t.CAState = b[1]
	t.Retransmits = b[2]
	t.RTO = us(8)
	t.SndMSS = u32(16)
	t.RcvMSS = u32(20)
	t.Unacked = u32(24)
	t.Lost = u32(32)
	t.Retrans = u32(36)
	t.PMTU = u32(60)
	t.RTT = us(68)
	t.RTTVar = us(72)
	t.SndSsthresh = u32(76)
	t.SndCwnd = u32(80)
	t.AdvMSS = u32(84)
	t.TotalRetrans = u32(100)
	if len(b) >= 112 {
		t.PacingRate = le.Uint64(b[104:])
	}
	if len(b) >= 128 {
		t.BytesAcked = le.Uint64(b[120:])
	}
	if len(b) >= 136 {
		t.BytesReceived = le.Uint64(b[128:])
	}
	if len(b) >= 144 {
		t.SegsOut = u32(136)
		t.SegsIn = u32(140)
	}
	if len(b) >= 152 {
		t.MinRTT = us(148)
	}
	if len(b) >= 168 {
		t.DeliveryRate = le.Uint64(b[160:])
	}
	if len(b) >= 208 {
		t.BytesSent = le.Uint64(b[200:])
	}
	if len(b) >= 216 {
		t.BytesRetrans = le.Uint64(b[208:])
	}
	if len(b) >= 232 {
		t.SndWnd = u32(228)
	}
	if len(b) >= 236 {
		t.RcvWnd = u32(232)
	}
	return t, nil
}
