package cli

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/sockdiag"
)

// fixedConns is one two-subflow connection (second subflow backup) and one
// fallback, as sockdiag would return them.
func fixedConns() []sockdiag.Connection {
	ap := netip.MustParseAddrPort
	sf := func(local, remote string, lid uint8, flags uint32, sent, recv uint64, rtt time.Duration) sockdiag.TCPSocket {
		return sockdiag.TCPSocket{
			Socket:     sockdiag.Socket{Local: ap(local), Remote: ap(remote), State: 1, Cookie: uint64(lid) + 1},
			Congestion: "bbr", ULP: "mptcp",
			TCP:   &mptcp.TCPInfo{State: 1, RTT: rtt, RTTVar: rtt / 4, SndCwnd: 40, SndMSS: 1448, BytesSent: sent, BytesAcked: sent + 1, BytesReceived: recv, TotalRetrans: 2},
			MPTCP: &sockdiag.SubflowInfo{Token: 0x1234abcd, LocalID: lid, Flags: flags},
		}
	}
	return []sockdiag.Connection{
		{
			MPTCPSocket: sockdiag.MPTCPSocket{
				Socket: sockdiag.Socket{Local: ap("10.0.1.1:40000"), Remote: ap("10.0.1.2:5201"), State: 1, Inode: 77},
				Info:   &mptcp.ConnInfo{Size: 96, Token: 0x1234abcd, BytesSent: 3_000_000, BytesReceived: 1500, BytesAcked: 3_000_000, SubflowsTotal: 2, Subflows: 1},
			},
			Subflows: []sockdiag.TCPSocket{
				sf("10.0.1.1:40000", "10.0.1.2:5201", 0, sockdiag.FlagMCapLocal|sockdiag.FlagConnected, 2_000_000, 1500, 2*time.Millisecond),
				sf("10.0.2.1:40001", "10.0.1.2:5201", 1, sockdiag.FlagJoinLocal|sockdiag.FlagBackupLocal, 1_000_000, 0, 20*time.Millisecond),
			},
		},
		{
			MPTCPSocket: sockdiag.MPTCPSocket{
				Socket: sockdiag.Socket{Local: ap("10.0.1.1:40002"), Remote: ap("10.0.1.2:22"), State: 1},
				Info:   &mptcp.ConnInfo{Size: 96, Token: 0xff, Flags: mptcp.InfoFallback},
			},
			Subflows: []sockdiag.TCPSocket{sf("10.0.1.1:40002", "10.0.1.2:22", 0, sockdiag.FlagConnected, 0, 0, time.Millisecond)},
		},
		{
			// Without CAP_NET_ADMIN: no subflows known.
			MPTCPSocket: sockdiag.MPTCPSocket{
				Socket: sockdiag.Socket{Local: ap("10.0.1.1:40003"), Remote: ap("10.0.1.2:80"), State: 1},
				Info:   &mptcp.ConnInfo{Size: 96, Token: 0xee},
			},
		},
	}
}

func TestConnsRenderGolden(t *testing.T) {
	conns := fixedConns()
	var b bytes.Buffer
	if err := writeConns(&b, conns, nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "conns/text.golden", b.String())

	// --watch: rates of the subflows since a snapshot 2 s earlier.
	prev := sockdiag.NewSnapshot(conns, time.Unix(0, 0))
	later := fixedConns()
	later[0].Subflows[0].TCP.BytesSent += 2_000_000
	later[0].Subflows[1].TCP.BytesReceived += 500
	rates := sockdiag.Rates(prev, sockdiag.NewSnapshot(later, time.Unix(2, 0)))
	b.Reset()
	if err := writeConns(&b, later, rates); err != nil {
		t.Fatal(err)
	}
	golden(t, "conns/watch.golden", b.String())

	b.Reset()
	if err := connsWriteJSON(&b, connsJSON(later, rates)); err != nil {
		t.Fatal(err)
	}
	golden(t, "conns/json.golden", b.String())

	b.Reset()
	writeConns(&b, nil, nil)
	golden(t, "conns/empty.golden", b.String())
}
