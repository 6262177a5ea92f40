//go:build linux

package pm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"
)

var testFamily = genetlink.Family{
	ID:      0x1d,
	Version: 1,
	Name:    "mptcp_pm",
	Groups: []genetlink.MulticastGroup{
		{ID: 7, Name: "mptcp_pm_cmds"},
		{ID: 8, Name: "mptcp_pm_events"},
	},
}

// Independent TLV builders for the expected bytes: they do not use
// netlink.AttributeEncoder, so a mistake there shows up as a diff.

func tlv(typ uint16, data []byte) []byte {
	n := 4 + len(data)
	b := make([]byte, 4, (n+3)&^3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(n))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func nest(typ uint16, attrs ...[]byte) []byte { return tlv(typ|0x8000, cat(attrs...)) }

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func u8(v uint8) []byte   { return []byte{v} }
func u16(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
func be16(v uint16) []byte {
	return binary.BigEndian.AppendUint16(nil, v)
}
func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
func ip(s string) []byte  { return netip.MustParseAddr(s).AsSlice() }

var (
	v4a   = netip.MustParseAddr("10.0.0.1")
	v4b   = netip.MustParseAddr("10.0.2.2")
	v6a   = netip.MustParseAddr("2001:db8::1")
	famV4 = tlv(addrFamily, u16(unix.AF_INET))
	famV6 = tlv(addrFamily, u16(unix.AF_INET6))
)

// request is what the fake kernel saw.
type request struct {
	Command uint8
	Version uint8
	Flags   netlink.HeaderFlags
	Data    []byte
}

// testClient returns a client on a fake connection that records each
// request and answers with reply.
func testClient(t *testing.T, reply genltest.Func) (*client, *[]request) {
	t.Helper()
	var reqs []request
	conn := genltest.Dial(genltest.ServeFamily(testFamily, func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		if got := nreq.Header.Type; got != netlink.HeaderType(testFamily.ID) {
			return nil, fmt.Errorf("request to family %d, want %d", got, testFamily.ID)
		}
		data := greq.Data
		if len(data) == 0 {
			data = nil
		}
		reqs = append(reqs, request{greq.Header.Command, greq.Header.Version, nreq.Header.Flags, data})
		var msgs []genetlink.Message
		if reply != nil {
			var err error
			if msgs, err = reply(greq, nreq); err != nil {
				return nil, err
			}
		}
		if msgs == nil && nreq.Header.Flags&netlink.Acknowledge != 0 {
			return nil, genltest.Error(0) // the kernel's ack
		}
		return msgs, nil
	}))
	c, err := initClient(conn)
	if err != nil {
		t.Fatalf("initClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, &reqs
}

func TestInitClient(t *testing.T) {
	c, _ := testClient(t, nil)
	if diff := cmp.Diff(testFamily, c.family); diff != "" {
		t.Errorf("family (-want +got):\n%s", diff)
	}
	if c.group != 8 {
		t.Errorf("events group = %d, want 8", c.group)
	}
}

func TestInitClientNoFamily(t *testing.T) {
	conn := genltest.Dial(func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOENT))
	})
	_, err := initClient(conn)
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("initClient without family: %v, want ErrNotSupported", err)
	}
}

