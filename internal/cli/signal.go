package cli

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"time"
)

// signalContext is signal.NotifyContext(context.Background(), sigs...) that
// registers for the signals only when the context is first used (Done, Err
// or Value — context.WithCancel and context.AfterFunc call Done). Registering
// costs every command ~3 ms here: os/signal starts a goroutine and a thread
// locked to it (runtime.ensureSigM), about 55 page faults. Commands that
// never look at the context (limits show, endpoint add, …: one netlink
// request) skip it; a SIGINT during one of them ends the process the
// default way, while a command that waits on the context is cancelled as
// before. BENCHMARKS.md ("CLI start-up") has the figures.
type signalContext struct {
	sigs []os.Signal
	once sync.Once
	ctx  context.Context
	stop context.CancelFunc
}

func newSignalContext(sigs ...os.Signal) (context.Context, context.CancelFunc) {
	c := &signalContext{sigs: sigs}
	return c, c.cancel
}

func (c *signalContext) start() context.Context {
	c.once.Do(func() { c.ctx, c.stop = signal.NotifyContext(context.Background(), c.sigs...) })
	return c.ctx
}

func (c *signalContext) cancel() {
	// Never used: nothing to unregister, and a later use finds it cancelled.
	c.once.Do(func() { c.ctx, c.stop = context.WithCancel(context.Background()) })
	c.stop()
}

func (c *signalContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *signalContext) Done() <-chan struct{}       { return c.start().Done() }
func (c *signalContext) Err() error                  { return c.start().Err() }
func (c *signalContext) Value(key any) any           { return c.start().Value(key) }
func (c *signalContext) String() string              { return "mptcpkit.signalContext" }
