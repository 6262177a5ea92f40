package handshake_test

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

func TestParseDestination(t *testing.T) {
	tests := []struct {
		in      string
		want    handshake.Destination
		wantErr string
	}{
		{in: "10.0.0.1:80", want: handshake.Destination{Addr: netip.MustParseAddr("10.0.0.1"), Port: 80}},
		{in: "[2001:db8::1]:443", want: handshake.Destination{Addr: netip.MustParseAddr("2001:db8::1"), Port: 443}},
		{in: "[::ffff:10.0.0.1]:1", want: handshake.Destination{Addr: netip.MustParseAddr("10.0.0.1"), Port: 1}},
		{in: "example.com:8080", want: handshake.Destination{Host: "example.com", Port: 8080}},
		{in: "example.com", wantErr: "want HOST:PORT"},
		{in: "example.com:0", wantErr: "port must be"},
		{in: "example.com:70000", wantErr: "port must be"},
		{in: "exa mple.com:1", wantErr: "invalid byte"},
		{in: strings.Repeat("a", 256) + ":1", wantErr: "1-255 bytes"},
	}
	for _, tt := range tests {
		got, err := handshake.ParseDestination(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDestination(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDestination(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("ParseDestination(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestRequestRoundTrip(t *testing.T) {
	for _, d := range []string{"10.1.2.3:5201", "[2001:db8::7]:22", "dest.example:443", strings.Repeat("x", 255) + ":9"} {
		dest, err := handshake.ParseDestination(d)
		if err != nil {
			t.Fatal(err)
		}
		req := handshake.Request{Dest: dest}
		req.Nonce[0], req.MAC[31] = 7, 9
		b, err := req.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > handshake.MaxRequestSize {
			t.Fatalf("%s: %d bytes > MaxRequestSize", d, len(b))
		}
		// ReadRequest must stop at the end of the Request.
		r := bytes.NewReader(append(b, "payload"...))
		got, err := handshake.ReadRequest(r)
		if err != nil {
			t.Fatalf("%s: ReadRequest: %v", d, err)
		}
		if got.Dest.String() != dest.String() || got.Nonce != req.Nonce || got.MAC != req.MAC {
			t.Errorf("%s: round trip gave %+v", d, got)
		}
		if rest, _ := io.ReadAll(r); string(rest) != "payload" {
			t.Errorf("%s: ReadRequest consumed past the request: rest %q", d, rest)
		}
		// Every truncation is an error, never a panic.
		for i := 0; i < len(b); i++ {
			if _, err := handshake.ReadRequest(bytes.NewReader(b[:i])); err == nil {
				t.Fatalf("%s: truncated to %d bytes: no error", d, i)
			}
		}
	}
}

func TestReadRequestErrors(t *testing.T) {
	valid, _ := (&handshake.Request{Dest: handshake.Destination{Addr: netip.MustParseAddr("10.0.0.1"), Port: 1}}).MarshalBinary()
	mutate := func(i int, v byte) []byte { b := bytes.Clone(valid); b[i] = v; return b }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n" + strings.Repeat("A", 100)), handshake.ErrMagic},
		{"version", mutate(4, 2), handshake.ErrVersion},
		{"address type", mutate(37, 9), handshake.ErrFormat},
		{"empty", nil, io.EOF},
		{"truncated", valid[:50], handshake.ErrFormat},
		{"port 0", mutate(43, 0), handshake.ErrFormat},
	}
	for _, tt := range tests {
		_, err := handshake.ReadRequest(bytes.NewReader(tt.in))
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestMAC(t *testing.T) {
	key := []byte("0123456789abcdef0123")
	dest, _ := handshake.ParseDestination("10.0.0.1:80")
	var sn, cn [handshake.NonceSize]byte
	sn[0] = 1
	m1, _ := handshake.ClientMAC(key, sn, cn, dest)
	m2, _ := handshake.ClientMAC(key, sn, cn, dest)
	if !handshake.Equal(m1, m2) {
		t.Fatal("same inputs, different MACs")
	}
	sn2 := sn
	sn2[0] = 2
	other := map[string][handshake.MACSize]byte{}
	other["server nonce"], _ = handshake.ClientMAC(key, sn2, cn, dest)
	other["key"], _ = handshake.ClientMAC([]byte("another key 123456"), sn, cn, dest)
	d2, _ := handshake.ParseDestination("10.0.0.1:81")
	other["destination"], _ = handshake.ClientMAC(key, sn, cn, d2)
	other["server label"], _ = handshake.ServerMAC(key, sn, cn, dest, handshake.StatusOK)
	for what, m := range other {
		if handshake.Equal(m1, m) {
			t.Errorf("a different %s gives the same MAC", what)
		}
	}
}

func TestParseKey(t *testing.T) {
	if _, err := handshake.ParseKey([]byte("short\n")); err == nil {
		t.Error("short key accepted")
	}
	k, err := handshake.ParseKey([]byte("  0123456789abcdefXYZ\n"))
	if err != nil || string(k) != "0123456789abcdefXYZ" {
		t.Errorf("ParseKey = %q, %v", k, err)
	}
}

// FuzzReadRequest checks that no input makes ReadRequest panic or read past
// MaxRequestSize, and that what it accepts marshals back to the same bytes.
func FuzzReadRequest(f *testing.F) {
	for _, d := range []string{"10.1.2.3:5201", "[2001:db8::7]:22", "dest.example:443"} {
		dest, _ := handshake.ParseDestination(d)
		b, _ := (&handshake.Request{Dest: dest}).MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		req, err := handshake.ReadRequest(r)
		consumed := len(in) - r.Len()
		if consumed > handshake.MaxRequestSize {
			t.Fatalf("read %d bytes > MaxRequestSize", consumed)
		}
		if err != nil {
			return
		}
		out, err := req.MarshalBinary()
		if err != nil {
			t.Fatalf("accepted request does not marshal: %v", err)
		}
		if !bytes.Equal(out, in[:consumed]) {
			t.Fatalf("round trip differs:\n in %x\nout %x", in[:consumed], out)
		}
	})
}
