package pm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
)

// Generic netlink names and numbers of the mptcp_pm family
// (include/uapi/linux/mptcp_pm.h).
const (
	familyName  = "mptcp_pm"
	eventsGroup = "mptcp_pm_events"
	version     = 1

	// Address families as Linux numbers them (the same on every
	// architecture, unlike other systems' AF_INET6).
	afInet  = 2
	afInet6 = 10
)

// Commands.
const (
	cmdAddAddr        = 1
	cmdDelAddr        = 2
	cmdGetAddr        = 3
	cmdFlushAddrs     = 4
	cmdSetLimits      = 5
	cmdGetLimits      = 6
	cmdSetFlags       = 7
	cmdAnnounce       = 8
	cmdRemove         = 9
	cmdSubflowCreate  = 10
	cmdSubflowDestroy = 11
)

// Top-level attributes (MPTCP_PM_ATTR_*).
const (
	attrAddr        = 1
	attrRcvAddAddrs = 2
	attrSubflows    = 3
	attrToken       = 4
	attrLocID       = 5
	attrAddrRemote  = 6
)

// Address attributes (MPTCP_PM_ADDR_ATTR_*), nested in attrAddr and
// attrAddrRemote.
const (
	addrFamily = 1
	addrID     = 2
	addrAddr4  = 3
	addrAddr6  = 4
	addrPort   = 5 // u16, host byte order
	addrFlags  = 6
	addrIfIdx  = 7
)

// Event attributes (MPTCP_ATTR_*).
const (
	evToken       = 1
	evFamily      = 2
	evLocID       = 3
	evRemID       = 4
	evSaddr4      = 5
	evSaddr6      = 6
	evDaddr4      = 7
	evDaddr6      = 8
	evSport       = 9  // be16
	evDport       = 10 // be16
	evBackup      = 11
	evError       = 12
	evFlags       = 13
	evTimeout     = 14
	evIfIdx       = 15
	evResetReason = 16
	evResetFlags  = 17
	evServerSide  = 18
)

// addrSel says which parts of an address go into an address nest.
type addrSel struct {
	id bool // always send the ID attribute, even 0
}

// encodeAddr writes e as an address nest: FAMILY and ADDR4/ADDR6 when the
// address is valid, ID when non-zero (or sel.id), PORT, FLAGS and IF_IDX
// when non-zero.
func encodeAddr(ae *netlink.AttributeEncoder, typ uint16, e Endpoint, sel addrSel) {
	ae.Nested(typ, func(nae *netlink.AttributeEncoder) error {
		encodeAddrFields(nae, e, sel)
		return nil
	})
}

// encodeAddrFields writes the attributes of an address nest.
func encodeAddrFields(nae *netlink.AttributeEncoder, e Endpoint, sel addrSel) {
	if e.Addr.IsValid() {
		a := e.Addr.Unmap()
		if a.Is4() {
			nae.Uint16(addrFamily, afInet)
			b := a.As4()
			nae.Bytes(addrAddr4, b[:])
		} else {
			nae.Uint16(addrFamily, afInet6)
			b := a.As16()
			nae.Bytes(addrAddr6, b[:])
		}
	}
	if e.ID != 0 || sel.id {
		nae.Uint8(addrID, e.ID)
	}
	if e.Port != 0 {
		nae.Uint16(addrPort, e.Port) // host byte order, unlike the events' ports
	}
	if e.Flags != 0 {
		nae.Uint32(addrFlags, uint32(e.Flags))
	}
	if e.IfIndex != 0 {
		nae.Int32(addrIfIdx, int32(e.IfIndex))
	}
}

// encodeAddrPort writes an address nest with family, address and port.
func encodeAddrPort(ae *netlink.AttributeEncoder, typ uint16, ap netip.AddrPort, flags Flags) {
	encodeAddr(ae, typ, Endpoint{Addr: ap.Addr(), Port: ap.Port(), Flags: flags}, addrSel{})
}

