package sockdiag

import (
	"errors"
	"os"
	"sort"
	"strings"

	"github.com/mptcpkit/mptcpkit/mptcp"
)

// Reason says in words why a connection is plain TCP and not MPTCP.
type Reason string

// Reasons a connection is not MPTCP.
const (
	// ReasonDisabled: net.mptcp.enabled=0 in the namespace.
	ReasonDisabled Reason = "net.mptcp.enabled=0 in this network namespace: MPTCP sockets are refused and programs get plain TCP (sysctl -w net.mptcp.enabled=1)"
	// ReasonPeerNoOffer: a connection accepted by an MPTCP listener whose
	// SYN carried no MP_CAPABLE.
	ReasonPeerNoOffer Reason = "the peer did not offer MPTCP (its SYN had no MP_CAPABLE option: the client opened a plain TCP socket, or a middlebox stripped the option)"
	// ReasonPlainSocket: the local program opened a TCP socket.
	ReasonPlainSocket Reason = "the program opened a plain TCP socket (IPPROTO_TCP): use IPPROTO_MPTCP, `mptcpkit run`, or `mptcpkit force`"
	// ReasonNoAnswer: an MPTCP client whose SYN-ACK had no MP_CAPABLE.
	ReasonNoAnswer Reason = "the peer did not answer MPTCP (its SYN-ACK had no MP_CAPABLE: the server does not use MPTCP, or a middlebox stripped the option)"
	// ReasonLaterFallback: MPTCP was negotiated then dropped.
	ReasonLaterFallback Reason = "fell back to TCP after the handshake (a middlebox stripped or changed MPTCP options, or a checksum/mapping failed)"
)

// FallbackReason says why the MPTCP connection c fell back ("" if it did
// not).
func FallbackReason(c *Connection) Reason {
	if !c.Fallback() {
		return ""
	}
	if c.Info.Flags&mptcp.InfoRemoteKeyReceived == 0 {
		if c.serverSide() {
			return ReasonPeerNoOffer
		}
		return ReasonNoAnswer
	}
	return ReasonLaterFallback
}

// serverSide guesses from the subflows whether the connection was accepted.
func (c *Connection) serverSide() bool {
	for _, s := range c.Subflows {
		if s.MPTCP != nil && s.MPTCP.LocalID == 0 && s.MPTCP.Flags&FlagMCapRemote != 0 {
			return true
		}
	}
	return false
}

// PlainConn is a TCP connection that is not an MPTCP subflow.
type PlainConn struct {
	TCPSocket
	// ToMPTCPListener: the connection was accepted on the port of an
	// MPTCP listener of this namespace (or goes to one), so it should have
	// been MPTCP.
	ToMPTCPListener bool   `json:"to_mptcp_listener"`
	Reason          Reason `json:"reason"`
}

// PlainTCP picks the TCP connections that are not MPTCP subflows and says
// why each is not MPTCP. mptcpEnabled is the namespace's net.mptcp.enabled.
//
// Without CAP_NET_ADMIN the kernel sends no ULP info, so subflows look like
// plain TCP; those on the 4-tuple of an MPTCP socket (the initial subflow)
// are still left out.
func PlainTCP(tcps []TCPSocket, msks []MPTCPSocket, listeners []Listener, mptcpEnabled bool) []PlainConn {
	isMsk := map[[2]string]bool{}
	for _, m := range msks {
		isMsk[[2]string{m.Local.String(), m.Remote.String()}] = true
	}
	out := []PlainConn{}
	for _, t := range tcps {
		if t.ULP == "mptcp" || t.MPTCP != nil || isMsk[[2]string{t.Local.String(), t.Remote.String()}] {
			continue
		}
		p := PlainConn{TCPSocket: t}
		local := false
		for _, l := range listeners {
			if l.Protocol != MPTCP {
				continue
			}
			if covers(l.Local, t.Local) {
				local = true
			}
			if covers(l.Local, t.Local) || covers(l.Local, t.Remote) {
				p.ToMPTCPListener = true
			}
		}
		switch {
		case !mptcpEnabled:
			p.Reason = ReasonDisabled
		case local:
			p.Reason = ReasonPeerNoOffer
		default:
			p.Reason = ReasonPlainSocket
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ToMPTCPListener && !out[j].ToMPTCPListener })
	return out
}

// MPTCPEnabled reads net.mptcp.enabled of the calling thread's network
// namespace (false when the kernel has no MPTCP).
func MPTCPEnabled() (bool, error) {
	b, err := os.ReadFile("/proc/sys/net/mptcp/enabled")
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(b)) != "0", nil
}

// Overview is everything conns shows about one namespace.
type Overview struct {
	Connections []Connection
	Plain       []PlainConn
	Listeners   []Listener
}

// Overview reads the MPTCP connections, the listeners and the plain TCP
// connections in one go. mptcpEnabled is the namespace's
// net.mptcp.enabled (see MPTCPEnabled). The error may wrap ErrNoULPInfo
// with a usable Overview.
func (c *Client) Overview(mptcpEnabled bool) (*Overview, error) {
	msks, err := c.MPTCPSockets()
	if err != nil {
		return nil, err
	}
	tcps, err := c.TCPSockets()
	if err != nil {
		return nil, err
	}
	ls, err := c.Listeners()
	if err != nil {
		return nil, err
	}
	conns, jerr := Join(msks, tcps)
	if jerr != nil && !errors.Is(jerr, ErrNoULPInfo) {
		return nil, jerr
	}
	return &Overview{Connections: conns, Plain: PlainTCP(tcps, msks, ls, mptcpEnabled), Listeners: ls}, jerr
}
