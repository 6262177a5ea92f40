package mptcp

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParseInfo: any input decodes without panicking, and what decodes
// survives MarshalBinary + ParseInfo unchanged.
func FuzzParseInfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		i, err := ParseInfo(b)
		if err != nil {
			if len(b) >= InfoSize5_9 {
				t.Fatalf("ParseInfo(%d bytes): %v", len(b), err)
			}
			return
		}
		if i.Size != len(b) {
			t.Fatalf("Size %d for %d bytes", i.Size, len(b))
		}
		m, err := i.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		j, err := ParseInfo(m)
		if err != nil {
			t.Fatal(err)
		}
		// Durations are whole milliseconds on the wire: equal after one trip.
		if diff := cmp.Diff(i, j); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// FuzzParseTCPInfo: no panic; fields past the input stay zero.
func FuzzParseTCPInfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		ti, err := ParseTCPInfo(b)
		if err != nil {
			return
		}
		if len(b) < 208 && ti.BytesSent != 0 {
			t.Fatalf("BytesSent %d decoded from %d bytes", ti.BytesSent, len(b))
		}
	})
}

// FuzzParseFullInfo: a hostile MPTCP_FULL_INFO answer cannot make the
// decoder read out of bounds or return more subflows than the arrays hold.
func FuzzParseFullInfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, hdr, sf, ti []byte, n uint8) {
		sfs, num, err := parseFullInfo(hdr, sf, ti, int(n))
		if err != nil {
			return
		}
		if len(sfs) > int(n) || (sfs != nil && len(sfs) != num) {
			t.Fatalf("%d subflows (count %d) with room for %d", len(sfs), num, n)
		}
	})
}

// FuzzParseSubflowData: elements never exceed the buffer or the count.
func FuzzParseSubflowData(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		els, num, err := parseSubflowData(b)
		if err != nil {
			return
		}
		if len(els) > num {
			t.Fatalf("%d elements for count %d", len(els), num)
		}
		total := 0
		for _, e := range els {
			total += len(e)
		}
		if total > len(b) {
			t.Fatalf("elements span %d bytes of %d", total, len(b))
		}
		if len(b) >= 2 {
			parseSockaddr(b)
		}
		_ = binary.NativeEndian
	})
}
