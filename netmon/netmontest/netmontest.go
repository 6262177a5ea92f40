// Package netmontest provides an in-memory netmon.Monitor for tests of code
// that watches a namespace: the test sets the links, addresses and routes
// and the code under test sees a change, as it would from the kernel.
package netmontest

import (
	"sync"

	"github.com/mptcpkit/mptcpkit/netmon"
)

// Fake is an in-memory netmon.Monitor: Set or Update change its state and
// signal a change on the Changes channel (coalesced, as netmon.Netlink does).
type Fake struct {
	mu     sync.Mutex
	st     netmon.State
	ch     chan struct{}
	closed bool
}

var _ netmon.Monitor = (*Fake)(nil)

// New returns a Fake with the given initial state.
func New(st netmon.State) *Fake {
	return &Fake{st: clone(st), ch: make(chan struct{}, 1)}
}

func clone(st netmon.State) netmon.State {
	st.Links = append([]netmon.Link(nil), st.Links...)
	st.Addrs = append([]netmon.Addr(nil), st.Addrs...)
	return st
}

// State returns a copy of the current state, sorted as netmon.State.Sort
// orders it.
func (f *Fake) State() (*netmon.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := clone(f.st)
	st.Sort()
	return &st, nil
}

// Changes implements netmon.Monitor.
func (f *Fake) Changes() <-chan struct{} { return f.ch }

// Set replaces the state and signals a change.
func (f *Fake) Set(st netmon.State) { f.Update(func(s *netmon.State) { *s = clone(st) }) }

// Update changes the state in place and signals a change. After Close it
// does nothing.
func (f *Fake) Update(fn func(*netmon.State)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	fn(&f.st)
	select {
	case f.ch <- struct{}{}:
	default:
	}
}

// Close implements netmon.Monitor: it closes the Changes channel.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.ch)
	}
	return nil
}