// TestRequests checks the exact bytes of every command.
func TestRequests(t *testing.T) {
	u := func(v uint32) *uint32 { return &v }
	ack := netlink.Request | netlink.Acknowledge
	tests := []struct {
		name string
		call func(c *Client) error
		want request
	}{
		{
			name: "get limits",
			call: func(c *Client) error { _, err := c.Limits(); return err },
			want: request{cmdGetLimits, 1, netlink.Request, nil},
		},
		{
			name: "set limits both",
			call: func(c *Client) error { return c.SetLimits(LimitsUpdate{AddAddrAccepted: u(2), Subflows: u(3)}) },
			want: request{cmdSetLimits, 1, ack, cat(tlv(attrRcvAddAddrs, u32(2)), tlv(attrSubflows, u32(3)))},
		},
		{
			name: "set limits subflows only",
			call: func(c *Client) error { return c.SetLimits(LimitsUpdate{Subflows: u(0)}) },
			want: request{cmdSetLimits, 1, ack, tlv(attrSubflows, u32(0))},
		},
		{
			name: "add endpoint IPv4 id signal",
			call: func(c *Client) error { return c.AddEndpoint(Endpoint{ID: 1, Addr: v4a, Flags: FlagSignal}) },
			want: request{cmdAddAddr, 1, ack, nest(attrAddr, famV4, tlv(addrAddr4, ip("10.0.0.1")), tlv(addrID, u8(1)), tlv(addrFlags, u32(1)))},
		},
		{
			name: "add endpoint IPv6 subflow backup fullmesh dev",
			call: func(c *Client) error {
				return c.AddEndpoint(Endpoint{Addr: v6a, Flags: FlagSubflow | FlagBackup | FlagFullmesh, IfIndex: 3})
			},
			want: request{cmdAddAddr, 1, ack, nest(attrAddr, famV6, tlv(addrAddr6, ip("2001:db8::1")), tlv(addrFlags, u32(0xe)), tlv(addrIfIdx, u32(3)))},
		},
		{
			name: "add endpoint signal port laminar",
			call: func(c *Client) error {
				return c.AddEndpoint(Endpoint{Addr: v4b, Port: 8080, Flags: FlagSignal | FlagLaminar})
			},
			want: request{cmdAddAddr, 1, ack, nest(attrAddr, famV4, tlv(addrAddr4, ip("10.0.2.2")), tlv(addrPort, u16(8080)), tlv(addrFlags, u32(0x21)))},
		},
		{
			name: "delete endpoint by id",
			call: func(c *Client) error { return c.DeleteEndpoint(3, netip.Addr{}) },
			want: request{cmdDelAddr, 1, ack, nest(attrAddr, tlv(addrID, u8(3)))},
		},
		{
			name: "delete endpoint id 0 by address",
			call: func(c *Client) error { return c.DeleteEndpoint(0, v4b) },
			want: request{cmdDelAddr, 1, ack, nest(attrAddr, famV4, tlv(addrAddr4, ip("10.0.2.2")), tlv(addrID, u8(0)))},
		},
		{
			name: "get endpoint",
			call: func(c *Client) error { _, err := c.Endpoint(7); return err },
			want: request{cmdGetAddr, 1, netlink.Request, nest(attrAddr, tlv(addrID, u8(7)))},
		},
		{
			name: "list endpoints",
			call: func(c *Client) error { _, err := c.Endpoints(); return err },
			want: request{cmdGetAddr, 1, netlink.Request | netlink.Dump, nil},
		},
		{
			name: "list a connection's local addresses",
			call: func(c *Client) error { _, err := c.LocalAddrs(0xcafe); return err },
			want: request{cmdGetAddr, 1, netlink.Request | netlink.Dump, tlv(attrToken, u32(0xcafe))},
		},
		{
			name: "flush endpoints",
			call: func(c *Client) error { return c.FlushEndpoints() },
			want: request{cmdFlushAddrs, 1, ack, nil},
		},
		{
			name: "set endpoint flags by id",
			call: func(c *Client) error { return c.SetEndpointFlags(2, netip.Addr{}, FlagBackup) },
			want: request{cmdSetFlags, 1, ack, nest(attrAddr, tlv(addrID, u8(2)), tlv(addrFlags, u32(4)))},
		},
		{
			name: "clear endpoint flags sends FLAGS 0",
			call: func(c *Client) error { return c.SetEndpointFlags(2, netip.Addr{}, 0) },
			want: request{cmdSetFlags, 1, ack, nest(attrAddr, tlv(addrID, u8(2)), tlv(addrFlags, u32(0)))},
		},
		{
			name: "set endpoint flags by address",
			call: func(c *Client) error { return c.SetEndpointFlags(0, v6a, FlagFullmesh|FlagBackup) },
			want: request{cmdSetFlags, 1, ack, nest(attrAddr, famV6, tlv(addrAddr6, ip("2001:db8::1")), tlv(addrID, u8(0)), tlv(addrFlags, u32(0xc)))},
		},
		{
			name: "change an endpoint that has a port: the port goes with the address",
			call: func(c *Client) error {
				return c.ChangeEndpoint(Endpoint{ID: 1, Addr: v4a, Port: 1234}, FlagBackup)
			},
			want: request{cmdSetFlags, 1, ack, nest(attrAddr, famV4, tlv(addrAddr4, ip("10.0.0.1")), tlv(addrID, u8(1)), tlv(addrPort, u16(1234)), tlv(addrFlags, u32(4)))},
		},
		{
			name: "change by id alone sends no address",
			call: func(c *Client) error { return c.ChangeEndpoint(Endpoint{ID: 1}, FlagBackup) },
			want: request{cmdSetFlags, 1, ack, nest(attrAddr, tlv(addrID, u8(1)), tlv(addrFlags, u32(4)))},
		},
		{
			name: "announce",
			call: func(c *Client) error { return c.Announce(0xdeadbeef, Endpoint{ID: 5, Addr: v4b, Port: 7000}) },
			want: request{cmdAnnounce, 1, ack, cat(
				tlv(attrToken, u32(0xdeadbeef)),
				nest(attrAddr, famV4, tlv(addrAddr4, ip("10.0.2.2")), tlv(addrID, u8(5)), tlv(addrPort, u16(7000)), tlv(addrFlags, u32(1))),
			)},
		},
		{
			name: "remove",
			call: func(c *Client) error { return c.Remove(42, 5) },
			want: request{cmdRemove, 1, ack, cat(tlv(attrToken, u32(42)), tlv(attrLocID, u8(5)))},
		},
		{
			name: "create subflow",
			call: func(c *Client) error {
				return c.CreateSubflow(42, Endpoint{ID: 3, Addr: v4b, IfIndex: 2}, netip.AddrPortFrom(v4a, 5201))
			},
			want: request{cmdSubflowCreate, 1, ack, cat(
				tlv(attrToken, u32(42)),
				nest(attrAddr, famV4, tlv(addrAddr4, ip("10.0.2.2")), tlv(addrID, u8(3)), tlv(addrIfIdx, u32(2))),
				nest(attrAddrRemote, famV4, tlv(addrAddr4, ip("10.0.0.1")), tlv(addrPort, u16(5201))),
			)},
		},
		{
			name: "destroy subflow",
			call: func(c *Client) error {
				return c.DestroySubflow(42, netip.AddrPortFrom(v4b, 40000), netip.AddrPortFrom(v4a, 5201))
			},
			want: request{cmdSubflowDestroy, 1, ack, cat(
				tlv(attrToken, u32(42)),
				nest(attrAddr, famV4, tlv(addrAddr4, ip("10.0.2.2")), tlv(addrPort, u16(40000))),
				nest(attrAddrRemote, famV4, tlv(addrAddr4, ip("10.0.0.1")), tlv(addrPort, u16(5201))),
			)},
		},
		{
			name: "set subflow backup",
			call: func(c *Client) error {
				return c.SetSubflowBackup(42, netip.AddrPortFrom(v6a, 40000), netip.MustParseAddrPort("[2001:db8::2]:80"), true)
			},
			want: request{cmdSetFlags, 1, ack, cat(
				tlv(attrToken, u32(42)),
				nest(attrAddr, famV6, tlv(addrAddr6, ip("2001:db8::1")), tlv(addrPort, u16(40000)), tlv(addrFlags, u32(4))),
				nest(attrAddrRemote, famV6, tlv(addrAddr6, ip("2001:db8::2")), tlv(addrPort, u16(80))),
			)},
		},
		{
			name: "clear subflow backup",
			call: func(c *Client) error {
				return c.SetSubflowBackup(42, netip.AddrPortFrom(v4b, 0), netip.AddrPortFrom(v4a, 80), false)
			},
			want: request{cmdSetFlags, 1, ack, cat(
				tlv(attrToken, u32(42)),
				nest(attrAddr, famV4, tlv(addrAddr4, ip("10.0.2.2"))),
				nest(attrAddrRemote, famV4, tlv(addrAddr4, ip("10.0.0.1")), tlv(addrPort, u16(80))),
			)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Reply with one valid message for the commands that read.
			c, reqs := testClient(t, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
				switch greq.Header.Command {
				case cmdGetLimits:
					return []genetlink.Message{{Data: cat(tlv(attrRcvAddAddrs, u32(0)), tlv(attrSubflows, u32(2)))}}, nil
				case cmdGetAddr:
					return []genetlink.Message{{Data: nest(attrAddr, famV4, tlv(addrAddr4, ip("10.0.0.1")), tlv(addrID, u8(7)))}}, nil
				}
				return nil, nil
			})
			if err := tt.call(&Client{c: c}); err != nil {
				t.Fatalf("call: %v", err)
			}
			if len(*reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(*reqs))
			}
			if diff := cmp.Diff(tt.want, (*reqs)[0]); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRequestLiteral pins one request to literal bytes, so that the tlv
// helpers above are themselves checked (little-endian hosts).
func TestRequestLiteral(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("literal bytes are for little-endian hosts")
	}
	c, reqs := testClient(t, nil)
	if err := c.AddEndpoint(Endpoint{ID: 1, Addr: v4a, Port: 0x1234, Flags: FlagSignal, IfIndex: 2}); err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x34, 0x00, 0x01, 0x80, // ADDR, nested, 52 bytes
		0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // FAMILY AF_INET
		0x08, 0x00, 0x03, 0x00, 10, 0, 0, 1, // ADDR4 network order
		0x05, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, // ID 1
		0x06, 0x00, 0x05, 0x00, 0x34, 0x12, 0x00, 0x00, // PORT host order
		0x08, 0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, // FLAGS signal
		0x08, 0x00, 0x07, 0x00, 0x02, 0x00, 0x00, 0x00, // IF_IDX 2
	}
	if diff := cmp.Diff(want, (*reqs)[0].Data); diff != "" {
		t.Errorf("bytes (-want +got):\n%s", diff)
	}
}

