//go:build linux

package pm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// eventsReadBuffer is the receive buffer asked for the events socket, so
// that bursts of events (many connections opening at once) are not dropped.
const eventsReadBuffer = 4 << 20

// client is the Linux implementation of osClient.
type client struct {
	c      *genetlink.Conn
	family genetlink.Family
	group  uint32 // id of mptcp_pm_events, 0 if the kernel has none

	// dialEvents opens the socket Events reads from.
	dialEvents func() (*genetlink.Conn, error)
	// nsfd is our duplicate of Config.NetNS (0 if none).
	nsfd int
	// eventsBuffer is the receive buffer asked for it; 0 means
	// eventsReadBuffer (tests make it small to provoke overflows).
	eventsBuffer int
}

var _ osClient = (*client)(nil)

func newClient(cfg *Config) (osClient, error) {
	// NetNS makes the socket inside the namespace from a helper thread:
	// the calling thread stays where it is.
	nlcfg := &netlink.Config{NetNS: cfg.NetNS}
	c, err := genetlink.Dial(nlcfg)
	if err != nil {
		return nil, fmt.Errorf("pm: open generic netlink socket: %w", err)
	}
	cl, err := initClient(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	if cfg.NetNS != 0 {
		// Keep our own reference to the namespace for the events socket,
		// so the caller may close its descriptor after Dial.
		fd, err := unix.FcntlInt(uintptr(cfg.NetNS), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("pm: duplicate network namespace descriptor %d: %w", cfg.NetNS, err)
		}
		cl.nsfd = fd
		nlcfg = &netlink.Config{NetNS: fd}
	}
	cl.dialEvents = func() (*genetlink.Conn, error) { return genetlink.Dial(nlcfg) }
	return cl, nil
}

// initClient looks up the mptcp_pm family and its events group on c, once.
func initClient(c *genetlink.Conn) (*client, error) {
	// Extended acks carry the kernel's error text; old kernels lack them.
	_ = c.SetOption(netlink.ExtendedAcknowledge, true)
	f, err := c.GetFamily(familyName)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("pm: the kernel has no %q generic netlink family: %w", familyName,
				&UnsupportedFeatureError{Name: "MPTCP path manager", MinimumVersion: "5.7", Config: "CONFIG_MPTCP"})
		}
		return nil, fmt.Errorf("pm: look up generic netlink family %q: %w", familyName, err)
	}
	cl := &client{c: c, family: f}
	for _, g := range f.Groups {
		if g.Name == eventsGroup {
			cl.group = g.ID
		}
	}
	return cl, nil
}

func (c *client) Close() error {
	if c.nsfd != 0 {
		unix.Close(c.nsfd)
		c.nsfd = 0
	}
	return c.c.Close()
}

// execute sends one command of the family, with the attributes written by
// attrs, and returns the replies. Errors are *Error with the kernel's text.
func (c *client) execute(op string, cmd uint8, flags netlink.HeaderFlags, attrs func(*netlink.AttributeEncoder)) ([]genetlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	if attrs != nil {
		attrs(ae)
	}
	b, err := ae.Encode()
	if err != nil {
		return nil, fmt.Errorf("pm: %s: encode request: %w", op, err)
	}
	msg := genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: version},
		Data:   b,
	}
	msgs, err := c.c.Execute(msg, c.family.ID, flags)
	if err != nil {
		return nil, toError(op, err)
	}
	return msgs, nil
}

// do runs a command that changes state and answers with an ack only.
func (c *client) do(op string, cmd uint8, attrs func(*netlink.AttributeEncoder)) error {
	_, err := c.execute(op, cmd, netlink.Request|netlink.Acknowledge, attrs)
	return err
}

// toError turns a netlink error into an *Error keeping the kernel's text.
func toError(op string, err error) error {
	var oe *netlink.OpError
	if errors.As(err, &oe) {
		inner := oe.Err
		var se *os.SyscallError
		if errors.As(inner, &se) {
			inner = se.Err
		}
		return &Error{Op: op, Message: oe.Message, Err: inner}
	}
	return &Error{Op: op, Err: err}
}

