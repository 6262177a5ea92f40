package convert

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// Protocol constants (RFC 8803 §4; IANA "TCP Convert Protocol Parameters").
const (
	Version    = 1
	Magic      = 0x2263
	HeaderSize = 4
	MaxSize    = 255 * 4
)

// TLV types.
const (
	TypeInfo               = 1
	TypeConnect            = 10
	TypeExtendedTCPHeader  = 20
	TypeSupportedExtension = 21
	TypeCookie             = 22
	TypeError              = 30
)

// ErrorCode is the code of an Error TLV.
type ErrorCode uint8

// Error codes (IANA registry).
const (
	ErrUnsupportedVersion     ErrorCode = 0
	ErrMalformedMessage       ErrorCode = 1
	ErrUnsupportedMessage     ErrorCode = 2
	ErrMissingCookie          ErrorCode = 3
	ErrNotAuthorized          ErrorCode = 32
	ErrUnsupportedTCPOption   ErrorCode = 33
	ErrResourceExceeded       ErrorCode = 64
	ErrNetworkFailure         ErrorCode = 65
	ErrConnectionReset        ErrorCode = 96
	ErrDestinationUnreachable ErrorCode = 97
)

var codeNames = map[ErrorCode]string{
	ErrUnsupportedVersion: "unsupported version", ErrMalformedMessage: "malformed message",
	ErrUnsupportedMessage: "unsupported message", ErrMissingCookie: "missing cookie",
	ErrNotAuthorized: "not authorized", ErrUnsupportedTCPOption: "unsupported TCP option",
	ErrResourceExceeded: "resource exceeded", ErrNetworkFailure: "network failure",
	ErrConnectionReset: "connection reset", ErrDestinationUnreachable: "destination unreachable",
}

func (c ErrorCode) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("error %d", uint8(c))
}

// Error is a request the converter must refuse, with the code to answer.
type Error struct {
	Code ErrorCode
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("convert: %s: %s", e.Code, e.Msg) }

func errorf(c ErrorCode, format string, args ...any) error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

// Request is what a client asked for.
type Request struct {
	Info    bool           // an Info TLV: the client asks what the converter supports
	Connect netip.AddrPort // the Connect TLV's destination (invalid if none)
}

// ReadRequest reads one Convert message from r: exactly the bytes the header
// declares, never more than MaxSize.
func ReadRequest(r io.Reader) (Request, error) {
	var req Request
	var hdr [HeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return req, errorf(ErrMalformedMessage, "truncated header")
		}
		return req, err
	}
	if binary.BigEndian.Uint16(hdr[2:]) != Magic {
		return req, errorf(ErrMalformedMessage, "bad magic %#04x", binary.BigEndian.Uint16(hdr[2:]))
	}
	if hdr[0] != Version {
		return req, errorf(ErrUnsupportedVersion, "version %d", hdr[0])
	}
	total := int(hdr[1]) * 4
	if total < HeaderSize {
		return req, errorf(ErrMalformedMessage, "total length %d words", hdr[1])
	}
	body := make([]byte, total-HeaderSize)
	if _, err := io.ReadFull(r, body); err != nil {
		return req, errorf(ErrMalformedMessage, "truncated message: %v", err)
	}
	return req, req.parseTLVs(body)
}

func (req *Request) parseTLVs(b []byte) error {
	for len(b) > 0 {
		if len(b) < 2 {
			return errorf(ErrMalformedMessage, "truncated TLV")
		}
		typ, l := b[0], int(b[1])*4
		if l < 4 || l > len(b) {
			return errorf(ErrMalformedMessage, "TLV %d: length %d words", typ, b[1])
		}
		v := b[2:l]
		switch typ {
		case TypeInfo:
			req.Info = true
		case TypeConnect:
			if l < 20 {
				return errorf(ErrMalformedMessage, "Connect TLV of %d bytes", l)
			}
			if req.Connect.IsValid() {
				return errorf(ErrMalformedMessage, "two Connect TLVs")
			}
			if l > 20 {
				return errorf(ErrUnsupportedTCPOption, "Connect TLV carries TCP options")
			}
			port := binary.BigEndian.Uint16(v[0:2])
			addr := netip.AddrFrom16([16]byte(v[2:18])).Unmap()
			if port == 0 {
				return errorf(ErrMalformedMessage, "port 0")
			}
			req.Connect = netip.AddrPortFrom(addr, port)
		case TypeExtendedTCPHeader, TypeSupportedExtension, TypeCookie, TypeError:
			return errorf(ErrUnsupportedMessage, "TLV type %d not supported by this converter", typ)
		default:
			return errorf(ErrUnsupportedMessage, "unknown TLV type %d", typ)
		}
		b = b[l:]
	}
	return nil
}

// AppendConnect appends a Convert message with a Connect TLV for dst (what a
// client sends; used by tests and tools).
func AppendConnect(b []byte, dst netip.AddrPort) []byte {
	b = append(b, Version, 1+5)
	b = binary.BigEndian.AppendUint16(b, Magic)
	b = append(b, TypeConnect, 5)
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	a := dst.Addr().As16() // IPv4 as IPv4-mapped IPv6
	return append(b, a[:]...)
}

// AppendOK appends the converter's answer to a successful Connect: the bare
// header (and an empty Supported TCP Extensions TLV when the client asked
// with an Info TLV).
func AppendOK(b []byte, info bool) []byte {
	words := byte(1)
	if info {
		words = 2
	}
	b = append(b, Version, words)
	b = binary.BigEndian.AppendUint16(b, Magic)
	if info {
		b = append(b, TypeSupportedExtension, 1, 0, 0)
	}
	return b
}

// AppendError appends a Convert message with one Error TLV.
func AppendError(b []byte, code ErrorCode) []byte {
	b = append(b, Version, 2)
	b = binary.BigEndian.AppendUint16(b, Magic)
	return append(b, TypeError, 1, byte(code), 0)
}

// ReadReply reads a converter's answer (client side): nil for success, an
// *Error for an Error TLV.
func ReadReply(r io.Reader) error {
	var hdr [HeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	if binary.BigEndian.Uint16(hdr[2:]) != Magic || hdr[0] != Version || hdr[1] < 1 {
		return errorf(ErrMalformedMessage, "bad reply header")
	}
	body := make([]byte, int(hdr[1])*4-HeaderSize)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	for len(body) >= 4 {
		l := int(body[1]) * 4
		if l < 4 || l > len(body) {
			return errorf(ErrMalformedMessage, "bad reply TLV")
		}
		if body[0] == TypeError {
			return &Error{Code: ErrorCode(body[2]), Msg: "refused by the converter"}
		}
		body = body[l:]
	}
	return nil
}
