package inetdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Protocol numbers and attribute types from include/uapi/linux/inet_diag.h
// and include/uapi/linux/mptcp.h.
const (
	ProtoTCP   = unix.IPPROTO_TCP
	ProtoMPTCP = 262

	reqProtocol = 3 // INET_DIAG_REQ_PROTOCOL (u32), for protocols > 255

	attrInfo    = 2  // INET_DIAG_INFO
	attrCong    = 4  // INET_DIAG_CONG
	attrULPInfo = 19 // INET_DIAG_ULP_INFO

	ulpName  = 1 // INET_ULP_INFO_NAME
	ulpMPTCP = 3 // INET_ULP_INFO_MPTCP

	// ExtInfo and ExtCong ask for INET_DIAG_INFO and INET_DIAG_CONG.
	ExtInfo = 1 << (attrInfo - 1)
	ExtCong = 1 << (attrCong - 1)

	noCookie = ^uint32(0)

	reqSize   = 56 // struct inet_diag_req_v2
	sockIDLen = 48 // struct inet_diag_sockid
	msgSize   = 72 // struct inet_diag_msg
)

// TCP states as bits for Request.States.
const (
	StateEstablished = 1
	StateListen      = 10
	StateTimeWait    = 6
	StateSynRecv     = 3
	StateClose       = 7
	// AllConnected is every state but LISTEN, TIME_WAIT and SYN_RECV
	// (the last two are mini sockets without tcp_info).
	AllConnected = ^uint32(0) &^ (1<<StateListen | 1<<StateTimeWait | 1<<StateSynRecv)
)

// SockID is struct inet_diag_sockid.
type SockID struct {
	Local, Remote netip.AddrPort
	IfIndex       uint32
	Cookie        uint64 // 0 in a request means "no cookie"
}

// Request is struct inet_diag_req_v2 (+ INET_DIAG_REQ_PROTOCOL when needed).
type Request struct {
	Family   uint8  // unix.AF_INET or AF_INET6
	Protocol uint16 // ProtoTCP, ProtoMPTCP
	Ext      uint8  // ExtInfo|ExtCong
	States   uint32 // bit per TCP state
	ID       SockID // for an exact lookup (Dump false)
	Dump     bool
}

// MarshalBinary encodes the request body (without the netlink header).
func (r *Request) MarshalBinary() ([]byte, error) {
	b := make([]byte, reqSize)
	b[0] = r.Family
	b[1] = uint8(r.Protocol)
	if r.Protocol > 255 {
		b[1] = 0 // the attribute carries it
	}
	b[2] = r.Ext
	binary.NativeEndian.PutUint32(b[4:], r.States)
	putSockID(b[8:], r.ID, r.Family)
	if r.Protocol > 255 {
		ae := netlink.NewAttributeEncoder()
		ae.Uint32(reqProtocol, uint32(r.Protocol))
		a, err := ae.Encode()
		if err != nil {
			return nil, err
		}
		b = append(b, a...)
	}
	return b, nil
}

func putSockID(b []byte, id SockID, family uint8) {
	binary.BigEndian.PutUint16(b[0:], id.Local.Port())
	binary.BigEndian.PutUint16(b[2:], id.Remote.Port())
	putAddr(b[4:20], id.Local.Addr())
	putAddr(b[20:36], id.Remote.Addr())
	binary.NativeEndian.PutUint32(b[36:], id.IfIndex)
	if id.Cookie == 0 {
		binary.NativeEndian.PutUint32(b[40:], noCookie)
		binary.NativeEndian.PutUint32(b[44:], noCookie)
	} else {
		binary.NativeEndian.PutUint32(b[40:], uint32(id.Cookie))
		binary.NativeEndian.PutUint32(b[44:], uint32(id.Cookie>>32))
	}
}

func putAddr(b []byte, a netip.Addr) {
	switch {
	case a.Is4():
		v := a.As4()
		copy(b, v[:])
	case a.Is6():
		v := a.As16()
		copy(b, v[:])
	}
}

func sockID(b []byte, family uint8) SockID {
	var id SockID
	lp, rp := binary.BigEndian.Uint16(b[0:]), binary.BigEndian.Uint16(b[2:])
	var la, ra netip.Addr
	if family == unix.AF_INET {
		la, ra = netip.AddrFrom4([4]byte(b[4:8])), netip.AddrFrom4([4]byte(b[20:24]))
	} else {
		la, ra = netip.AddrFrom16([16]byte(b[4:20])), netip.AddrFrom16([16]byte(b[20:36]))
	}
	id.Local, id.Remote = netip.AddrPortFrom(la, lp), netip.AddrPortFrom(ra, rp)
	id.IfIndex = binary.NativeEndian.Uint32(b[36:])
	id.Cookie = uint64(binary.NativeEndian.Uint32(b[40:])) | uint64(binary.NativeEndian.Uint32(b[44:]))<<32
	return id
}