func (c *client) Limits() (Limits, error) {
	msgs, err := c.execute("get limits", cmdGetLimits, netlink.Request, nil)
	if err != nil {
		return Limits{}, err
	}
	if len(msgs) != 1 {
		return Limits{}, fmt.Errorf("pm: get limits: %d replies, want 1", len(msgs))
	}
	l, err := decodeLimits(msgs[0].Data)
	if err != nil {
		return Limits{}, fmt.Errorf("pm: get limits: decode reply: %w", err)
	}
	return l, nil
}

func (c *client) SetLimits(u LimitsUpdate) error {
	if u.AddAddrAccepted == nil && u.Subflows == nil {
		return nil
	}
	return c.do("set limits", cmdSetLimits, func(ae *netlink.AttributeEncoder) {
		if u.AddAddrAccepted != nil {
			ae.Uint32(attrRcvAddAddrs, *u.AddAddrAccepted)
		}
		if u.Subflows != nil {
			ae.Uint32(attrSubflows, *u.Subflows)
		}
	})
}

func (c *client) AddEndpoint(e Endpoint) error {
	return c.do("add endpoint", cmdAddAddr, func(ae *netlink.AttributeEncoder) {
		encodeAddr(ae, attrAddr, e, addrSel{})
	})
}

func (c *client) DeleteEndpoint(id uint8, addr netip.Addr) error {
	return c.do("delete endpoint", cmdDelAddr, func(ae *netlink.AttributeEncoder) {
		encodeAddr(ae, attrAddr, Endpoint{ID: id, Addr: addr}, addrSel{id: true})
	})
}

func (c *client) Endpoint(id uint8) (Endpoint, error) {
	msgs, err := c.execute("get endpoint", cmdGetAddr, netlink.Request, func(ae *netlink.AttributeEncoder) {
		encodeAddr(ae, attrAddr, Endpoint{ID: id}, addrSel{id: true})
	})
	if err != nil {
		return Endpoint{}, err
	}
	if len(msgs) != 1 {
		return Endpoint{}, fmt.Errorf("pm: get endpoint %d: %d replies, want 1", id, len(msgs))
	}
	return decodeEndpointMsg(msgs[0].Data)
}

func (c *client) Endpoints() ([]Endpoint, error) {
	msgs, err := c.execute("list endpoints", cmdGetAddr, netlink.Request|netlink.Dump, nil)
	if err != nil {
		return nil, err
	}
	return decodeEndpoints(msgs)
}

func (c *client) LocalAddrs(token uint32) ([]Endpoint, error) {
	msgs, err := c.execute("list connection addresses", cmdGetAddr, netlink.Request|netlink.Dump, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(attrToken, token)
	})
	if err != nil {
		return nil, err
	}
	return decodeEndpoints(msgs)
}

func decodeEndpoints(msgs []genetlink.Message) ([]Endpoint, error) {
	eps := make([]Endpoint, 0, len(msgs))
	for _, m := range msgs {
		e, err := decodeEndpointMsg(m.Data)
		if err != nil {
			return nil, err
		}
		eps = append(eps, e)
	}
	return eps, nil
}

func (c *client) FlushEndpoints() error {
	return c.do("flush endpoints", cmdFlushAddrs, nil)
}

func (c *client) SetEndpointFlags(sel Endpoint, flags Flags) error {
	err := c.setEndpointFlags(sel, flags)
	var pe *Error
	if errors.As(err, &pe) && errors.Is(pe.Err, unix.EINVAL) && pe.Message == "" && !c.endpointExists(sel) {
		// Kernels without extack texts here (Debian's 6.1) answer a
		// missing endpoint with a bare EINVAL, as they answer flags the
		// endpoint cannot take: look it up to tell the two apart.
		pe.Message = "address not found (no such endpoint)"
	}
	return err
}

// endpointExists reports whether the endpoint sel selects (by id, or by
// address and port) is in the table; true when the table cannot be read.
func (c *client) endpointExists(sel Endpoint) bool {
	eps, err := c.Endpoints()
	if err != nil {
		return true
	}
	for _, e := range eps {
		if sel.Addr.IsValid() {
			if e.Addr == sel.Addr && e.Port == sel.Port {
				return true
			}
		} else if e.ID == sel.ID {
			return true
		}
	}
	return false
}

