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

// fixedView adds a plain TCP connection accepted on an MPTCP listener's
// port, owned by a process, to fixedConns.
func fixedView(conns []sockdiag.Connection) *connsView {
	ap := netip.MustParseAddrPort
	return &connsView{
		conns: conns,
		plain: []sockdiag.PlainConn{{
			TCPSocket: sockdiag.TCPSocket{
				Socket: sockdiag.Socket{Local: ap("10.0.1.2:8080"), Remote: ap("10.0.1.1:50000"), State: 1, Inode: 99, Cookie: 9},
				TCP:    &mptcp.TCPInfo{State: 1, RTT: time.Millisecond, SndCwnd: 10, SndMSS: 1448, BytesSent: 5 << 20, DeliveryRate: 1_000_000},
			},
			ToMPTCPListener: true, Reason: sockdiag.ReasonPeerNoOffer,
		}},
		listeners: []sockdiag.Listener{
			{Socket: sockdiag.Socket{Local: ap("0.0.0.0:8080"), State: 10, Inode: 5}, Protocol: sockdiag.MPTCP},
			{Socket: sockdiag.Socket{Local: ap("[::]:8080"), State: 10, Inode: 6}, Protocol: sockdiag.TCP},
			{Socket: sockdiag.Socket{Local: ap("0.0.0.0:22"), State: 10, Inode: 7}, Protocol: sockdiag.TCP},
		},
		owners:   map[uint32][]sockdiag.Process{99: {{PID: 42, Comm: "srv", FD: 7}}, 5: {{PID: 42, Comm: "srv", FD: 3}}},
		counters: []sockdiag.Counter{{Name: "MPCapableFallbackSYNACK", Value: 1, What: "client side: the SYN-ACK had no MP_CAPABLE"}},
	}
}

func TestConnsRenderGolden(t *testing.T) {
	conns := fixedConns()
	var b bytes.Buffer
	if err := writeConns(&b, fixedView(conns), nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "conns/text.golden", b.String())

	// --watch: rates of the subflows since a snapshot 2 s earlier.
	prev := sockdiag.NewByteCounts(fixedView(conns).snapConns(), time.Unix(0, 0))
	later := fixedConns()
	later[0].Subflows[0].TCP.BytesSent += 2_000_000
	later[0].Subflows[1].TCP.BytesReceived += 500
	lv := fixedView(later)
	lv.plain[0].TCP.BytesSent += 1 << 20
	rates := sockdiag.Rates(prev, sockdiag.NewByteCounts(lv.snapConns(), time.Unix(2, 0)))
	b.Reset()
	if err := writeConns(&b, lv, rates); err != nil {
		t.Fatal(err)
	}
	golden(t, "conns/watch.golden", b.String())

	b.Reset()
	if err := connsWriteJSON(&b, lv.json(rates, true)); err != nil {
		t.Fatal(err)
	}
	golden(t, "conns/json.golden", b.String())

	b.Reset()
	writeConns(&b, &connsView{}, nil)
	golden(t, "conns/empty.golden", b.String())

	b.Reset()
	if err := writeListeners(&b, fixedView(conns)); err != nil {
		t.Fatal(err)
	}
	golden(t, "conns/listeners.golden", b.String())
	b.Reset()
	if err := connsWriteJSON(&b, fixedView(conns).listenersJSON()); err != nil {
		t.Fatal(err)
	}
	golden(t, "conns/listeners_json.golden", b.String())
}