func TestLocalValidation(t *testing.T) {
	u := func(v uint32) *uint32 { return &v }
	tests := []struct {
		name string
		call func(c *Client) error
		want string
	}{
		{"limit above 8", func(c *Client) error { return c.SetLimits(LimitsUpdate{AddAddrAccepted: u(9)}) }, "add_addr_accepted 9 is above the kernel's maximum of 8"},
		{"no address", func(c *Client) error { return c.AddEndpoint(Endpoint{Flags: FlagSubflow}) }, "no address given"},
		{"signal fullmesh", func(c *Client) error { return c.AddEndpoint(Endpoint{Addr: v4a, Flags: FlagSignal | FlagFullmesh}) }, "signal and fullmesh cannot be combined"},
		{"port without signal", func(c *Client) error { return c.AddEndpoint(Endpoint{Addr: v4a, Port: 1, Flags: FlagSubflow}) }, "a port needs the signal flag"},
		{"port with signal subflow", func(c *Client) error {
			return c.AddEndpoint(Endpoint{Addr: v4a, Port: 1, Flags: FlagSignal | FlagSubflow})
		}, "a port needs the signal flag and not subflow"},
		{"implicit", func(c *Client) error { return c.AddEndpoint(Endpoint{Addr: v4a, Flags: FlagImplicit}) }, "implicit flag is set by the kernel only"},
		{"zone", func(c *Client) error { return c.AddEndpoint(Endpoint{Addr: netip.MustParseAddr("fe80::1%eth0")}) }, "has a zone"},
		{"delete id 0 no addr", func(c *Client) error { return c.DeleteEndpoint(0, netip.Addr{}) }, "id 0 needs the address"},
		{"get id 0", func(c *Client) error { _, err := c.Endpoint(0); return err }, "id 0 is not an endpoint id"},
		{"change signal", func(c *Client) error { return c.SetEndpointFlags(1, netip.Addr{}, FlagSignal) }, "only backup and fullmesh can be changed, not signal"},
		{"announce id 0", func(c *Client) error { return c.Announce(1, Endpoint{Addr: v4a}) }, "local.ID must not be 0"},
		{"subflow no port", func(c *Client) error {
			return c.CreateSubflow(1, Endpoint{Addr: v4a}, netip.AddrPortFrom(v4b, 0))
		}, "needs an address and a port"},
		{"destroy no port", func(c *Client) error {
			return c.DestroySubflow(1, netip.AddrPortFrom(v4a, 0), netip.AddrPortFrom(v4b, 80))
		}, "give the subflow's local and remote addresses with ports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, reqs := testClient(t, nil)
			err := tt.call(&Client{c: c})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if !errors.Is(err, os.ErrInvalid) {
				t.Errorf("errors.Is(%v, os.ErrInvalid) = false", err)
			}
			if len(*reqs) != 0 {
				t.Errorf("%d requests sent, want none", len(*reqs))
			}
		})
	}
}

