package pm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/mptcpkit/mptcpkit/internal/feature"
)

// Config configures a Client. A nil *Config is the same as the zero Config.
type Config struct {
	// NetNS is an open file descriptor of a network namespace (for example
	// from netns.Open(...).FD()). The Client's netlink sockets are created
	// inside that namespace; the calling thread never changes namespace.
	// 0 means the namespace of the calling process. Dial keeps its own
	// reference: the caller may close the descriptor afterwards.
	NetNS int
}

// ErrNotSupported is wrapped by errors from Dial when the running kernel has
// no mptcp_pm generic netlink family (kernel older than 5.7, or built without
// CONFIG_MPTCP), by Events when the family has no events group (before
// 5.12), and on operating systems other than Linux. Such errors are an
// *UnsupportedFeatureError naming the minimum kernel. It is the same error
// as mptcp.ErrNotSupported.
var ErrNotSupported = feature.ErrNotSupported

// UnsupportedFeatureError names a feature the running kernel lacks and the
// first Linux release that has it; errors.Is(err, ErrNotSupported) holds.
type UnsupportedFeatureError = feature.UnsupportedFeatureError

// ErrEventsLost is wrapped by the error Events returns when the kernel had
// to drop events because the reader fell behind and the socket's receive
// buffer overflowed (ENOBUFS). The state seen so far is incomplete: resync
// (list endpoints, connections) and call Events again.
var ErrEventsLost = errors.New("MPTCP events lost: the event reader fell behind and the kernel dropped events (ENOBUFS)")

// A Client talks to the kernel's MPTCP path manager through the mptcp_pm
// generic netlink family. A Client is safe for concurrent use; Events uses
// its own socket so it may run alongside the other methods.
type Client struct {
	c osClient
}

// osClient is the operating system specific implementation of Client.
type osClient interface {
	Close() error
	Limits() (Limits, error)
	SetLimits(u LimitsUpdate) error
	AddEndpoint(e Endpoint) error
	DeleteEndpoint(id uint8, addr netip.Addr) error
	Endpoint(id uint8) (Endpoint, error)
	Endpoints() ([]Endpoint, error)
	FlushEndpoints() error
	SetEndpointFlags(sel Endpoint, flags Flags) error
	Events(ctx context.Context, fn func(Event) error) error
	Announce(token uint32, local Endpoint) error
	Remove(token uint32, localID uint8) error
	CreateSubflow(token uint32, local Endpoint, remote netip.AddrPort) error
	DestroySubflow(token uint32, local, remote netip.AddrPort) error
	SetSubflowBackup(token uint32, local, remote netip.AddrPort, backup bool) error
	LocalAddrs(token uint32) ([]Endpoint, error)
}

// Dial opens a Client. cfg may be nil. If the kernel has no mptcp_pm family
// the error wraps ErrNotSupported.
func Dial(cfg *Config) (*Client, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{c: c}, nil
}

// Close releases the Client's sockets.
func (c *Client) Close() error { return c.c.Close() }

// Limits is the in-kernel path manager's per-connection limits.
type Limits struct {
	// AddAddrAccepted is the number of ADD_ADDR announcements accepted
	// from the peer per connection (add_addr_accepted, 0–8).
	AddAddrAccepted uint32
	// Subflows is the number of additional subflows per connection (0–8).
	Subflows uint32
}

// LimitsUpdate changes some limits; a nil field is left unchanged.
type LimitsUpdate struct {
	AddAddrAccepted, Subflows *uint32
}

// MaxLimit is the largest value the kernel accepts for either limit, and
// MaxEndpoints the largest number of endpoints it keeps.
const (
	MaxLimit     = 8
	MaxEndpoints = 8
)

// Limits returns the in-kernel path manager's limits.
func (c *Client) Limits() (Limits, error) { return c.c.Limits() }

// SetLimits changes the limits given in u. Values above MaxLimit are
// refused before anything is sent.
func (c *Client) SetLimits(u LimitsUpdate) error {
	if err := u.validate(); err != nil {
		return err
	}
	return c.c.SetLimits(u)
}

func (u LimitsUpdate) validate() error {
	for _, l := range []struct {
		name string
		v    *uint32
	}{{"subflows", u.Subflows}, {"add_addr_accepted", u.AddAddrAccepted}} {
		if l.v != nil && *l.v > MaxLimit {
			return invalidf("set limits", "%s %d is above the kernel's maximum of %d; use a value from 0 to %d", l.name, *l.v, MaxLimit, MaxLimit)
		}
	}
	return nil
}

