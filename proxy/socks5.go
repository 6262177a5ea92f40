package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"

	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

// SOCKS5 (RFC 1928) reply codes.
const (
	socksSucceeded          = 0
	socksGeneralFailure     = 1
	socksNotAllowed         = 2
	socksNetUnreachable     = 3
	socksHostUnreachable    = 4
	socksConnRefused        = 5
	socksTTLExpired         = 6
	socksCmdNotSupported    = 7
	socksAddrTypeNotSupport = 8
)

// socksRequest runs the local side of SOCKS5 up to the CONNECT request: it
// offers "no authentication" only, and returns the requested destination.
// On a bad request it answers the client with the matching error.
func socksRequest(c net.Conn) (handshake.Destination, error) {
	var d handshake.Destination
	var b [262]byte
	if _, err := io.ReadFull(c, b[:2]); err != nil {
		return d, fmt.Errorf("greeting: %w", err)
	}
	if b[0] != 5 {
		return d, fmt.Errorf("not SOCKS5 (version byte %d)", b[0])
	}
	n := int(b[1])
	if _, err := io.ReadFull(c, b[:n]); err != nil {
		return d, fmt.Errorf("greeting methods: %w", err)
	}
	noAuth := false
	for _, m := range b[:n] {
		noAuth = noAuth || m == 0
	}
	if !noAuth {
		c.Write([]byte{5, 0xff})
		return d, errors.New("client does not offer the no-authentication method (local SOCKS5 needs none)")
	}
	if _, err := c.Write([]byte{5, 0}); err != nil {
		return d, err
	}
	if _, err := io.ReadFull(c, b[:4]); err != nil {
		return d, fmt.Errorf("request: %w", err)
	}
	if b[0] != 5 {
		return d, fmt.Errorf("request: version byte %d", b[0])
	}
	if b[1] != 1 {
		socksReply(c, socksCmdNotSupported)
		return d, fmt.Errorf("command %d not supported (only CONNECT)", b[1])
	}
	switch b[3] {
	case handshake.TypeIPv4:
		if _, err := io.ReadFull(c, b[:4+2]); err != nil {
			return d, err
		}
		d.Addr = netip.AddrFrom4([4]byte(b[:4]))
		d.Port = binary.BigEndian.Uint16(b[4:])
	case handshake.TypeIPv6:
		if _, err := io.ReadFull(c, b[:16+2]); err != nil {
			return d, err
		}
		d.Addr = netip.AddrFrom16([16]byte(b[:16])).Unmap()
		d.Port = binary.BigEndian.Uint16(b[16:])
	case handshake.TypeName:
		if _, err := io.ReadFull(c, b[:1]); err != nil {
			return d, err
		}
		l := int(b[0])
		if _, err := io.ReadFull(c, b[:l+2]); err != nil {
			return d, err
		}
		d.Host = string(b[:l])
		d.Port = binary.BigEndian.Uint16(b[l:])
		if a, err := netip.ParseAddr(d.Host); err == nil {
			d.Host, d.Addr = "", a.Unmap()
		}
	default:
		socksReply(c, socksAddrTypeNotSupport)
		return d, fmt.Errorf("address type %d not supported", b[3])
	}
	if d.Port == 0 {
		socksReply(c, socksGeneralFailure)
		return d, errors.New("port 0")
	}
	if _, err := handshake.ParseDestination(d.String()); err != nil {
		socksReply(c, socksGeneralFailure)
		return d, err
	}
	return d, nil
}

// socksReply sends a SOCKS5 reply with bound address 0.0.0.0:0.
func socksReply(c net.Conn, code byte) error {
	_, err := c.Write([]byte{5, code, 0, handshake.TypeIPv4, 0, 0, 0, 0, 0, 0})
	return err
}

// socksCode maps a Connect error to a SOCKS5 reply code.
func socksCode(err error) byte {
	var he *handshake.Error
	if !errors.As(err, &he) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			return socksTTLExpired // the server did not answer in time
		}
		return socksGeneralFailure
	}
	switch he.Status {
	case handshake.StatusDenied:
		return socksNotAllowed
	case handshake.StatusUnreachable:
		return socksNetUnreachable
	case handshake.StatusNotResolved:
		return socksHostUnreachable
	case handshake.StatusRefused:
		return socksConnRefused
	case handshake.StatusTimeout:
		return socksTTLExpired
	}
	return socksGeneralFailure
}
