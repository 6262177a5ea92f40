package cli

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/pm"
)

// FuzzEndpointWords checks the round trip between the ip-style line
// `endpoint show` prints and the words `endpoint add` parses: an endpoint
// printed and parsed back is the same endpoint.
func FuzzEndpointWords(f *testing.F) {
	f.Add([]byte{10, 0, 0, 1}, uint16(1234), uint8(1), uint32(pm.FlagSignal))
	f.Add([]byte{10, 0, 2, 1}, uint16(0), uint8(2), uint32(pm.FlagSubflow|pm.FlagBackup|pm.FlagFullmesh))
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint16(0), uint8(200), uint32(pm.FlagSubflow|pm.FlagLaminar))
	f.Fuzz(func(t *testing.T, ip []byte, port uint16, id uint8, flags uint32) {
		addr, ok := netip.AddrFromSlice(ip)
		if !ok || id == 0 {
			return
		}
		ep := pm.Endpoint{ID: id, Addr: addr.Unmap(), Port: port, Flags: pm.Flags(flags) & (pm.FlagSignal | pm.FlagSubflow | pm.FlagBackup | pm.FlagFullmesh | pm.FlagLaminar)}
		var b bytes.Buffer
		if err := writeEndpoints(&b, []pm.Endpoint{ep}, nil, false); err != nil {
			t.Fatal(err)
		}
		a, err := parseEndpointArgs("add", strings.Fields(b.String()))
		if err != nil {
			t.Fatalf("line %q does not parse back: %v", b.String(), err)
		}
		got := pm.Endpoint{ID: a.id, Addr: a.addr, Port: a.port, Flags: a.flags}
		if got != ep {
			t.Fatalf("line %q parses to %+v, want %+v", b.String(), got, ep)
		}
		// Whatever parses is checked the way the kernel would check it.
		if err := validateAdd(a); err == nil {
			if ep.Flags&pm.FlagSignal != 0 && ep.Flags&pm.FlagFullmesh != 0 {
				t.Fatalf("signal+fullmesh passed validation: %q", b.String())
			}
			if ep.Port != 0 && (ep.Flags&pm.FlagSignal == 0 || ep.Flags&pm.FlagSubflow != 0) {
				t.Fatalf("port without signal (or with subflow) passed validation: %q", b.String())
			}
		}
	})
}
