package handshake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Version is the protocol version this package speaks.
const Version = 1

// Magic starts every Hello and Request.
var magic = [4]byte{'M', 'K', 'P', 'X'}

// Sizes of the fixed parts of the messages.
const (
	NonceSize      = 32
	MACSize        = 32
	MaxHostLen     = 255
	HelloSize      = 4 + 1 + 1 + NonceSize
	ReplySize      = 1 + MACSize
	MaxRequestSize = 4 + 1 + NonceSize + 1 + 1 + MaxHostLen + 2 + MACSize
	minRequestSize = 4 + 1 + NonceSize + 1 + 4 + 2 + MACSize
)

// Address types, the same numbers SOCKS5 uses.
const (
	TypeIPv4 = 1
	TypeName = 3
	TypeIPv6 = 4
)

// Status is the server's answer in a Hello or Reply.
type Status uint8

// Status codes.
const (
	StatusOK           Status = 0 // go ahead / connected
	StatusAuthFailed   Status = 1 // the client did not prove it knows the key
	StatusDenied       Status = 2 // the server's policy does not allow this destination
	StatusUnreachable  Status = 3 // network or host unreachable
	StatusRefused      Status = 4 // the destination refused the connection
	StatusTimeout      Status = 5 // the destination did not answer in time
	StatusBusy         Status = 6 // the server is at its connection limit
	StatusBadRequest   Status = 7 // the Request was malformed
	StatusNotResolved  Status = 8 // the destination name did not resolve
	StatusShuttingDown Status = 9 // the server is draining
)

var statusNames = [...]string{
	StatusOK:           "ok",
	StatusAuthFailed:   "authentication failed",
	StatusDenied:       "destination denied by the server's policy",
	StatusUnreachable:  "destination unreachable",
	StatusRefused:      "destination refused the connection",
	StatusTimeout:      "destination timed out",
	StatusBusy:         "server busy (connection limit reached)",
	StatusBadRequest:   "malformed request",
	StatusNotResolved:  "destination name not resolved",
	StatusShuttingDown: "server shutting down",
}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status %d", uint8(s))
}

// Error is a refusal by the server, as the client sees it.
type Error struct{ Status Status }

func (e *Error) Error() string { return "proxy server refused: " + e.Status.String() }

// Errors returned by the readers.
var (
	ErrMagic   = errors.New("handshake: not an mptcpkit proxy peer (bad magic)")
	ErrVersion = errors.New("handshake: unsupported protocol version")
	ErrFormat  = errors.New("handshake: malformed message")
)

// Destination is where the client wants the server to connect: an IP
// address or a host name, and a port.
type Destination struct {
	Addr netip.Addr // valid for an address
	Host string     // set for a name (then Addr is invalid)
	Port uint16
}

// ParseDestination parses "host:port", "1.2.3.4:80" or "[2001:db8::1]:443".
func ParseDestination(s string) (Destination, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Destination{}, fmt.Errorf("destination %q: %v (want HOST:PORT)", s, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return Destination{}, fmt.Errorf("destination %q: port must be 1-65535", s)
	}
	var d Destination
	d.Port = uint16(p)
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return Destination{}, fmt.Errorf("destination %q: zoned addresses are not supported", s)
		}
		d.Addr = a.Unmap()
		return d, nil
	}
	if err := checkHost(host); err != nil {
		return Destination{}, fmt.Errorf("destination %q: %v", s, err)
	}
	d.Host = host
	return d, nil
}

func checkHost(h string) error {
	if len(h) == 0 || len(h) > MaxHostLen {
		return fmt.Errorf("host name must be 1-%d bytes", MaxHostLen)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("host name has invalid byte %q", c)
		}
	}
	return nil
}

// String returns host:port.
func (d Destination) String() string {
	if d.Host != "" {
		return net.JoinHostPort(d.Host, strconv.Itoa(int(d.Port)))
	}
	return netip.AddrPortFrom(d.Addr, d.Port).String()
}

