package sockdiag

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/internal/inetdiag"
	"github.com/mptcpkit/mptcpkit/mptcp"
)

// Config selects where to look.
type Config struct {
	// NetNS is a file descriptor of the network namespace to read
	// (0: the caller's).
	NetNS int
}

// Client reads socket diagnostics in one network namespace.
type Client struct {
	c *netlink.Conn
}

// ErrNoULPInfo is returned (wrapped) when the kernel sent no ULP
// information for the subflows: the caller lacks CAP_NET_ADMIN.
var ErrNoULPInfo = errors.New("sockdiag: the kernel sent no ULP info for TCP sockets (needs CAP_NET_ADMIN): subflows cannot be matched to connections")

// Dial opens a NETLINK_SOCK_DIAG socket. A nil cfg means the caller's
// namespace.
func Dial(cfg *Config) (*Client, error) {
	ns := 0
	if cfg != nil {
		ns = cfg.NetNS
	}
	c, err := inetdiag.Dial(ns)
	if err != nil {
		if ns != 0 && errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("%w (reading another network namespace needs CAP_SYS_ADMIN: run as root)", err)
		}
		return nil, err
	}
	return &Client{c: c}, nil
}

// Close releases the netlink socket.
func (c *Client) Close() error { return c.c.Close() }

// TCPState is a socket state as in include/net/tcp_states.h.
type TCPState uint8

