package sockdiag

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/mptcp"
)

func sock(local, remote string) Socket {
	s := Socket{Local: netip.MustParseAddrPort(local)}
	if remote != "" {
		s.Remote = netip.MustParseAddrPort(remote)
	}
	return s
}

func TestMergeListeners(t *testing.T) {
	msk := []TCPSocket{{Socket: sock("0.0.0.0:80", "")}}
	// With ULP info: the subflow listener carries "mptcp"; a plain TCP
	// listener on the same port stays.
	got := MergeListeners(msk, []TCPSocket{{Socket: sock("0.0.0.0:80", ""), ULP: "mptcp"}, {Socket: sock("[::]:80", "")}})
	if len(got) != 2 || got[0].Protocol != MPTCP || got[1].Protocol != TCP || got[1].Local.Addr().Is4() {
		t.Errorf("with ULP: %+v", got)
	}
	// Without ULP info (no CAP_NET_ADMIN): matched by address.
	got = MergeListeners(msk, []TCPSocket{{Socket: sock("0.0.0.0:80", "")}, {Socket: sock("0.0.0.0:22", "")}})
	if len(got) != 2 || got[0].Local.Port() != 22 || got[0].Protocol != TCP || got[1].Protocol != MPTCP {
		t.Errorf("without ULP: %+v", got)
	}
}

func TestPlainTCP(t *testing.T) {
	ls := []Listener{{Socket: sock("0.0.0.0:8080", ""), Protocol: MPTCP}, {Socket: sock("0.0.0.0:22", ""), Protocol: TCP}}
	tcps := []TCPSocket{
		{Socket: sock("10.0.0.1:22", "10.0.0.2:5000")},                // ssh: plain, not to an MPTCP port
		{Socket: sock("10.0.0.1:8080", "10.0.0.2:5001")},              // accepted on the MPTCP port
		{Socket: sock("10.0.0.1:5002", "10.0.0.9:443"), ULP: "mptcp"}, // a subflow
		{Socket: sock("10.0.0.1:5003", "10.0.0.9:443")},               // initial subflow, no ULP info
	}
	msks := []MPTCPSocket{{Socket: sock("10.0.0.1:5003", "10.0.0.9:443")}}
	got := PlainTCP(tcps, msks, ls, true)
	if len(got) != 2 {
		t.Fatalf("PlainTCP = %+v, want the ssh and the 8080 connection", got)
	}
	if got[0].Local.Port() != 8080 || !got[0].ToMPTCPListener || got[0].Reason != ReasonPeerNoOffer {
		t.Errorf("8080 connection first, should be MPTCP, peer did not offer: %+v", got[0])
	}
	if got[1].ToMPTCPListener || got[1].Reason != ReasonPlainSocket {
		t.Errorf("ssh connection: %+v", got[1])
	}
	for _, p := range PlainTCP(tcps, msks, ls, false) {
		if p.Reason != ReasonDisabled {
			t.Errorf("net.mptcp.enabled=0: reason %q", p.Reason)
		}
	}
}

func TestFallbackReason(t *testing.T) {
	c := Connection{MPTCPSocket: MPTCPSocket{Info: &mptcp.ConnInfo{}}}
	if r := FallbackReason(&c); r != "" {
		t.Errorf("not fallen back: %q", r)
	}
	c.Info.Flags = mptcp.InfoFallback
	if r := FallbackReason(&c); r != ReasonNoAnswer {
		t.Errorf("client, no remote key: %q", r)
	}
	c.Info.Flags |= mptcp.InfoRemoteKeyReceived
	if r := FallbackReason(&c); r != ReasonLaterFallback {
		t.Errorf("remote key received: %q", r)
	}
}

func TestParseFallbackCounters(t *testing.T) {
	in := "TcpExt: A B\nTcpExt: 1 2\nMPTcpExt: MPCapableSYNRX MPCapableFallbackACK MPCapableFallbackSYNACK NewFallbackThing\nMPTcpExt: 5 0 3 2\n"
	got, err := parseFallbackCounters(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "MPCapableFallbackSYNACK" || got[0].Value != 3 || got[0].What == "" || got[1].Name != "NewFallbackThing" || got[1].Value != 2 {
		t.Errorf("counters = %+v", got)
	}
}