// appendTo appends the wire form of d.
func (d Destination) appendTo(b []byte) ([]byte, error) {
	switch {
	case d.Host != "":
		if err := checkHost(d.Host); err != nil {
			return nil, err
		}
		b = append(b, TypeName, byte(len(d.Host)))
		b = append(b, d.Host...)
	case d.Addr.Is4() || d.Addr.Is4In6():
		a := d.Addr.Unmap().As4()
		b = append(b, TypeIPv4)
		b = append(b, a[:]...)
	case d.Addr.Is6():
		a := d.Addr.As16()
		b = append(b, TypeIPv6)
		b = append(b, a[:]...)
	default:
		return nil, errors.New("destination has neither an address nor a host name")
	}
	return binary.BigEndian.AppendUint16(b, d.Port), nil
}

// Hello is the server's first message.
type Hello struct {
	Status Status
	Nonce  [NonceSize]byte
}

// MarshalBinary returns the wire form of h.
func (h *Hello) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, HelloSize)
	b = append(b, magic[:]...)
	b = append(b, Version, byte(h.Status))
	return append(b, h.Nonce[:]...), nil
}

// UnmarshalBinary decodes a Hello of exactly HelloSize bytes.
func (h *Hello) UnmarshalBinary(b []byte) error {
	if len(b) != HelloSize {
		return ErrFormat
	}
	if [4]byte(b[:4]) != magic {
		return ErrMagic
	}
	if b[4] != Version {
		return fmt.Errorf("%w %d (this build speaks %d)", ErrVersion, b[4], Version)
	}
	h.Status = Status(b[5])
	copy(h.Nonce[:], b[6:])
	return nil
}

// ReadHello reads a Hello from r.
func ReadHello(r io.Reader) (Hello, error) {
	var b [HelloSize]byte
	var h Hello
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return h, err
	}
	return h, h.UnmarshalBinary(b[:])
}

// Request is the client's message: where to connect, and its proof.
type Request struct {
	Nonce [NonceSize]byte
	Dest  Destination
	MAC   [MACSize]byte
}

// MarshalBinary returns the wire form of r.
func (r *Request) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, MaxRequestSize)
	b = append(b, magic[:]...)
	b = append(b, Version)
	b = append(b, r.Nonce[:]...)
	b, err := r.Dest.appendTo(b)
	if err != nil {
		return nil, err
	}
	return append(b, r.MAC[:]...), nil
}

// UnmarshalBinary decodes a whole Request; trailing bytes are an error.
func (r *Request) UnmarshalBinary(b []byte) error {
	n, err := r.decode(b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return ErrFormat
	}
	return nil
}

// need reports how many bytes a Request starting with b has in all, as far
// as b tells (0 if b is too short to tell), or an error.
func need(b []byte) (int, error) {
	const fixed = 4 + 1 + NonceSize + 1
	if len(b) >= 4 && [4]byte(b[:4]) != magic {
		return 0, ErrMagic
	}
	if len(b) >= 5 && b[4] != Version {
		return 0, fmt.Errorf("%w %d (this build speaks %d)", ErrVersion, b[4], Version)
	}
	if len(b) < fixed {
		return 0, nil
	}
	switch b[fixed-1] {
	case TypeIPv4:
		return fixed + 4 + 2 + MACSize, nil
	case TypeIPv6:
		return fixed + 16 + 2 + MACSize, nil
	case TypeName:
		if len(b) < fixed+1 {
			return 0, nil
		}
		if b[fixed] == 0 {
			return 0, fmt.Errorf("%w: empty host name", ErrFormat)
		}
		return fixed + 1 + int(b[fixed]) + 2 + MACSize, nil
	default:
		return 0, fmt.Errorf("%w: unknown address type %d", ErrFormat, b[fixed-1])
	}
}