var stateNames = [...]string{"", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "UNCONN", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING", "NEW-SYN-RECV", "BOUND-INACTIVE"}

// String returns the state as ss prints it ("ESTAB", "LISTEN", ...).
func (s TCPState) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return fmt.Sprintf("STATE-%d", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s TCPState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Socket is what inet_diag says about any socket.
type Socket struct {
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
	State  TCPState       `json:"state"`
	Inode  uint32         `json:"inode"`
	UID    uint32         `json:"uid"`
	Cookie uint64         `json:"cookie"`
	// IfIndex is the device the socket is bound to (0: none).
	IfIndex uint32 `json:"ifindex,omitempty"`
	RQueue  uint32 `json:"rqueue"`
	WQueue  uint32 `json:"wqueue"`
}

func socketOf(m *inetdiag.Msg) Socket {
	return Socket{
		Local: unmap(m.ID.Local), Remote: unmap(m.ID.Remote), State: TCPState(m.State),
		Inode: m.Inode, UID: m.UID, Cookie: m.ID.Cookie, IfIndex: m.ID.IfIndex,
		RQueue: m.RQueue, WQueue: m.WQueue,
	}
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// MPTCPSocket is an MPTCP (msk) socket.
type MPTCPSocket struct {
	Socket
	// Info is its struct mptcp_info (nil if the kernel sent none).
	Info *mptcp.ConnInfo `json:"info,omitempty"`
}

// Token returns the connection's local token (0 if unknown).
func (s *MPTCPSocket) Token() uint32 {
	if s.Info == nil {
		return 0
	}
	return s.Info.Token
}

// SubflowInfo is the "mptcp" ULP information of a TCP subflow
// (INET_ULP_INFO_MPTCP).
type SubflowInfo struct {
	Token       uint32 `json:"token"` // the connection's local token
	RemoteToken uint32 `json:"remote_token"`
	LocalID     uint8  `json:"local_id"`
	RemoteID    uint8  `json:"remote_id"`
	Flags       uint32 `json:"flags"` // MPTCP_SUBFLOW_FLAG_*
	MapSeq      uint64 `json:"map_seq"`
	MapSfSeq    uint32 `json:"map_sfseq"`
	SSNOffset   uint32 `json:"ssn_offset"`
	MapDataLen  uint16 `json:"map_datalen"`
	RelWriteSeq uint32 `json:"rel_write_seq"`
}

// Subflow flag bits (MPTCP_SUBFLOW_FLAG_*).
const (
	FlagMCapRemote       = inetdiag.FlagMCapRem
	FlagMCapLocal        = inetdiag.FlagMCapLoc
	FlagJoinRemote       = inetdiag.FlagJoinRem
	FlagJoinLocal        = inetdiag.FlagJoinLoc
	FlagBackupRemote     = inetdiag.FlagBkupRem
	FlagBackupLocal      = inetdiag.FlagBkupLoc
	FlagFullyEstablished = inetdiag.FlagFullyEstablished
	FlagConnected        = inetdiag.FlagConnected
	FlagMapValid         = inetdiag.FlagMapValid
)

// Backup reports whether either end marked the subflow as backup.
func (i *SubflowInfo) Backup() bool { return i.Flags&(FlagBackupLocal|FlagBackupRemote) != 0 }

// TCPSocket is a TCP socket; MPTCP is set for MPTCP subflows.
type TCPSocket struct {
	Socket
	TCP        *mptcp.TCPInfo `json:"tcp_info,omitempty"`
	Congestion string         `json:"congestion,omitempty"`
	ULP        string         `json:"ulp,omitempty"` // "mptcp", "tls", ...
	MPTCP      *SubflowInfo   `json:"mptcp,omitempty"`
}

// Connection is an MPTCP connection with its subflows.
type Connection struct {
	MPTCPSocket
	Subflows []TCPSocket `json:"subflows"`
}

// Fallback reports whether the connection runs as plain TCP.
func (c *Connection) Fallback() bool { return c.Info != nil && c.Info.Fallback() }

func families() []uint8 { return []uint8{unix.AF_INET, unix.AF_INET6} }

// MPTCPSockets dumps the MPTCP sockets (not listeners) with their
// mptcp_info.
func (c *Client) MPTCPSockets() ([]MPTCPSocket, error) {
	var out []MPTCPSocket
	for _, fam := range families() {
		msgs, err := inetdiag.Query(c.c, inetdiag.Request{
			Family: fam, Protocol: inetdiag.ProtoMPTCP, Ext: inetdiag.ExtInfo,
			States: inetdiag.AllConnected, Dump: true,
		})
		if err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) {
				return nil, fmt.Errorf("sockdiag: this kernel has no MPTCP socket diagnostics (module mptcp_diag: modprobe mptcp_diag): %w", err)
			}
			return nil, fmt.Errorf("sockdiag: dump MPTCP sockets: %w", err)
		}
		for _, m := range msgs {
			s := MPTCPSocket{Socket: socketOf(m)}
			if len(m.Info) > 0 {
				info, err := mptcp.ParseInfo(m.Info)
				if err != nil {
					return nil, fmt.Errorf("sockdiag: MPTCP socket %v: %w", s.Local, err)
				}
				s.Info = info
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// TCPSockets dumps the TCP sockets (not listeners) with tcp_info and, with
// CAP_NET_ADMIN, their ULP info.
func (c *Client) TCPSockets() ([]TCPSocket, error) {
	var out []TCPSocket
	for _, fam := range families() {
		msgs, err := inetdiag.Query(c.c, inetdiag.Request{
			Family: fam, Protocol: inetdiag.ProtoTCP, Ext: inetdiag.ExtInfo | inetdiag.ExtCong,
			States: inetdiag.AllConnected, Dump: true,
		})
		if err != nil {
			return nil, fmt.Errorf("sockdiag: dump TCP sockets: %w", err)
		}
		for _, m := range msgs {
			out = append(out, tcpSocketOf(m))
		}
	}
	return out, nil
}

func tcpSocketOf(m *inetdiag.Msg) TCPSocket {
	s := TCPSocket{Socket: socketOf(m), Congestion: m.Cong, ULP: m.ULPName}
	if len(m.Info) > 0 {
		if ti, err := mptcp.ParseTCPInfo(m.Info); err == nil {
			s.TCP = ti
		}
	}
	if u := m.MPTCP; u != nil {
		s.MPTCP = &SubflowInfo{
			Token: u.TokenLoc, RemoteToken: u.TokenRem, LocalID: u.IDLoc, RemoteID: u.IDRem,
			Flags: u.Flags, MapSeq: u.MapSeq, MapSfSeq: u.MapSfSeq, SSNOffset: u.SSNOffset,
			MapDataLen: u.MapDataLen, RelWriteSeq: u.RelWriteSeq,
		}
	}
	return s
}

// Connections returns every MPTCP connection of the namespace with its
// subflows, joined by token, sorted by local then remote address. Subflows
// whose connection is gone between the two dumps are dropped.
func (c *Client) Connections() ([]Connection, error) {
	msks, err := c.MPTCPSockets()
	if err != nil {
		return nil, err
	}
	tcps, err := c.TCPSockets()
	if err != nil {
		return nil, err
	}
	return Join(msks, tcps)
}

// Join matches subflows to MPTCP sockets by token. It returns ErrNoULPInfo
// (wrapped) if there are MPTCP connections that are not fallbacks but no
// TCP socket carried ULP info at all.
func Join(msks []MPTCPSocket, tcps []TCPSocket) ([]Connection, error) {
	byToken := map[uint32][]TCPSocket{}
	anyULP := false
	for _, t := range tcps {
		if t.ULP != "" {
			anyULP = true
		}
		if t.MPTCP != nil {
			byToken[t.MPTCP.Token] = append(byToken[t.MPTCP.Token], t)
		}
	}
	conns := make([]Connection, 0, len(msks))
	needULP := false
	for _, m := range msks {
		conn := Connection{MPTCPSocket: m}
		if tok := m.Token(); tok != 0 {
			conn.Subflows = byToken[tok]
		}
		if len(conn.Subflows) == 0 && !conn.Fallback() {
			needULP = true
		}
		sort.Slice(conn.Subflows, func(i, j int) bool { return lessSock(conn.Subflows[i].Socket, conn.Subflows[j].Socket) })
		conns = append(conns, conn)
	}
	sort.Slice(conns, func(i, j int) bool { return lessSock(conns[i].Socket, conns[j].Socket) })
	if needULP && !anyULP && len(tcps) > 0 {
		return conns, ErrNoULPInfo
	}
	return conns, nil
}

func lessSock(a, b Socket) bool {
	if c := a.Local.Compare(b.Local); c != 0 {
		return c < 0
	}
	return a.Remote.Compare(b.Remote) < 0
}
