package pm

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var addrCmp = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
}

func TestFlagsString(t *testing.T) {
	tests := []struct {
		f    Flags
		want string
	}{
		{0, ""},
		{FlagSignal, "signal"},
		{FlagSignal | FlagSubflow, "signal,subflow"},
		{FlagSubflow | FlagBackup | FlagFullmesh, "subflow,backup,fullmesh"},
		{FlagImplicit | FlagLaminar, "implicit,laminar"},
		{FlagSignal | 0x80, "signal,0x80"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("Flags(%#x).String() = %q, want %q", uint32(tt.f), got, tt.want)
		}
		text, err := tt.f.MarshalText()
		if err != nil || string(text) != tt.want {
			t.Errorf("Flags(%#x).MarshalText() = %q, %v, want %q", uint32(tt.f), text, err, tt.want)
		}
		var back Flags
		if err := back.UnmarshalText(text); err != nil || back != tt.f {
			t.Errorf("UnmarshalText(%q) = %#x, %v, want %#x", text, uint32(back), err, uint32(tt.f))
		}
	}
	var f Flags
	if err := f.UnmarshalText([]byte("subflow,nobackup")); err == nil {
		t.Errorf("UnmarshalText(subflow,nobackup) = %v, want an error", f)
	}
	if err := f.UnmarshalText([]byte("subflow,128")); err == nil {
		t.Errorf("UnmarshalText(subflow,128) = %v, want an error (unknown bits are written in hex)", f)
	}
	for _, w := range []string{"signal", "subflow", "backup", "fullmesh", "implicit", "laminar"} {
		f, err := ParseFlag(w)
		if err != nil || f.String() != w {
			t.Errorf("ParseFlag(%q) = %v, %v", w, f, err)
		}
	}
	if _, err := ParseFlag("nobackup"); err == nil {
		t.Error("ParseFlag(nobackup) succeeded")
	}
}

func TestEventTypeString(t *testing.T) {
	for typ, want := range map[EventType]string{
		EventCreated: "CREATED", EventEstablished: "ESTABLISHED", EventClosed: "CLOSED",
		EventAnnounced: "ANNOUNCED", EventRemoved: "REMOVED", EventSubEstablished: "SUB_ESTABLISHED",
		EventSubClosed: "SUB_CLOSED", EventSubPriority: "SUB_PRIORITY",
		EventListenerCreated: "LISTENER_CREATED", EventListenerClosed: "LISTENER_CLOSED",
		99: "UNKNOWN(99)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("EventType(%d).String() = %q, want %q", typ, got, want)
		}
	}
}

func TestEventRoundTrip(t *testing.T) {
	tests := []Event{
		{Type: EventCreated, Token: 7, Local: netip.MustParseAddrPort("10.0.0.1:1"), Remote: netip.MustParseAddrPort("10.0.0.2:2"), ServerSide: true, Flags: EventFlagServerSide},
		{Type: EventSubClosed, Token: 7, LocalID: 2, RemoteID: 3, Local: netip.MustParseAddrPort("[2001:db8::1]:1"), Remote: netip.MustParseAddrPort("[2001:db8::2]:2"), Error: 104, ResetReason: 1, ResetFlags: 2, IfIndex: -1},
		{Type: EventAnnounced, Token: 9, RemoteID: 4, Remote: netip.AddrPortFrom(netip.MustParseAddr("10.9.9.9"), 0), Timeout: 120},
		{Type: EventRemoved, Token: 9, RemoteID: 4},
	}
	for _, want := range tests {
		b, err := encodeEvent(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeEvent(want.Type, b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, addrCmp); diff != "" {
			t.Errorf("%s round trip (-want +got):\n%s", want.Type, diff)
		}
	}
}

func TestDecodeEventErrors(t *testing.T) {
	for name, b := range map[string][]byte{
		"short port":    {5, 0, 9, 0, 1, 0, 0, 0},
		"short address": {7, 0, 5, 0, 1, 2, 3, 0},
		"truncated":     {8, 0, 1},
	} {
		if _, err := decodeEvent(EventCreated, b); err == nil {
			t.Errorf("%s: decodeEvent succeeded", name)
		}
	}
}

// FuzzDecodeEndpoint checks that whatever the endpoint decoder accepts
// encodes back to bytes that decode to the same endpoint.
func FuzzDecodeEndpoint(f *testing.F) {
	for _, e := range []Endpoint{
		{ID: 1, Addr: netip.MustParseAddr("10.0.0.1"), Flags: FlagSignal, Port: 443},
		{ID: 255, Addr: netip.MustParseAddr("2001:db8::1"), Flags: FlagSubflow | FlagFullmesh, IfIndex: 3},
	} {
		b, err := encodeEndpointMsg(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e1, err := decodeEndpointMsg(b)
		if err != nil {
			return
		}
		enc, err := encodeEndpointMsg(e1)
		if err != nil {
			t.Fatalf("encode %+v: %v", e1, err)
		}
		e2, err := decodeEndpointMsg(enc)
		if err != nil {
			t.Fatalf("decode re-encoded %+v: %v", e1, err)
		}
		if diff := cmp.Diff(e1, e2, addrCmp); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// FuzzDecodeEvent checks the same round trip for events.
func FuzzDecodeEvent(f *testing.F) {
	for _, ev := range []Event{
		{Type: EventSubEstablished, Token: 0xabcdef, LocalID: 1, RemoteID: 2, Local: netip.MustParseAddrPort("10.0.2.1:40000"), Remote: netip.MustParseAddrPort("10.0.1.2:5201"), Backup: true, IfIndex: 4},
		{Type: EventListenerCreated, Local: netip.MustParseAddrPort("[::]:5201")},
	} {
		b, err := encodeEvent(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(ev.Type), b)
	}
	f.Fuzz(func(t *testing.T, typ uint8, b []byte) {
		ev1, err := decodeEvent(EventType(typ), b)
		if err != nil {
			return
		}
		enc, err := encodeEvent(ev1)
		if err != nil {
			t.Fatalf("encode %+v: %v", ev1, err)
		}
		ev2, err := decodeEvent(EventType(typ), enc)
		if err != nil {
			t.Fatalf("decode re-encoded %+v: %v", ev1, err)
		}
		if diff := cmp.Diff(ev1, ev2, addrCmp); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