func (c *client) setEndpointFlags(sel Endpoint, flags Flags) error {
	return c.do("change endpoint", cmdSetFlags, func(ae *netlink.AttributeEncoder) {
		// FLAGS is sent even when 0: that clears backup and fullmesh.
		// PORT goes with the address: the kernel compares it when it
		// looks the endpoint up by address.
		ae.Nested(attrAddr, func(nae *netlink.AttributeEncoder) error {
			encodeAddrFields(nae, Endpoint{ID: sel.ID, Addr: sel.Addr, Port: sel.Port}, addrSel{id: true})
			nae.Uint32(addrFlags, uint32(flags))
			return nil
		})
	})
}

func (c *client) Announce(token uint32, local Endpoint) error {
	return c.do("announce", cmdAnnounce, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(attrToken, token)
		encodeAddr(ae, attrAddr, local, addrSel{})
	})
}

func (c *client) Remove(token uint32, localID uint8) error {
	return c.do("remove", cmdRemove, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(attrToken, token)
		ae.Uint8(attrLocID, localID)
	})
}

func (c *client) CreateSubflow(token uint32, local Endpoint, remote netip.AddrPort) error {
	return c.do("create subflow", cmdSubflowCreate, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(attrToken, token)
		encodeAddr(ae, attrAddr, local, addrSel{})
		encodeAddrPort(ae, attrAddrRemote, remote, 0)
	})
}

func (c *client) DestroySubflow(token uint32, local, remote netip.AddrPort) error {
	return c.do("destroy subflow", cmdSubflowDestroy, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(attrToken, token)
		encodeAddrPort(ae, attrAddr, local, 0)
		encodeAddrPort(ae, attrAddrRemote, remote, 0)
	})
}

func (c *client) SetSubflowBackup(token uint32, local, remote netip.AddrPort, backup bool) error {
	var f Flags
	if backup {
		f = FlagBackup
	}
	return c.do("set subflow backup", cmdSetFlags, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(attrToken, token)
		encodeAddrPort(ae, attrAddr, local, f)
		encodeAddrPort(ae, attrAddrRemote, remote, 0)
	})
}

func (c *client) Events(ctx context.Context, fn func(Event) error) error {
	if c.group == 0 {
		return fmt.Errorf("pm: events: the kernel's %s family has no %q group: %w", familyName, eventsGroup,
			&UnsupportedFeatureError{Name: "MPTCP path manager events", MinimumVersion: "5.12"})
	}
	if c.dialEvents == nil {
		return errors.New("pm: events: client cannot open an events socket")
	}
	conn, err := c.dialEvents()
	if err != nil {
		return fmt.Errorf("pm: events: open generic netlink socket: %w", err)
	}
	defer conn.Close()
	// Best effort, before joining: a larger buffer makes drops (ENOBUFS)
	// rarer. The forced variant lifts the net.core.rmem_max cap when we
	// have CAP_NET_ADMIN.
	size := c.eventsBuffer
	if size == 0 {
		size = eventsReadBuffer
	}
	if rc, err := conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, size)
			}
		})
	}

	if err := conn.JoinGroup(c.group); err != nil {
		return toError("join "+eventsGroup, err)
	}

	// Unblock Receive when ctx is done.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	return readEvents(ctx, conn, c.family.ID, fn)
}

// readEvents reads events from conn until ctx is done or fn fails.
func readEvents(ctx context.Context, conn *genetlink.Conn, family uint16, fn func(Event) error) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		msgs, nmsgs, err := conn.Receive()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, unix.ENOBUFS) {
				return fmt.Errorf("pm: events: %w", ErrEventsLost)
			}
			return toError("receive events", err)
		}
		for i, m := range msgs {
			if nmsgs[i].Header.Type != netlink.HeaderType(family) {
				continue
			}
			ev, err := decodeEvent(EventType(m.Header.Command), m.Data)
			if err != nil {
				return err
			}
			if err := fn(ev); err != nil {
				return err
			}
		}
	}
}
