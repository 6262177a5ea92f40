package mptcp

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Sizes of struct mptcp_info as returned by successive kernels. The kernel
// copies min(optlen, its own size) bytes, so the length of the answer says
// which fields it knows.
const (
	InfoSize5_9  = 40 // subflows … rcv_nxt
	InfoSize5_12 = 48 // + local_addr_used, local_addr_max (5.14: + csum_enabled, same size)
	InfoSize6_5  = 80 // + retransmits, bytes_retrans/sent/received/acked
	InfoSize6_8  = 88 // + subflows_total
	InfoSize6_10 = 96 // + last_data_sent/recv, last_ack_recv (6.18: endp_laminar_max in a reserved byte)
)

// InfoFlags are the mptcpi_flags bits.
type InfoFlags uint32

const (
	InfoFallback          InfoFlags = 1 << 0 // MPTCP_INFO_FLAG_FALLBACK
	InfoRemoteKeyReceived InfoFlags = 1 << 1 // MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED
)

// ConnInfo is struct mptcp_info (include/uapi/linux/mptcp.h), decoded only as
// far as the kernel filled it. Fields a kernel does not know stay zero; Size
// is the number of bytes it returned.
//
//	field(s)                                        offset  kernel
//	Subflows, AddAddrSignal, AddAddrAccepted,
//	SubflowsMax, AddAddrSignalMax,
//	AddAddrAcceptedMax, Flags, Token,
//	WriteSeq, SndUna, RcvNxt                         0–39    5.9 (size 40)
//	LocalAddrUsed, LocalAddrMax                      40–41   5.12 (size 48)
//	CsumEnabled                                      42      5.14 (size 48)
//	Retransmits, BytesRetrans, BytesSent,
//	BytesReceived, BytesAcked                        44–79   6.5 (size 80)
//	SubflowsTotal                                    80      6.8 (size 88)
//	LastDataSent, LastDataRecv, LastAckRecv          84–95   6.10 (size 96)
//	EndpLaminarMax                                   81      6.18 (reserved byte before)
//	EndpFullmeshMax                                  82      after 6.18 (reserved byte before)
//
// The same struct is the INET_DIAG_INFO of an MPTCP socket in socket
// diagnostics (net/mptcp/diag.c fills both).
type ConnInfo struct {
	Size int `json:"size"` // bytes of struct mptcp_info the kernel returned

	// Subflows counts the extra subflows, NOT the initial one (the kernel
	// renamed it mptcpi_extra_subflows); use SubflowsTotal where known.
	Subflows           uint8     `json:"subflows"`
	AddAddrSignal      uint8     `json:"add_addr_signal"`
	AddAddrAccepted    uint8     `json:"add_addr_accepted"`
	SubflowsMax        uint8     `json:"subflows_max"` // limit on extra subflows
	AddAddrSignalMax   uint8     `json:"add_addr_signal_max"`
	AddAddrAcceptedMax uint8     `json:"add_addr_accepted_max"`
	Flags              InfoFlags `json:"flags"`
	Token              uint32    `json:"token"`
	WriteSeq           uint64    `json:"write_seq"`
	SndUna             uint64    `json:"snd_una"`
	RcvNxt             uint64    `json:"rcv_nxt"`

	LocalAddrUsed uint8 `json:"local_addr_used"` // 5.12
	LocalAddrMax  uint8 `json:"local_addr_max"`  // 5.12
	CsumEnabled   bool  `json:"csum_enabled"`    // 5.14

	Retransmits   uint32 `json:"retransmits"`    // 6.5
	BytesRetrans  uint64 `json:"bytes_retrans"`  // 6.5
	BytesSent     uint64 `json:"bytes_sent"`     // 6.5: data-level bytes sent; reinjections on other subflows are in BytesRetrans, not here (seen on 6.18)
	BytesReceived uint64 `json:"bytes_received"` // 6.5
	BytesAcked    uint64 `json:"bytes_acked"`    // 6.5: data-level bytes acked

	SubflowsTotal   uint8 `json:"subflows_total"`    // 6.8: all subflows, the initial one included
	EndpLaminarMax  uint8 `json:"endp_laminar_max"`  // 6.18
	EndpFullmeshMax uint8 `json:"endp_fullmesh_max"` // after 6.18

	LastDataSent time.Duration `json:"last_data_sent"` // 6.10 (ms resolution)
	LastDataRecv time.Duration `json:"last_data_recv"` // 6.10
	LastAckRecv  time.Duration `json:"last_ack_recv"`  // 6.10
}

// Fallback reports whether the kernel flagged the connection as fallen back
// to TCP.
func (i *ConnInfo) Fallback() bool { return i.Flags&InfoFallback != 0 }

// HasByteCounters reports whether BytesSent & co. were filled (6.5+).
func (i *ConnInfo) HasByteCounters() bool { return i.Size >= InfoSize6_5 }