// Flags are the flags of a path manager endpoint (MPTCP_PM_ADDR_FLAG_*).
type Flags uint32

// Endpoint flags.
const (
	// FlagSignal: announce the address to the peer (ADD_ADDR).
	FlagSignal Flags = 0x1
	// FlagSubflow: open a subflow from this address to the peer.
	FlagSubflow Flags = 0x2
	// FlagBackup: subflows using the address are backup subflows.
	FlagBackup Flags = 0x4
	// FlagFullmesh: open a subflow from this address to every known peer
	// address (needs subflow; not with signal).
	FlagFullmesh Flags = 0x8
	// FlagImplicit is set by the kernel on endpoints it created itself; it
	// cannot be requested.
	FlagImplicit Flags = 0x10
	// FlagLaminar (Linux 6.18): use the endpoint to reach a peer's
	// announced addresses, one subflow each.
	FlagLaminar Flags = 0x20
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagSignal, "signal"},
	{FlagSubflow, "subflow"},
	{FlagBackup, "backup"},
	{FlagFullmesh, "fullmesh"},
	{FlagImplicit, "implicit"},
	{FlagLaminar, "laminar"},
}

// String returns the flags as `ip mptcp` words separated by commas, such as
// "signal,backup"; unknown bits are shown in hex ("0x80"). No flags is "".
func (f Flags) String() string {
	var words []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			words = append(words, n.name)
			f &^= n.f
		}
	}
	if f != 0 {
		words = append(words, fmt.Sprintf("%#x", uint32(f)))
	}
	return strings.Join(words, ",")
}