// decodeEndpoint decodes an address nest's contents.
func decodeEndpoint(b []byte) (Endpoint, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Endpoint{}, err
	}
	var (
		e      Endpoint
		family uint16
		a4, a6 netip.Addr
	)
	for ad.Next() {
		switch ad.Type() {
		case addrFamily:
			family = ad.Uint16()
		case addrID:
			e.ID = ad.Uint8()
		case addrAddr4:
			ad.Do(func(b []byte) error {
				if len(b) != 4 {
					return fmt.Errorf("IPv4 address of %d bytes", len(b))
				}
				a4 = netip.AddrFrom4([4]byte(b))
				return nil
			})
		case addrAddr6:
			ad.Do(func(b []byte) error {
				if len(b) != 16 {
					return fmt.Errorf("IPv6 address of %d bytes", len(b))
				}
				a6 = netip.AddrFrom16([16]byte(b))
				return nil
			})
		case addrPort:
			e.Port = ad.Uint16()
		case addrFlags:
			e.Flags = Flags(ad.Uint32())
		case addrIfIdx:
			e.IfIndex = int(ad.Int32())
		}
	}
	if err := ad.Err(); err != nil {
		return Endpoint{}, err
	}
	e.Addr = pickAddr(family, a4, a6)
	return e, nil
}

// pickAddr chooses the address the family names, or, without a family,
// whichever is present (IPv4 first).
func pickAddr(family uint16, a4, a6 netip.Addr) netip.Addr {
	switch family {
	case afInet:
		return a4
	case afInet6:
		return a6.Unmap()
	}
	if a4.IsValid() {
		return a4
	}
	return a6.Unmap()
}

// decodeEndpointMsg decodes a GET_ADDR reply: one ADDR nest.
func decodeEndpointMsg(b []byte) (Endpoint, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Endpoint{}, err
	}
	var (
		e     Endpoint
		found bool
	)
	for ad.Next() {
		if ad.Type() == attrAddr {
			found = true
			ad.Do(func(b []byte) error {
				var err error
				e, err = decodeEndpoint(b)
				return err
			})
		}
	}
	if err := ad.Err(); err != nil {
		return Endpoint{}, fmt.Errorf("pm: decode endpoint: %w", err)
	}
	if !found {
		return Endpoint{}, errors.New("pm: decode endpoint: reply has no address attribute")
	}
	return e, nil
}

// encodeEndpointMsg is the inverse of decodeEndpointMsg.
func encodeEndpointMsg(e Endpoint) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	encodeAddr(ae, attrAddr, e, addrSel{})
	return ae.Encode()
}

// decodeLimits decodes a GET_LIMITS reply.
func decodeLimits(b []byte) (Limits, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Limits{}, err
	}
	var l Limits
	for ad.Next() {
		switch ad.Type() {
		case attrRcvAddAddrs:
			l.AddAddrAccepted = ad.Uint32()
		case attrSubflows:
			l.Subflows = ad.Uint32()
		}
	}
	return l, ad.Err()
}