func TestDecodeReplies(t *testing.T) {
	c, _ := testClient(t, func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		switch {
		case greq.Header.Command == cmdGetLimits:
			return []genetlink.Message{{Data: cat(tlv(attrRcvAddAddrs, u32(4)), tlv(attrSubflows, u32(8)))}}, nil
		case greq.Header.Command == cmdGetAddr && nreq.Header.Flags&netlink.Dump != 0:
			return []genetlink.Message{
				{Data: nest(attrAddr, famV4, tlv(addrAddr4, ip("10.0.0.1")), tlv(addrID, u8(1)), tlv(addrFlags, u32(0x5)), tlv(addrPort, u16(443)))},
				{Data: nest(attrAddr, famV6, tlv(addrAddr6, ip("2001:db8::1")), tlv(addrID, u8(2)), tlv(addrFlags, u32(0xa)), tlv(addrIfIdx, u32(4)))},
			}, nil
		case greq.Header.Command == cmdGetAddr:
			return []genetlink.Message{{Data: nest(attrAddr, famV4, tlv(addrAddr4, ip("10.0.2.2")), tlv(addrID, u8(9)), tlv(addrFlags, u32(0x12)))}}, nil
		}
		return nil, fmt.Errorf("unexpected command %d", greq.Header.Command)
	})
	cl := &Client{c: c}
	l, err := cl.Limits()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Limits{AddAddrAccepted: 4, Subflows: 8}, l); diff != "" {
		t.Errorf("limits (-want +got):\n%s", diff)
	}
	eps, err := cl.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	want := []Endpoint{
		{ID: 1, Addr: v4a, Port: 443, Flags: FlagSignal | FlagBackup},
		{ID: 2, Addr: v6a, Flags: FlagSubflow | FlagFullmesh, IfIndex: 4},
	}
	if diff := cmp.Diff(want, eps, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	e, err := cl.Endpoint(9)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Endpoint{ID: 9, Addr: v4b, Flags: FlagSubflow | FlagImplicit}, e, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("endpoint (-want +got):\n%s", diff)
	}
}