// HasSubflowsTotal reports whether SubflowsTotal was filled (6.8+).
func (i *ConnInfo) HasSubflowsTotal() bool { return i.Size > 80 }

// TotalSubflows returns the number of subflows including the initial one:
// SubflowsTotal where the kernel reports it, else Subflows+1.
func (i *ConnInfo) TotalSubflows() int {
	if i.HasSubflowsTotal() {
		return int(i.SubflowsTotal)
	}
	return int(i.Subflows) + 1
}

// ParseInfo decodes a struct mptcp_info as returned by getsockopt(MPTCP_INFO)
// or in the INET_DIAG_INFO attribute of an MPTCP socket. b may be shorter
// than the current struct (an older kernel) or longer (a newer one); it must
// hold at least the 5.9 base (40 bytes).
func ParseInfo(b []byte) (*ConnInfo, error) {
	if len(b) < InfoSize5_9 {
		return nil, fmt.Errorf("mptcp: struct mptcp_info too short: %d bytes, want at least %d", len(b), InfoSize5_9)
	}
	le := binary.NativeEndian
	i := &ConnInfo{Size: len(b)}
	i.Subflows = b[0]
	i.AddAddrSignal = b[1]
	i.AddAddrAccepted = b[2]
	i.SubflowsMax = b[3]
	i.AddAddrSignalMax = b[4]
	i.AddAddrAcceptedMax = b[5]
	i.Flags = InfoFlags(le.Uint32(b[8:]))
	i.Token = le.Uint32(b[12:])
	i.WriteSeq = le.Uint64(b[16:])
	i.SndUna = le.Uint64(b[24:])
	i.RcvNxt = le.Uint64(b[32:])
	if len(b) >= 42 {
		i.LocalAddrUsed = b[40]
		i.LocalAddrMax = b[41]
	}
	if len(b) >= 43 {
		i.CsumEnabled = b[42] != 0
	}
	if len(b) >= InfoSize6_5 { // bytes 43–47 are padding before 6.5
		i.Retransmits = le.Uint32(b[44:])
		i.BytesRetrans = le.Uint64(b[48:])
		i.BytesSent = le.Uint64(b[56:])
		i.BytesReceived = le.Uint64(b[64:])
		i.BytesAcked = le.Uint64(b[72:])
	}
	if len(b) >= 83 {
		i.SubflowsTotal = b[80]
		i.EndpLaminarMax = b[81]
		i.EndpFullmeshMax = b[82]
	}
	if len(b) >= 96 {
		i.LastDataSent = time.Duration(le.Uint32(b[84:])) * time.Millisecond
		i.LastDataRecv = time.Duration(le.Uint32(b[88:])) * time.Millisecond
		i.LastAckRecv = time.Duration(le.Uint32(b[92:])) * time.Millisecond
	}
	return i, nil
}

// MarshalBinary encodes i as struct mptcp_info of i.Size bytes (at least
// 40, at most 96): the inverse of ParseInfo, for tests and tools.
func (i *ConnInfo) MarshalBinary() ([]byte, error) {
	n := i.Size
	if n < InfoSize5_9 {
		n = InfoSize5_9
	}
	full := make([]byte, InfoSize6_10)
	le := binary.NativeEndian
	full[0], full[1], full[2], full[3], full[4], full[5] = i.Subflows, i.AddAddrSignal, i.AddAddrAccepted, i.SubflowsMax, i.AddAddrSignalMax, i.AddAddrAcceptedMax
	le.PutUint32(full[8:], uint32(i.Flags))
	le.PutUint32(full[12:], i.Token)
	le.PutUint64(full[16:], i.WriteSeq)
	le.PutUint64(full[24:], i.SndUna)
	le.PutUint64(full[32:], i.RcvNxt)
	full[40], full[41] = i.LocalAddrUsed, i.LocalAddrMax
	if i.CsumEnabled {
		full[42] = 1
	}
	le.PutUint32(full[44:], i.Retransmits)
	le.PutUint64(full[48:], i.BytesRetrans)
	le.PutUint64(full[56:], i.BytesSent)
	le.PutUint64(full[64:], i.BytesReceived)
	le.PutUint64(full[72:], i.BytesAcked)
	full[80], full[81], full[82] = i.SubflowsTotal, i.EndpLaminarMax, i.EndpFullmeshMax
	le.PutUint32(full[84:], uint32(i.LastDataSent/time.Millisecond))
	le.PutUint32(full[88:], uint32(i.LastDataRecv/time.Millisecond))
	le.PutUint32(full[92:], uint32(i.LastAckRecv/time.Millisecond))
	if n <= len(full) {
		return full[:n], nil
	}
	return append(full, make([]byte, n-len(full))...), nil
}