// Msg is struct inet_diag_msg with the attributes we read.
type Msg struct {
	Family  uint8
	State   uint8
	Timer   uint8
	Retrans uint8
	ID      SockID
	Expires uint32
	RQueue  uint32
	WQueue  uint32
	UID     uint32
	Inode   uint32

	Info    []byte // INET_DIAG_INFO, raw (tcp_info or mptcp_info)
	Cong    string // INET_DIAG_CONG
	ULPName string // INET_ULP_INFO_NAME (only with CAP_NET_ADMIN)
	MPTCP   *ULPMPTCP
}

// ULPMPTCP is the INET_ULP_INFO_MPTCP nest of an MPTCP subflow
// (MPTCP_SUBFLOW_ATTR_*, net/mptcp/diag.c).
type ULPMPTCP struct {
	TokenRem, TokenLoc uint32
	RelWriteSeq        uint32
	MapSeq             uint64
	MapSfSeq           uint32
	SSNOffset          uint32
	MapDataLen         uint16
	Flags              uint32 // MPTCP_SUBFLOW_FLAG_*
	IDRem, IDLoc       uint8
}

// Subflow flags (MPTCP_SUBFLOW_FLAG_*).
const (
	FlagMCapRem = 1 << iota
	FlagMCapLoc
	FlagJoinRem
	FlagJoinLoc
	FlagBkupRem
	FlagBkupLoc
	FlagFullyEstablished
	FlagConnected
	FlagMapValid
)

// ParseMsg decodes one reply message body.
func ParseMsg(b []byte) (*Msg, error) {
	if len(b) < msgSize {
		return nil, fmt.Errorf("inet_diag_msg too short: %d bytes", len(b))
	}
	m := &Msg{Family: b[0], State: b[1], Timer: b[2], Retrans: b[3]}
	if m.Family != unix.AF_INET && m.Family != unix.AF_INET6 {
		return nil, fmt.Errorf("inet_diag_msg: unknown family %d", m.Family)
	}
	m.ID = sockID(b[4:4+sockIDLen], m.Family)
	le := binary.NativeEndian
	m.Expires = le.Uint32(b[52:])
	m.RQueue = le.Uint32(b[56:])
	m.WQueue = le.Uint32(b[60:])
	m.UID = le.Uint32(b[64:])
	m.Inode = le.Uint32(b[68:])
	if len(b) == msgSize {
		return m, nil
	}
	ad, err := netlink.NewAttributeDecoder(b[msgSize:])
	if err != nil {
		return nil, fmt.Errorf("inet_diag_msg attributes: %w", err)
	}
	for ad.Next() {
		switch ad.Type() {
		case attrInfo:
			m.Info = append([]byte(nil), ad.Bytes()...)
		case attrCong:
			m.Cong = ad.String()
		case attrULPInfo:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					switch nad.Type() {
					case ulpName:
						m.ULPName = nad.String()
					case ulpMPTCP:
						m.MPTCP = &ULPMPTCP{}
						nad.Nested(m.MPTCP.decode)
					}
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return nil, fmt.Errorf("inet_diag_msg attributes: %w", err)
	}
	return m, nil
}

func (u *ULPMPTCP) decode(ad *netlink.AttributeDecoder) error {
	for ad.Next() {
		switch ad.Type() {
		case 1:
			u.TokenRem = ad.Uint32()
		case 2:
			u.TokenLoc = ad.Uint32()
		case 3:
			u.RelWriteSeq = ad.Uint32()
		case 4:
			u.MapSeq = ad.Uint64()
		case 5:
			u.MapSfSeq = ad.Uint32()
		case 6:
			u.SSNOffset = ad.Uint32()
		case 7:
			u.MapDataLen = ad.Uint16()
		case 8:
			u.Flags = ad.Uint32()
		case 9:
			u.IDRem = ad.Uint8()
		case 10:
			u.IDLoc = ad.Uint8()
		}
	}
	return nil
}

// Query sends r on c (a NETLINK_SOCK_DIAG connection) and decodes the
// replies. An exact lookup of a socket that does not exist gives an error
// wrapping unix.ENOENT.
func Query(c *netlink.Conn, r Request) ([]*Msg, error) {
	body, err := r.MarshalBinary()
	if err != nil {
		return nil, err
	}
	flags := netlink.Request
	if r.Dump {
		flags |= netlink.Dump
	}
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.SOCK_DIAG_BY_FAMILY, Flags: flags},
		Data:   body,
	})
	if err != nil {
		var oe *netlink.OpError
		if errors.As(err, &oe) {
			return nil, fmt.Errorf("sock_diag: %w", oe.Err)
		}
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	out := make([]*Msg, 0, len(msgs))
	for _, nm := range msgs {
		if nm.Header.Type != unix.SOCK_DIAG_BY_FAMILY {
			continue
		}
		m, err := ParseMsg(nm.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Dial opens a NETLINK_SOCK_DIAG socket in the namespace netnsFD (0: the
// caller's).
func Dial(netnsFD int) (*netlink.Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, &netlink.Config{NetNS: netnsFD})
	if err != nil {
		return nil, fmt.Errorf("sock_diag netlink socket: %w", err)
	}
	return c, nil
}
