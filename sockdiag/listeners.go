package sockdiag

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/internal/inetdiag"
)

// Protocol names a listener's or a connection's transport.
type Protocol string

// Protocols.
const (
	MPTCP Protocol = "mptcp"
	TCP   Protocol = "tcp"
)

// Listener is a listening socket. An MPTCP listener also has a TCP
// "subflow" listener underneath (ULP "mptcp", same address and port): it
// is folded into the MPTCP listener, not listed on its own.
type Listener struct {
	Socket
	Protocol Protocol `json:"protocol"`
}

// Listeners dumps the MPTCP and TCP listening sockets, sorted by port then
// address, MPTCP first on a tie.
func (c *Client) Listeners() ([]Listener, error) {
	var msk, tcp []*inetdiag.Msg
	for _, fam := range families() {
		m, err := inetdiag.Query(c.c, inetdiag.Request{Family: fam, Protocol: inetdiag.ProtoMPTCP, States: 1 << inetdiag.StateListen, Dump: true})
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("sockdiag: dump MPTCP listeners: %w", err)
		}
		msk = append(msk, m...)
		t, err := inetdiag.Query(c.c, inetdiag.Request{Family: fam, Protocol: inetdiag.ProtoTCP, States: 1 << inetdiag.StateListen, Dump: true})
		if err != nil {
			return nil, fmt.Errorf("sockdiag: dump TCP listeners: %w", err)
		}
		tcp = append(tcp, t...)
	}
	var ms, ts []TCPSocket
	for _, m := range msk {
		ms = append(ms, TCPSocket{Socket: socketOf(m)})
	}
	for _, m := range tcp {
		ts = append(ts, tcpSocketOf(m))
	}
	return MergeListeners(ms, ts), nil
}

// MergeListeners folds the TCP subflow listeners of MPTCP listeners into
// them: a TCP listener with the "mptcp" ULP, or (when the kernel sent no
// ULP info, without CAP_NET_ADMIN) one on exactly the address and port of
// an MPTCP listener, is not listed.
func MergeListeners(msks, tcps []TCPSocket) []Listener {
	mptcpAt := map[netip.AddrPort]int{}
	var out []Listener
	for _, m := range msks {
		mptcpAt[m.Local]++
		out = append(out, Listener{Socket: m.Socket, Protocol: MPTCP})
	}
	anyULP := false
	for _, t := range tcps {
		if t.ULP != "" {
			anyULP = true
		}
	}
	for _, t := range tcps {
		if t.ULP == "mptcp" {
			continue
		}
		if !anyULP && mptcpAt[t.Local] > 0 {
			mptcpAt[t.Local]--
			continue
		}
		out = append(out, Listener{Socket: t.Socket, Protocol: TCP})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Local.Port() != b.Local.Port() {
			return a.Local.Port() < b.Local.Port()
		}
		if c := a.Local.Addr().Compare(b.Local.Addr()); c != 0 {
			return c < 0
		}
		return a.Protocol == MPTCP && b.Protocol != MPTCP
	})
	return out
}

// covers reports whether a listener bound to l accepts connections to a.
func covers(l, a netip.AddrPort) bool {
	if l.Port() != a.Port() {
		return false
	}
	return l.Addr().IsUnspecified() || l.Addr() == a.Addr()
}
