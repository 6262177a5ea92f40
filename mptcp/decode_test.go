package mptcp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// The buffers under testdata/ were recorded from Linux 6.18 with
// `go test -run TestRecordBuffers ./mptcp -args -record`: a connection
// 10.0.1.1 -> 10.0.1.2:5299 plus a subflow from 10.0.2.1, after the client
// sent 1000 bytes.

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseInfoRecorded(t *testing.T) {
	b := readTestdata(t, "mptcp_info.bin")
	full, err := ParseInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	// What the recording must say, independently of the decoder.
	if full.Size != 96 || full.Token == 0 || full.Subflows != 1 || full.SubflowsTotal != 2 || full.SubflowsMax != 2 ||
		full.BytesSent != 1000 || full.BytesAcked != 1000 || full.Fallback() || full.Flags&InfoRemoteKeyReceived == 0 {
		t.Fatalf("6.18 mptcp_info decoded wrong: %+v", full)
	}
	if full.Token != binary.NativeEndian.Uint32(b[12:]) || full.SndUna != binary.NativeEndian.Uint64(b[24:]) {
		t.Fatalf("token/snd_una not at offsets 12/24")
	}

	noBytes := func(i *ConnInfo) {
		i.Retransmits, i.BytesRetrans, i.BytesSent, i.BytesReceived, i.BytesAcked = 0, 0, 0, 0, 0
	}
	noTotal := func(i *ConnInfo) { i.SubflowsTotal, i.EndpLaminarMax, i.EndpFullmeshMax = 0, 0, 0 }
	noLast := func(i *ConnInfo) { i.LastDataSent, i.LastDataRecv, i.LastAckRecv = 0, 0, 0 }
	for _, tc := range []struct {
		kernel string
		size   int
		strip  []func(*ConnInfo)
		total  int // TotalSubflows()
	}{
		{"5.9", InfoSize5_9, []func(*ConnInfo){func(i *ConnInfo) { i.LocalAddrUsed, i.LocalAddrMax, i.CsumEnabled = 0, 0, false }, noBytes, noTotal, noLast}, 2},
		{"5.14", InfoSize5_12, []func(*ConnInfo){noBytes, noTotal, noLast}, 2},
		{"6.5", InfoSize6_5, []func(*ConnInfo){noTotal, noLast}, 2},
		{"6.8", InfoSize6_8, []func(*ConnInfo){func(i *ConnInfo) { i.EndpLaminarMax, i.EndpFullmeshMax = 0, 0 }, noLast}, 2},
		{"6.18", 96, nil, 2},
		{"future", 128, nil, 2},
	} {
		t.Run(tc.kernel, func(t *testing.T) {
			in := append([]byte(nil), b...)
			if tc.size <= len(in) {
				in = in[:tc.size]
			} else {
				in = append(in, make([]byte, tc.size-len(in))...)
			}
			got, err := ParseInfo(in)
			if err != nil {
				t.Fatalf("ParseInfo(%d bytes): %v", tc.size, err)
			}
			want := *full
			want.Size = tc.size
			for _, f := range tc.strip {
				f(&want)
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("ParseInfo(%d bytes) (-want +got):\n%s", tc.size, diff)
			}
			if got.TotalSubflows() != tc.total {
				t.Errorf("TotalSubflows = %d, want %d", got.TotalSubflows(), tc.total)
			}
			if got.HasByteCounters() != (tc.size >= 80) {
				t.Errorf("HasByteCounters = %v at %d bytes", got.HasByteCounters(), tc.size)
			}
		})
	}
	if _, err := ParseInfo(b[:39]); err == nil {
		t.Error("ParseInfo(39 bytes) succeeded; want an error")
	}
}

