package proxy

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

// scriptConn is a net.Conn whose reads come from a fixed script and whose
// writes are recorded.
type scriptConn struct {
	net.Conn
	r *bytes.Reader
	w bytes.Buffer
}

func (c *scriptConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error) { return c.w.Write(b) }

func socksBytes(atyp byte, addr []byte, port uint16) []byte {
	b := []byte{5, 1, 0, 5, 1, 0, atyp}
	if atyp == handshake.TypeName {
		b = append(b, byte(len(addr)))
	}
	b = append(b, addr...)
	return binary.BigEndian.AppendUint16(b, port)
}

func TestSOCKSRequest(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    string // destination, or "" for an error
		replies []byte // what the client must have been sent
	}{
		{"IPv4", socksBytes(1, []byte{10, 0, 0, 1}, 80), "10.0.0.1:80", []byte{5, 0}},
		{"IPv6", socksBytes(4, net.ParseIP("2001:db8::1").To16(), 443), "[2001:db8::1]:443", []byte{5, 0}},
		{"name", socksBytes(3, []byte("example.com"), 8080), "example.com:8080", []byte{5, 0}},
		{"name that is an address", socksBytes(3, []byte("10.1.1.1"), 22), "10.1.1.1:22", []byte{5, 0}},
		{"only user/password offered", []byte{5, 1, 2}, "", []byte{5, 0xff}},
		{"SOCKS4", []byte{4, 1, 0, 80, 10, 0, 0, 1, 0}, "", nil},
		{"BIND", []byte{5, 1, 0, 5, 2, 0, 1, 10, 0, 0, 1, 0, 80}, "", []byte{5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"bad address type", []byte{5, 1, 0, 5, 1, 0, 9}, "", []byte{5, 0, 5, 8, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"port 0", socksBytes(1, []byte{10, 0, 0, 1}, 0), "", []byte{5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"bad name", socksBytes(3, []byte("a b"), 1), "", []byte{5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"truncated", socksBytes(1, []byte{10, 0, 0, 1}, 80)[:9], "", []byte{5, 0}},
	}
	for _, tt := range tests {
		c := &scriptConn{r: bytes.NewReader(tt.in)}
		d, err := socksRequest(c)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%s: accepted as %s", tt.name, d)
		case tt.want != "" && (err != nil || d.String() != tt.want):
			t.Errorf("%s: got %s, %v; want %s", tt.name, d, err, tt.want)
		}
		if tt.replies != nil && !bytes.Equal(c.w.Bytes(), tt.replies) {
			t.Errorf("%s: sent %v, want %v", tt.name, c.w.Bytes(), tt.replies)
		}
	}
}

// FuzzSOCKSRequest: no input makes the SOCKS5 parser panic, read more than
// a request can hold, or accept something that is not a valid destination.
func FuzzSOCKSRequest(f *testing.F) {
	f.Add(socksBytes(1, []byte{10, 0, 0, 1}, 80))
	f.Add(socksBytes(4, net.ParseIP("2001:db8::1").To16(), 443))
	f.Add(socksBytes(3, []byte("example.com"), 8080))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		c := &scriptConn{r: r}
		d, err := socksRequest(c)
		if read := len(in) - r.Len(); read > 2+255+4+1+255+2 {
			t.Fatalf("read %d bytes", read)
		}
		if err != nil {
			return
		}
		if _, err := handshake.ParseDestination(d.String()); err != nil {
			t.Fatalf("accepted invalid destination %s: %v", d, err)
		}
	})
}