func (r *Request) decode(b []byte) (int, error) {
	n, err := need(b)
	if err != nil {
		return 0, err
	}
	if n == 0 || len(b) < n {
		return 0, fmt.Errorf("%w: truncated request", ErrFormat)
	}
	p := 5
	copy(r.Nonce[:], b[p:p+NonceSize])
	p += NonceSize
	typ := b[p]
	p++
	r.Dest = Destination{}
	switch typ {
	case TypeIPv4:
		r.Dest.Addr = netip.AddrFrom4([4]byte(b[p : p+4]))
		p += 4
	case TypeIPv6:
		r.Dest.Addr = netip.AddrFrom16([16]byte(b[p : p+16])).Unmap()
		p += 16
	case TypeName:
		l := int(b[p])
		p++
		host := string(b[p : p+l])
		if err := checkHost(host); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		r.Dest.Host = host
		p += l
	}
	r.Dest.Port = binary.BigEndian.Uint16(b[p:])
	p += 2
	if r.Dest.Port == 0 {
		return 0, fmt.Errorf("%w: port 0", ErrFormat)
	}
	copy(r.MAC[:], b[p:p+MACSize])
	return p + MACSize, nil
}

// ReadRequest reads one Request from rd, never more than MaxRequestSize
// bytes and never past the Request's end.
func ReadRequest(rd io.Reader) (Request, error) {
	var buf [MaxRequestSize]byte
	var r Request
	have := 0
	want := 4 + 1 + NonceSize + 1 + 1 // enough to know the full size
	for {
		if _, err := io.ReadFull(rd, buf[have:want]); err != nil {
			if err == io.ErrUnexpectedEOF || err == io.EOF && have > 0 {
				err = fmt.Errorf("%w: truncated request (%d bytes)", ErrFormat, have)
			}
			return r, err
		}
		have = want
		n, err := need(buf[:have])
		if err != nil {
			return r, err
		}
		if n <= have {
			break
		}
		want = n
	}
	// The 39 bytes read to size the Request are fewer than the smallest
	// Request (76, IPv4), so nothing past its end was read.
	_, err := r.decode(buf[:have])
	return r, err
}

// Reply is the server's answer to a Request.
type Reply struct {
	Status Status
	MAC    [MACSize]byte
}

// MarshalBinary returns the wire form of r.
func (r *Reply) MarshalBinary() ([]byte, error) {
	return append([]byte{byte(r.Status)}, r.MAC[:]...), nil
}

// UnmarshalBinary decodes a Reply of exactly ReplySize bytes.
func (r *Reply) UnmarshalBinary(b []byte) error {
	if len(b) != ReplySize {
		return ErrFormat
	}
	r.Status = Status(b[0])
	copy(r.MAC[:], b[1:])
	return nil
}

// ReadReply reads a Reply from rd.
func ReadReply(rd io.Reader) (Reply, error) {
	var b [ReplySize]byte
	var r Reply
	if _, err := io.ReadFull(rd, b[:]); err != nil {
		return r, err
	}
	return r, r.UnmarshalBinary(b[:])
}

const (
	clientLabel = "mptcpkit-proxy v1"
	serverLabel = "mptcpkit-proxy v1 server"
)

// ClientMAC is the proof a client sends for dest.
func ClientMAC(key []byte, serverNonce, clientNonce [NonceSize]byte, dest Destination) ([MACSize]byte, error) {
	return mac(key, clientLabel, serverNonce, clientNonce, dest, nil)
}

// ServerMAC is the proof a server sends with status.
func ServerMAC(key []byte, serverNonce, clientNonce [NonceSize]byte, dest Destination, status Status) ([MACSize]byte, error) {
	return mac(key, serverLabel, serverNonce, clientNonce, dest, []byte{byte(status)})
}

func mac(key []byte, label string, sn, cn [NonceSize]byte, dest Destination, extra []byte) ([MACSize]byte, error) {
	var out [MACSize]byte
	d, err := dest.appendTo(nil)
	if err != nil {
		return out, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write(sn[:])
	m.Write(cn[:])
	m.Write(d)
	m.Write(extra)
	copy(out[:], m.Sum(nil))
	return out, nil
}

// Equal compares two MACs in constant time.
func Equal(a, b [MACSize]byte) bool { return hmac.Equal(a[:], b[:]) }

// ParseKey checks the contents of a key file: the key is the file's text
// with surrounding white space removed, at least 16 bytes long.
func ParseKey(b []byte) ([]byte, error) {
	k := strings.TrimSpace(string(b))
	if len(k) < 16 {
		return nil, fmt.Errorf("key is %d bytes; use at least 16 (e.g. `head -c 32 /dev/urandom | base64 > FILE`)", len(k))
	}
	return []byte(k), nil
}