// MarshalText writes the flags as String does: `ip mptcp` words separated
// by commas ("signal,backup"), unknown bits in hex, "" for none.
func (f Flags) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads what MarshalText writes: `ip mptcp` flag words (and
// hex numbers for unknown bits) separated by commas; "" is no flags.
func (f *Flags) UnmarshalText(text []byte) error {
	var v Flags
	for w := range strings.SplitSeq(string(text), ",") {
		if w == "" {
			continue
		}
		x, err := ParseFlag(w)
		if err != nil {
			n, herr := strconv.ParseUint(w, 0, 32)
			if herr != nil || !strings.HasPrefix(w, "0x") {
				return err
			}
			x = Flags(n)
		}
		v |= x
	}
	*f = v
	return nil
}

// ParseFlag parses one `ip mptcp` flag word (signal, subflow, backup,
// fullmesh, implicit, laminar).
func ParseFlag(word string) (Flags, error) {
	for _, n := range flagNames {
		if word == n.name {
			return n.f, nil
		}
	}
	return 0, fmt.Errorf("pm: unknown endpoint flag %q: use one of signal, subflow, backup, fullmesh, laminar", word)
}

// An Endpoint is an entry of the in-kernel path manager's address table
// (`ip mptcp endpoint`), or a local address given to a userspace path
// manager command.
type Endpoint struct {
	ID      uint8      // 0 = let the kernel choose
	Addr    netip.Addr // IPv4 or IPv6
	Port    uint16     // 0 = none
	Flags   Flags
	IfIndex int // 0 = none
}

// AddEndpoint adds e to the in-kernel path manager's table. Invalid
// combinations (signal with fullmesh, a port without signal, the implicit
// flag, an invalid address) are refused before anything is sent. The kernel
// keeps at most MaxEndpoints endpoints.
func (c *Client) AddEndpoint(e Endpoint) error {
	if err := e.validate("add endpoint"); err != nil {
		return err
	}
	return c.c.AddEndpoint(e)
}

func (e Endpoint) validate(op string) error {
	switch {
	case !e.Addr.IsValid():
		return invalidf(op, "no address given; give an IPv4 or IPv6 address")
	case e.Addr.Zone() != "":
		return invalidf(op, "address %s has a zone; give the interface as IfIndex (dev) instead", e.Addr)
	case e.Flags&FlagImplicit != 0:
		return invalidf(op, "the implicit flag is set by the kernel only; remove it")
	case e.Flags&FlagSignal != 0 && e.Flags&FlagFullmesh != 0:
		return invalidf(op, "flags signal and fullmesh cannot be combined; use subflow,fullmesh or signal alone")
	case e.Port != 0 && (e.Flags&FlagSignal == 0 || e.Flags&FlagSubflow != 0):
		return invalidf(op, "a port needs the signal flag and not subflow; add signal or remove the port")
	case e.IfIndex < 0:
		return invalidf(op, "interface index %d is negative", e.IfIndex)
	}
	return nil
}

// DeleteEndpoint deletes the endpoint with the given id; the kernel then
// ignores addr.
//
// id 0 is the kernel's special id of each connection's initial address and
// needs addr: as `ip mptcp endpoint delete id 0 ADDR` does, it withdraws
// addr from every connection where it is the id-0 address (REMOVE_ADDR to
// the peer, subflows closed). It does not delete a table entry; delete those
// by their id (Endpoints lists them).
func (c *Client) DeleteEndpoint(id uint8, addr netip.Addr) error {
	if id == 0 && !addr.IsValid() {
		return invalidf("delete endpoint", "id 0 needs the address; give the endpoint's address")
	}
	return c.c.DeleteEndpoint(id, addr)
}

// Endpoint returns the endpoint with the given id. The error wraps
// os.ErrNotExist if there is none.
func (c *Client) Endpoint(id uint8) (Endpoint, error) {
	if id == 0 {
		return Endpoint{}, invalidf("get endpoint", "id 0 is not an endpoint id; use 1-255")
	}
	return c.c.Endpoint(id)
}

// Endpoints lists the in-kernel path manager's endpoints.
func (c *Client) Endpoints() ([]Endpoint, error) { return c.c.Endpoints() }

// FlushEndpoints deletes every endpoint. Limits are left unchanged.
func (c *Client) FlushEndpoints() error { return c.c.FlushEndpoints() }

// SetEndpointFlags sets the backup and fullmesh flags of an endpoint: the
// one with address addr if addr is valid (the kernel then looks it up by
// address), else the one with the given id. Kernel semantics: BOTH bits are
// set to their value in flags, so a caller who wants to change only one
// must pass the other's current value (see Endpoint); other flags cannot be
// changed and are refused with os.ErrInvalid. Existing subflows of the
// endpoint are switched to backup or back with MP_PRIO. The kernel refuses
// fullmesh on a signal endpoint ("invalid addr flags").
//
// An endpoint that has a port is found by address only together with its
// port: use ChangeEndpoint for those.
func (c *Client) SetEndpointFlags(id uint8, addr netip.Addr, flags Flags) error {
	return c.ChangeEndpoint(Endpoint{ID: id, Addr: addr}, flags)
}

// ChangeEndpoint is SetEndpointFlags for the endpoint sel selects: by
// address and port (sel.Port, 0 for none) when sel.Addr is valid, else by
// sel.ID. The kernel compares the port when it looks an endpoint up by
// address, so an endpoint added with a port must be named with it (as
// `ip mptcp endpoint change ADDR port P` does); or by id alone, which then
// sends no address at all (as `ip mptcp endpoint change id ID` does).
// sel's Flags and IfIndex are ignored.
func (c *Client) ChangeEndpoint(sel Endpoint, flags Flags) error {
	if sel.ID == 0 && !sel.Addr.IsValid() {
		return invalidf("change endpoint", "give an endpoint id or an address")
	}
	if sel.Port != 0 && !sel.Addr.IsValid() {
		return invalidf("change endpoint", "a port selects an endpoint only together with its address")
	}
	if flags&^(FlagBackup|FlagFullmesh) != 0 {
		return invalidf("change endpoint", "only backup and fullmesh can be changed, not %s", flags&^(FlagBackup|FlagFullmesh))
	}
	return c.c.SetEndpointFlags(Endpoint{ID: sel.ID, Addr: sel.Addr, Port: sel.Port}, flags)
}

// EventType is the type of an MPTCP path manager event (MPTCP_EVENT_*).
type EventType uint8

// Event types.
const (
	EventCreated         EventType = 1
	EventEstablished     EventType = 2
	EventClosed          EventType = 3
	EventAnnounced       EventType = 6
	EventRemoved         EventType = 7
	EventSubEstablished  EventType = 10
	EventSubClosed       EventType = 11
	EventSubPriority     EventType = 13
	EventListenerCreated EventType = 15
	EventListenerClosed  EventType = 16
)

var eventNames = map[EventType]string{
	EventCreated:         "CREATED",
	EventEstablished:     "ESTABLISHED",
	EventClosed:          "CLOSED",
	EventAnnounced:       "ANNOUNCED",
	EventRemoved:         "REMOVED",
	EventSubEstablished:  "SUB_ESTABLISHED",
	EventSubClosed:       "SUB_CLOSED",
	EventSubPriority:     "SUB_PRIORITY",
	EventListenerCreated: "LISTENER_CREATED",
	EventListenerClosed:  "LISTENER_CLOSED",
}

// String returns the kernel's name of the event type without the
// MPTCP_EVENT_ prefix, such as "SUB_ESTABLISHED", or "UNKNOWN(n)".
func (t EventType) String() string {
	if s, ok := eventNames[t]; ok {
		return s
	}
	return fmt.Sprintf("UNKNOWN(%d)", uint8(t))
}

// An Event is a path manager event. Fields the kernel did not send are zero.
type Event struct {
	Type              EventType
	Token             uint32
	LocalID, RemoteID uint8
	Local, Remote     netip.AddrPort // saddr/sport, daddr/dport (zero if absent)
	Backup            bool
	IfIndex           int
	Error             uint8
	Flags             uint16 // 0x1 deny_join_id0, 0x2 server_side
	ServerSide        bool
	Timeout           uint32
	ResetReason       uint32
	ResetFlags        uint32
}

// Event flags (Event.Flags).
const (
	EventFlagDenyJoinID0 uint16 = 0x1
	EventFlagServerSide  uint16 = 0x2
)

// Events joins the mptcp_pm_events multicast group on its own socket and
// calls fn for each event until ctx is done (it then returns nil) or fn
// returns an error (returned as is). fn runs on the goroutine that called
// Events, one event at a time, in the kernel's order. Joining needs
// CAP_NET_ADMIN.
//
// The kernel never blocks on a slow reader: if fn (or the caller) falls
// behind and the socket's receive buffer fills up, the kernel drops events
// and the next read fails with ENOBUFS. Events then returns an error
// wrapping ErrEventsLost; the caller should resync its state and call Events
// again. Events asks for a large receive buffer to make this rare.
func (c *Client) Events(ctx context.Context, fn func(Event) error) error {
	return c.c.Events(ctx, fn)
}

// Announce makes a userspace path manager announce local (ADD_ADDR) on the
// connection with the given token. local.ID must not be 0; the signal flag
// is implied. The kernel opens no listener for the address: the caller must
// listen on it for the peer's subflows to be accepted.
func (c *Client) Announce(token uint32, local Endpoint) error {
	local.Flags |= FlagSignal
	if local.ID == 0 {
		return invalidf("announce", "local.ID must not be 0; give the address an id from 1 to 255")
	}
	if err := local.validate("announce"); err != nil {
		return err
	}
	return c.c.Announce(token, local)
}

// Remove makes a userspace path manager withdraw the address with id
// localID (REMOVE_ADDR) on the connection with the given token, and close
// the subflows using it.
func (c *Client) Remove(token uint32, localID uint8) error {
	return c.c.Remove(token, localID)
}

// CreateSubflow makes a userspace path manager open a subflow from local to
// remote on the connection with the given token. remote needs a port.
func (c *Client) CreateSubflow(token uint32, local Endpoint, remote netip.AddrPort) error {
	if !local.Addr.IsValid() {
		return invalidf("create subflow", "no local address given")
	}
	if local.Flags&FlagSignal != 0 {
		return invalidf("create subflow", "the local address must not have the signal flag")
	}
	if !remote.Addr().IsValid() || remote.Port() == 0 {
		return invalidf("create subflow", "remote %s needs an address and a port", remote)
	}
	return c.c.CreateSubflow(token, local, remote)
}

// DestroySubflow makes a userspace path manager close the subflow from
// local to remote (both with ports) on the connection with the given token.
// The error wraps os.ErrNotExist if there is no such subflow.
func (c *Client) DestroySubflow(token uint32, local, remote netip.AddrPort) error {
	if err := checkPair("destroy subflow", local, remote); err != nil {
		return err
	}
	return c.c.DestroySubflow(token, local, remote)
}

// SetSubflowBackup makes a userspace path manager mark the subflow from
// local to remote as backup (or not) with MP_PRIO.
func (c *Client) SetSubflowBackup(token uint32, local, remote netip.AddrPort, backup bool) error {
	if !local.Addr().IsValid() || !remote.Addr().IsValid() || remote.Port() == 0 {
		return invalidf("set subflow backup", "give the subflow's local address and remote address and port (got %s → %s)", local, remote)
	}
	return c.c.SetSubflowBackup(token, local, remote, backup)
}

// LocalAddrs lists the local addresses a userspace path manager has
// announced or used for subflows on the connection with the given token
// (GET_ADDR dump with a token). The kernel matrix sees it work on Debian's
// 6.12 and on 6.18; Debian's 6.1 ignores the token and lists the
// namespace's endpoint table instead.
func (c *Client) LocalAddrs(token uint32) ([]Endpoint, error) {
	return c.c.LocalAddrs(token)
}

func checkPair(op string, local, remote netip.AddrPort) error {
	if !local.Addr().IsValid() || local.Port() == 0 || !remote.Addr().IsValid() || remote.Port() == 0 {
		return invalidf(op, "give the subflow's local and remote addresses with ports (got %s → %s)", local, remote)
	}
	return nil
}

// Error is an error returned by the kernel for a path manager command.
type Error struct {
	// Op is what was asked, such as "add endpoint".
	Op string
	// Message is the kernel's extended acknowledgement text, such as
	// "address not found", if it sent one.
	Message string
	// Err is the error number (a syscall.Errno), or another low-level error.
	Err error
}

func (e *Error) Error() string {
	var sb strings.Builder
	sb.WriteString("pm: ")
	if e.Op != "" {
		sb.WriteString(e.Op + ": ")
	}
	if e.Message != "" {
		sb.WriteString(e.Message)
		sb.WriteString(" (" + errText(e.Err) + ")")
	} else {
		sb.WriteString(errText(e.Err))
	}
	if h := e.hint(); h != "" {
		sb.WriteString(": " + h)
	}
	return sb.String()
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Is reports os.ErrNotExist for the errors that mean "no such endpoint,
// connection or subflow": ENOENT, ESRCH, and EINVAL with the kernel's
// "address not found" or "invalid token" text. It reports os.ErrExist when
// an endpoint add was refused because of the table: EEXIST (same address),
// EBUSY (same id), and the EINVAL "too many addresses or duplicate one" of
// kernels that do not say which (Debian's 6.1: a duplicate address, a used
// id and a full table all get that one answer). Other targets are matched
// through Err.
func (e *Error) Is(target error) bool {
	switch target {
	case os.ErrNotExist:
		return e.notExist()
	case os.ErrExist:
		return errors.Is(e.Err, syscall.EEXIST) || errors.Is(e.Err, syscall.EBUSY) || e.addRefused()
	}
	return false
}

// addRefused: the kernel's EINVAL for an endpoint add it refused without
// saying why (newer kernels return EEXIST, EBUSY or ERANGE instead).
func (e *Error) addRefused() bool {
	return errors.Is(e.Err, syscall.EINVAL) && e.Message == addRefusedText
}

// addRefusedText is the kernel's extack text for a refused endpoint add.
// Kernels that return a precise errno append ": -17" and the like.
const addRefusedText = "too many addresses or duplicate one"

func (e *Error) notExist() bool {
	switch {
	case errors.Is(e.Err, syscall.ENOENT), errors.Is(e.Err, syscall.ESRCH):
		return true
	case errors.Is(e.Err, syscall.EINVAL):
		m := strings.ToLower(e.Message)
		return strings.Contains(m, "not found") || strings.Contains(m, "invalid token") || strings.Contains(m, "unknown token")
	}
	return false
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

func (e *Error) hint() string {
	switch {
	case errors.Is(e.Err, syscall.EPERM), errors.Is(e.Err, syscall.EACCES):
		return "needs CAP_NET_ADMIN in the network namespace (run as root, or grant the capability)"
	case errors.Is(e.Err, syscall.ERANGE) && strings.Contains(e.Op, "endpoint"):
		return fmt.Sprintf("the kernel allows at most %d endpoints; delete one first", MaxEndpoints)
	case errors.Is(e.Err, syscall.EEXIST):
		return "an endpoint with this address (or id) already exists; delete it first or use another"
	case errors.Is(e.Err, syscall.EBUSY):
		return "the id is already used by another endpoint; choose another id or leave it 0"
	case e.addRefused():
		return fmt.Sprintf("an endpoint with this address or id already exists, or the table is full (at most %d endpoints): this kernel does not say which; list the endpoints to see", MaxEndpoints)
	case errors.Is(e.Err, syscall.ESRCH) && e.Op == "destroy subflow":
		return "no such subflow on this connection"
	}
	return ""
}

// invalidError is a request refused before anything was sent to the kernel.
type invalidError struct {
	op, msg string
}

func invalidf(op, format string, args ...any) error {
	return &invalidError{op: op, msg: fmt.Sprintf(format, args...)}
}

func (e *invalidError) Error() string { return "pm: " + e.op + ": " + e.msg }

// Is reports os.ErrInvalid.
func (e *invalidError) Is(target error) bool { return target == os.ErrInvalid }
