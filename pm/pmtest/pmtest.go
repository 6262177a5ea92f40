// Package pmtest provides an in-memory MPTCP path manager for tests of code
// that drives one: the endpoint table and limits of the kernel's in-kernel
// path manager, with the same methods as a *pm.Client, so code that takes
// its path manager as an interface (daemon.PathManager, say) runs against
// it without root, namespaces or a kernel with MPTCP.
//
// As genltest does for generic netlink connections, a PM takes a Func that
// sees every call before the table does and may answer it with an error,
// which is how a test makes the "kernel" fail on demand; Calls records what
// was asked, in order.
package pmtest

import (
	"net/netip"
	"slices"
	"sync"
	"syscall"

	"github.com/mptcpkit/mptcpkit/pm"
)

// Op names a PM method in a Call.
type Op string

// The operations a PM records.
const (
	OpEndpoints      Op = "Endpoints"
	OpAddEndpoint    Op = "AddEndpoint"
	OpDeleteEndpoint Op = "DeleteEndpoint"
	OpChangeEndpoint Op = "ChangeEndpoint"
	OpLimits         Op = "Limits"
	OpSetLimits      Op = "SetLimits"
)

// A Call is one call of a PM method with its arguments: Endpoint for
// AddEndpoint, the selector (ID, Addr, Port) for DeleteEndpoint and
// ChangeEndpoint, Flags for ChangeEndpoint, Limits for SetLimits.
type Call struct {
	Op       Op
	Endpoint pm.Endpoint
	Flags    pm.Flags
	Limits   pm.LimitsUpdate
}

// A Func sees each call before the table does. A non-nil error fails the
// call with that error and leaves the table unchanged; nil lets the table
// answer. It runs with the PM locked: it must not call the PM.
type Func func(Call) error

// Error returns the error a *pm.Client returns when the kernel answers op
// with errno (and the extended acknowledgement text msg, which may be
// empty), for a Func to return.
func Error(op Op, errno syscall.Errno, msg string) error {
	return &pm.Error{Op: opText[op], Message: msg, Err: errno}
}

// opText is what a *pm.Client calls each operation in its errors.
var opText = map[Op]string{
	OpEndpoints:      "list endpoints",
	OpAddEndpoint:    "add endpoint",
	OpDeleteEndpoint: "delete endpoint",
	OpChangeEndpoint: "change endpoint",
	OpLimits:         "get limits",
	OpSetLimits:      "set limits",
}

// PM is an in-memory in-kernel path manager: an endpoint table of at most
// pm.MaxEndpoints entries and the two limits. It answers as the kernel
// does where tests meet it: a full table is ERANGE, a second endpoint with
// the same address is EEXIST, an unknown endpoint is EINVAL "address not
// found" (errors.Is os.ErrNotExist), errors are
// *pm.Error values. New endpoints get increasing ids from 1. The zero PM is
// an empty table with zero limits and no Func. A PM is safe for concurrent
// use.
type PM struct {
	mu     sync.Mutex
	fn     Func
	eps    []pm.Endpoint
	next   uint8
	limits pm.Limits
	calls  []Call
}

// New returns an empty PM whose calls go to fn first (fn may be nil).
func New(fn Func) *PM { return &PM{fn: fn} }

// call records c and asks the Func about it. The caller holds p.mu.
func (p *PM) call(c Call) error {
	p.calls = append(p.calls, c)
	if p.fn != nil {
		return p.fn(c)
	}
	return nil
}

// Calls returns the calls so far, oldest first.
func (p *PM) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// Set replaces the endpoint table (ids as given), for a test's starting
// state. It is not recorded as a call.
func (p *PM) Set(eps ...pm.Endpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.eps = slices.Clone(eps)
	for _, e := range eps {
		p.next = max(p.next, e.ID)
	}
}

// Endpoints returns a copy of the endpoint table.
func (p *PM) Endpoints() ([]pm.Endpoint, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.call(Call{Op: OpEndpoints}); err != nil {
		return nil, err
	}
	return slices.Clone(p.eps), nil
}

// AddEndpoint adds e with the next free id (e.ID is ignored).
func (p *PM) AddEndpoint(e pm.Endpoint) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.call(Call{Op: OpAddEndpoint, Endpoint: e}); err != nil {
		return err
	}
	if len(p.eps) >= pm.MaxEndpoints {
		return Error(OpAddEndpoint, syscall.ERANGE, "")
	}
	if p.find(pm.Endpoint{Addr: e.Addr, Port: e.Port}) >= 0 {
		return Error(OpAddEndpoint, syscall.EEXIST, "")
	}
	p.next++
	e.ID = p.next
	p.eps = append(p.eps, e)
	return nil
}

// find returns the index of the endpoint sel selects (by address and
// port when sel.Addr is valid, else by id), or -1.
func (p *PM) find(sel pm.Endpoint) int {
	return slices.IndexFunc(p.eps, func(e pm.Endpoint) bool {
		if sel.Addr.IsValid() {
			return e.Addr == sel.Addr && e.Port == sel.Port
		}
		return sel.ID != 0 && e.ID == sel.ID
	})
}

// DeleteEndpoint deletes the endpoint with the id, or with the address
// when id is 0.
func (p *PM) DeleteEndpoint(id uint8, addr netip.Addr) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.call(Call{Op: OpDeleteEndpoint, Endpoint: pm.Endpoint{ID: id, Addr: addr}}); err != nil {
		return err
	}
	sel := pm.Endpoint{ID: id}
	if id == 0 {
		sel.Addr = addr
	}
	i := p.find(sel)
	if i < 0 {
		return Error(OpDeleteEndpoint, syscall.EINVAL, "address not found")
	}
	p.eps = slices.Delete(p.eps, i, i+1)
	return nil
}

// ChangeEndpoint sets the backup and fullmesh flags of the endpoint sel
// selects (by address and port when sel.Addr is valid, else by id), as
// pm.Client.ChangeEndpoint does.
func (p *PM) ChangeEndpoint(sel pm.Endpoint, flags pm.Flags) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	sel = pm.Endpoint{ID: sel.ID, Addr: sel.Addr, Port: sel.Port}
	if err := p.call(Call{Op: OpChangeEndpoint, Endpoint: sel, Flags: flags}); err != nil {
		return err
	}
	const changeable = pm.FlagBackup | pm.FlagFullmesh
	if sel.ID == 0 && !sel.Addr.IsValid() || flags&^changeable != 0 {
		return Error(OpChangeEndpoint, syscall.EINVAL, "")
	}
	i := p.find(sel)
	if i < 0 {
		return Error(OpChangeEndpoint, syscall.EINVAL, "address not found")
	}
	p.eps[i].Flags = p.eps[i].Flags&^changeable | flags
	return nil
}

// Limits returns the limits.
func (p *PM) Limits() (pm.Limits, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.call(Call{Op: OpLimits}); err != nil {
		return pm.Limits{}, err
	}
	return p.limits, nil
}

// SetLimits changes the limits u sets; above pm.MaxLimit is EINVAL.
func (p *PM) SetLimits(u pm.LimitsUpdate) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.call(Call{Op: OpSetLimits, Limits: u}); err != nil {
		return err
	}
	if u.Subflows != nil && *u.Subflows > pm.MaxLimit || u.AddAddrAccepted != nil && *u.AddAddrAccepted > pm.MaxLimit {
		return Error(OpSetLimits, syscall.EINVAL, "")
	}
	if u.Subflows != nil {
		p.limits.Subflows = *u.Subflows
	}
	if u.AddAddrAccepted != nil {
		p.limits.AddAddrAccepted = *u.AddAddrAccepted
	}
	return nil
}