// decodeEvent decodes the attributes of an event of type t.
func decodeEvent(t EventType, b []byte) (Event, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Event{}, err
	}
	ev := Event{Type: t}
	var (
		family         uint16
		s4, s6, d4, d6 netip.Addr
		sport, dport   uint16
		serverSide     bool
	)
	be16 := func(p *uint16) func([]byte) error {
		return func(b []byte) error {
			if len(b) != 2 {
				return fmt.Errorf("port of %d bytes", len(b))
			}
			*p = binary.BigEndian.Uint16(b)
			return nil
		}
	}
	addr := func(p *netip.Addr, n int) func([]byte) error {
		return func(b []byte) error {
			if len(b) != n {
				return fmt.Errorf("address of %d bytes, want %d", len(b), n)
			}
			*p, _ = netip.AddrFromSlice(b)
			return nil
		}
	}
	for ad.Next() {
		switch ad.Type() {
		case evToken:
			ev.Token = ad.Uint32()
		case evFamily:
			family = ad.Uint16()
		case evLocID:
			ev.LocalID = ad.Uint8()
		case evRemID:
			ev.RemoteID = ad.Uint8()
		case evSaddr4:
			ad.Do(addr(&s4, 4))
		case evSaddr6:
			ad.Do(addr(&s6, 16))
		case evDaddr4:
			ad.Do(addr(&d4, 4))
		case evDaddr6:
			ad.Do(addr(&d6, 16))
		case evSport:
			ad.Do(be16(&sport))
		case evDport:
			ad.Do(be16(&dport))
		case evBackup:
			ev.Backup = ad.Uint8() != 0
		case evError:
			ev.Error = ad.Uint8()
		case evFlags:
			ev.Flags = ad.Uint16()
		case evTimeout:
			ev.Timeout = ad.Uint32()
		case evIfIdx:
			ev.IfIndex = int(ad.Int32())
		case evResetReason:
			ev.ResetReason = ad.Uint32()
		case evResetFlags:
			ev.ResetFlags = ad.Uint32()
		case evServerSide:
			serverSide = ad.Uint8() != 0
		}
	}
	if err := ad.Err(); err != nil {
		return Event{}, fmt.Errorf("pm: decode %s event: %w", t, err)
	}
	ev.ServerSide = serverSide || ev.Flags&EventFlagServerSide != 0
	if s := pickAddr(family, s4, s6); s.IsValid() || sport != 0 {
		ev.Local = netip.AddrPortFrom(s, sport)
	}
	if d := pickAddr(family, d4, d6); d.IsValid() || dport != 0 {
		ev.Remote = netip.AddrPortFrom(d, dport)
	}
	return ev, nil
}

// encodeEvent is the inverse of decodeEvent (for tests and fakes).
func encodeEvent(ev Event) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	if ev.Token != 0 {
		ae.Uint32(evToken, ev.Token)
	}
	// One FAMILY covers both addresses; with mixed families (never sent by
	// the kernel) leave it out so that each address decodes by its own type.
	var family uint16
	for _, a := range []netip.Addr{ev.Local.Addr(), ev.Remote.Addr()} {
		if !a.IsValid() {
			continue
		}
		f := uint16(afInet6)
		if a.Is4() {
			f = afInet
		}
		switch family {
		case 0:
			family = f
		case f:
		default:
			family = 0xffff
		}
	}
	if family != 0 && family != 0xffff {
		ae.Uint16(evFamily, family)
	}
	if ev.LocalID != 0 {
		ae.Uint8(evLocID, ev.LocalID)
	}
	if ev.RemoteID != 0 {
		ae.Uint8(evRemID, ev.RemoteID)
	}
	putAddr := func(a netip.Addr, t4, t6 uint16) {
		switch {
		case !a.IsValid():
		case a.Is4():
			b := a.As4()
			ae.Bytes(t4, b[:])
		default:
			b := a.As16()
			ae.Bytes(t6, b[:])
		}
	}
	putPort := func(p uint16, t uint16) {
		if p != 0 {
			ae.Bytes(t, binary.BigEndian.AppendUint16(nil, p))
		}
	}
	putAddr(ev.Local.Addr(), evSaddr4, evSaddr6)
	putAddr(ev.Remote.Addr(), evDaddr4, evDaddr6)
	putPort(ev.Local.Port(), evSport)
	putPort(ev.Remote.Port(), evDport)
	if ev.Backup {
		ae.Uint8(evBackup, 1)
	}
	if ev.Error != 0 {
		ae.Uint8(evError, ev.Error)
	}
	if ev.Flags != 0 {
		ae.Uint16(evFlags, ev.Flags)
	}
	if ev.Timeout != 0 {
		ae.Uint32(evTimeout, ev.Timeout)
	}
	if ev.IfIndex != 0 {
		ae.Int32(evIfIdx, int32(ev.IfIndex))
	}
	if ev.ResetReason != 0 {
		ae.Uint32(evResetReason, ev.ResetReason)
	}
	if ev.ResetFlags != 0 {
		ae.Uint32(evResetFlags, ev.ResetFlags)
	}
	if ev.ServerSide {
		ae.Uint8(evServerSide, 1)
	}
	return ae.Encode()
}