func TestParseTCPInfoSizes(t *testing.T) {
	arr := readTestdata(t, "full_info_tcpinfo.bin")
	hdr := readTestdata(t, "full_info_hdr.bin")
	stride := int(binary.NativeEndian.Uint32(hdr[4:]))
	if stride != 280 || len(arr) != 2*stride {
		t.Fatalf("recorded tcp_info stride %d, %d bytes; want 280, 560 (6.18)", stride, len(arr))
	}
	full, err := ParseTCPInfo(arr[:stride])
	if err != nil {
		t.Fatal(err)
	}
	if full.State != 1 || full.SndMSS != 1448 || full.RTT == 0 || full.SndCwnd == 0 || full.BytesSent != 1000 || full.BytesAcked != 1001 {
		t.Fatalf("6.18 tcp_info of the first subflow decoded wrong: %+v", full)
	}
	for _, tc := range []struct {
		size                      int
		bytesSent, bytesAcked     uint64
		deliveryRateKnown, rcvWnd bool
	}{
		{104, 0, 0, false, false}, // 2.6
		{168, 0, 1001, true, false},
		{216, 1000, 1001, true, false}, // 4.19
		{232, 1000, 1001, true, false},
		{248, 1000, 1001, true, true},
		{280, 1000, 1001, true, true},
	} {
		got, err := ParseTCPInfo(arr[:tc.size])
		if err != nil {
			t.Fatalf("ParseTCPInfo(%d): %v", tc.size, err)
		}
		if got.BytesSent != tc.bytesSent || got.BytesAcked != tc.bytesAcked || got.RTT != full.RTT || got.SndCwnd != full.SndCwnd {
			t.Errorf("ParseTCPInfo(%d): sent %d acked %d rtt %v cwnd %d", tc.size, got.BytesSent, got.BytesAcked, got.RTT, got.SndCwnd)
		}
		if (got.DeliveryRate == full.DeliveryRate) != tc.deliveryRateKnown && full.DeliveryRate != 0 {
			t.Errorf("ParseTCPInfo(%d): delivery rate %d", tc.size, got.DeliveryRate)
		}
		if (got.RcvWnd != 0) != tc.rcvWnd {
			t.Errorf("ParseTCPInfo(%d): rcv_wnd %d", tc.size, got.RcvWnd)
		}
	}
	if _, err := ParseTCPInfo(arr[:103]); err == nil {
		t.Error("ParseTCPInfo(103 bytes) succeeded")
	}
}

var (
	wantSF1 = [2]netip.Addr{netip.MustParseAddr("10.0.1.1"), netip.MustParseAddr("10.0.1.2")}
	wantSF2 = [2]netip.Addr{netip.MustParseAddr("10.0.2.1"), netip.MustParseAddr("10.0.1.2")}
)

func checkRecordedSubflows(t *testing.T, sfs []Subflow, ids bool) {
	t.Helper()
	if len(sfs) != 2 {
		t.Fatalf("%d subflows, want 2", len(sfs))
	}
	for i, want := range [][2]netip.Addr{wantSF1, wantSF2} {
		sf := sfs[i]
		if sf.Local.Addr() != want[0] || sf.Remote.Addr() != want[1] || sf.Remote.Port() != 5299 || sf.Local.Port() == 0 {
			t.Errorf("subflow %d: %v -> %v, want %v -> %v:5299", i, sf.Local, sf.Remote, want[0], want[1])
		}
		if ids && sf.KernelID != uint32(i+1) {
			t.Errorf("subflow %d: id %d, want %d", i, sf.KernelID, i+1)
		}
		if sf.TCPState != 1 || sf.MSS != 1448 {
			t.Errorf("subflow %d: state %d mss %d", i, sf.TCPState, sf.MSS)
		}
	}
	if got := sfs[0].BytesSent + sfs[1].BytesSent; got != 1000 {
		t.Errorf("subflows sent %d bytes, want 1000", got)
	}
}

func TestParseFullInfoRecorded(t *testing.T) {
	hdr := readTestdata(t, "full_info_hdr.bin")
	sf := readTestdata(t, "full_info_sfinfo.bin")
	ti := readTestdata(t, "full_info_tcpinfo.bin")
	sfs, n, err := parseFullInfo(hdr, sf, ti, 2)
	if err != nil || n != 2 {
		t.Fatalf("parseFullInfo: %d, %v", n, err)
	}
	checkRecordedSubflows(t, sfs, true)

	// 6.5: mptcp_info of 80 bytes in the header, tcp_info of 232.
	old := append([]byte(nil), hdr[:fullInfoHdrSize+InfoSize6_5]...)
	binary.NativeEndian.PutUint32(old[4:], 232)
	oldTI := append(append([]byte(nil), ti[:232]...), ti[280:280+232]...)
	sfs, _, err = parseFullInfo(old, sf, oldTI, 2)
	if err != nil {
		t.Fatalf("parseFullInfo(6.5 sizes): %v", err)
	}
	checkRecordedSubflows(t, sfs, true)

	// More subflows than room: the count comes back to retry with.
	if sfs, n, err := parseFullInfo(hdr, sf, ti, 1); err != nil || n != 2 || sfs != nil {
		t.Errorf("parseFullInfo with room for 1 = %v, %d, %v; want nil, 2, nil", sfs, n, err)
	}
	// A lying header cannot make it read out of bounds.
	bad := append([]byte(nil), hdr...)
	binary.NativeEndian.PutUint32(bad[12:], 100000)
	if _, _, err := parseFullInfo(bad, sf, ti, 2); err == nil {
		t.Error("parseFullInfo with an oversized element succeeded")
	}
}