func TestErrnoMapping(t *testing.T) {
	tests := []struct {
		errno          unix.Errno
		perm, notExist bool
		text           string
	}{
		{unix.EPERM, true, false, "needs CAP_NET_ADMIN"},
		{unix.ENOENT, false, true, ""},
		{unix.ESRCH, false, true, "no such subflow"},
		{unix.ERANGE, false, false, "at most 8 endpoints"},
		{unix.EEXIST, false, false, "already exists"},
		{unix.EBUSY, false, false, "id is already used"},
		{unix.EINVAL, false, false, "invalid argument"},
	}
	for _, tt := range tests {
		t.Run(tt.errno.Error(), func(t *testing.T) {
			c, _ := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
				return nil, genltest.Error(int(tt.errno))
			})
			op := (&Client{c: c}).AddEndpoint
			err := op(Endpoint{Addr: v4a})
			if tt.errno == unix.ESRCH {
				err = (&Client{c: c}).DestroySubflow(1, netip.AddrPortFrom(v4a, 1), netip.AddrPortFrom(v4b, 2))
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v, want *Error", err, err)
			}
			if !errors.Is(err, tt.errno) {
				t.Errorf("errors.Is(err, %v) = false", tt.errno)
			}
			if got := errors.Is(err, os.ErrPermission); got != tt.perm {
				t.Errorf("errors.Is(%v, os.ErrPermission) = %v, want %v", err, got, tt.perm)
			}
			if got := errors.Is(err, os.ErrNotExist); got != tt.notExist {
				t.Errorf("errors.Is(%v, os.ErrNotExist) = %v, want %v", err, got, tt.notExist)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
		})
	}
}