func TestParseLegacyRecorded(t *testing.T) {
	addrs, na, err := parseSubflowData(readTestdata(t, "subflow_addrs.bin"))
	if err != nil || na != 2 || len(addrs) != 2 {
		t.Fatalf("MPTCP_SUBFLOW_ADDRS: %d elements of %d, %v", len(addrs), na, err)
	}
	tis, nt, err := parseSubflowData(readTestdata(t, "tcpinfo.bin"))
	if err != nil || nt != 2 || len(tis) != 2 || len(tis[0]) != 280 {
		t.Fatalf("MPTCP_TCPINFO: %d elements of %d, %v", len(tis), nt, err)
	}
	var sfs []Subflow
	for i := range 2 {
		sf := Subflow{Local: parseSockaddr(addrs[i]), Remote: parseSockaddr(addrs[i][sockaddrStorage:])}
		ti, err := ParseTCPInfo(tis[i])
		if err != nil {
			t.Fatal(err)
		}
		sf.setTCP(ti)
		sfs = append(sfs, sf)
	}
	checkRecordedSubflows(t, sfs, false)
	if _, _, err := parseSubflowData(make([]byte, 8)); err == nil {
		t.Error("parseSubflowData(8 bytes) succeeded")
	}
}

func TestParseSockaddr(t *testing.T) {
	b6 := make([]byte, 28)
	binary.NativeEndian.PutUint16(b6, 10) // AF_INET6
	binary.BigEndian.PutUint16(b6[2:], 443)
	a := netip.MustParseAddr("fe80::1").As16()
	copy(b6[8:], a[:])
	binary.NativeEndian.PutUint32(b6[24:], 3)
	if got := parseSockaddr(b6); got != netip.MustParseAddrPort("[fe80::1%3]:443") {
		t.Errorf("parseSockaddr(v6) = %v", got)
	}
	if got := parseSockaddr(b6[:10]); got.IsValid() {
		t.Errorf("parseSockaddr(short v6) = %v, want invalid", got)
	}
	if got := parseSockaddr([]byte{99, 0}); got.IsValid() {
		t.Errorf("parseSockaddr(unknown family) = %v", got)
	}
}

func TestConnInfoMarshalRoundTrip(t *testing.T) {
	in := &ConnInfo{Size: 96, Subflows: 1, SubflowsMax: 2, Flags: InfoRemoteKeyReceived, Token: 0xdeadbeef, WriteSeq: 1 << 40,
		LocalAddrMax: 1, CsumEnabled: true, Retransmits: 3, BytesSent: 12345, BytesAcked: 12000, SubflowsTotal: 2,
		LastDataSent: 5 * time.Millisecond}
	b, err := in.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := ParseInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-in +out):\n%s", diff)
	}
}

func TestStateFromProbe(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want State
	}{
		{nil, NotRequested},
		{unix.ENOPROTOOPT, Disabled},
		{unix.EINVAL, Unsupported},
		{unix.EPROTONOSUPPORT, Unsupported},
		{unix.EMFILE, Unknown},
	} {
		if got := stateFromProbe(tc.err); got != tc.want {
			t.Errorf("stateFromProbe(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	for _, s := range []State{Unknown, Active, Fallback, Disabled, Unsupported, NotRequested} {
		if s.String() == "" || s.Reason() == "" {
			t.Errorf("state %d has no name or reason", s)
		}
	}
	err := error(&UnsupportedFeatureError{Name: "MPTCP_SUBFLOW_ADDRS", MinimumVersion: "5.16", Err: unix.EOPNOTSUPP})
	if !errors.Is(err, ErrNotSupported) || !errors.Is(err, unix.EOPNOTSUPP) || !strings.Contains(err.Error(), "Linux 5.16") {
		t.Errorf("feature error %v: want ErrNotSupported, EOPNOTSUPP and the kernel version", err)
	}
}