// extAck answers a request with an NLMSG_ERROR carrying an extended ack
// message, as the kernel does.
func extAck(errno unix.Errno, msg string) nltest.Func {
	return func(reqs []netlink.Message) ([]netlink.Message, error) {
		req := reqs[0]
		hdr := make([]byte, 16)
		binary.NativeEndian.PutUint32(hdr[0:], uint32(16+len(req.Data)))
		binary.NativeEndian.PutUint16(hdr[4:], uint16(req.Header.Type))
		binary.NativeEndian.PutUint16(hdr[6:], uint16(req.Header.Flags))
		binary.NativeEndian.PutUint32(hdr[8:], req.Header.Sequence)
		binary.NativeEndian.PutUint32(hdr[12:], req.Header.PID)
		data := cat(u32(uint32(-int32(errno))), hdr, req.Data, tlv(unix.NLMSGERR_ATTR_MSG, append([]byte(msg), 0)))
		return []netlink.Message{{
			Header: netlink.Header{Type: netlink.Error, Flags: netlink.AcknowledgeTLVs, Sequence: req.Header.Sequence, PID: req.Header.PID},
			Data:   data,
		}}, nil
	}
}

func TestExtendedAck(t *testing.T) {
	tests := []struct {
		errno    unix.Errno
		msg      string
		notExist bool
		want     string
	}{
		{unix.EINVAL, "address not found", true, "pm: get endpoint: address not found (invalid argument)"},
		{unix.EINVAL, "invalid token", true, "pm: get endpoint: invalid token (invalid argument)"},
		{unix.EINVAL, "flags mustn't have both signal and fullmesh", false, "pm: get endpoint: flags mustn't have both signal and fullmesh (invalid argument)"},
		{unix.EPERM, "", false, "pm: get endpoint: operation not permitted: needs CAP_NET_ADMIN in the network namespace (run as root, or grant the capability)"},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			c := &client{c: genetlink.NewConn(nltest.Dial(extAck(tt.errno, tt.msg))), family: testFamily}
			_, err := (&Client{c: c}).Endpoint(3)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v, want *Error", err, err)
			}
			if diff := cmp.Diff(&Error{Op: "get endpoint", Message: tt.msg, Err: tt.errno}, pe); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if got := errors.Is(err, os.ErrNotExist); got != tt.notExist {
				t.Errorf("errors.Is(os.ErrNotExist) = %v, want %v", got, tt.notExist)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("text (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAddRefusedMapping: an endpoint add the kernel refuses because of the
// table matches os.ErrExist whether the kernel says why (EEXIST, EBUSY:
// 6.12 and later) or not (Debian's 6.1: one EINVAL "too many addresses or
// duplicate one" for a duplicate address, a used id and a full table); the
// unspecific one gets a hint naming both causes.
func TestAddRefusedMapping(t *testing.T) {
	for _, tt := range []struct {
		err    *Error
		exist  bool
		inText string
	}{
		{&Error{Op: "add endpoint", Message: "too many addresses or duplicate one: -17", Err: unix.EEXIST}, true, "already exists"},
		{&Error{Op: "add endpoint", Message: "too many addresses or duplicate one: -16", Err: unix.EBUSY}, true, "id is already used"},
		{&Error{Op: "add endpoint", Message: "too many addresses or duplicate one: -34", Err: unix.ERANGE}, false, "at most 8 endpoints"},
		{&Error{Op: "add endpoint", Message: "too many addresses or duplicate one", Err: unix.EINVAL}, true, "already exists, or the table is full (at most 8 endpoints): this kernel does not say which"},
		{&Error{Op: "add endpoint", Message: "missing address info", Err: unix.EINVAL}, false, "missing address info"},
	} {
		if got := errors.Is(tt.err, os.ErrExist); got != tt.exist {
			t.Errorf("errors.Is(%v, os.ErrExist) = %v, want %v", tt.err, got, tt.exist)
		}
		if !strings.Contains(tt.err.Error(), tt.inText) {
			t.Errorf("%q does not contain %q", tt.err, tt.inText)
		}
	}
}
