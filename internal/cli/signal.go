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
// or Value — context.WithCancel and context.AfterFunc call Done), or when Run
// starts a command that is not quick (registerSignals). Registering costs
// ~3 ms and ~55 page faults per call here: os/signal starts a goroutine and a
// thread locked to it (runtime.ensureSigM). The quick commands never look at
// the context (one netlink request, or printing): a SIGINT during one of them
// ends the process the default way; every other command is cancelled by it
// as before. docs/BENCHMARKS.md ("CLI start-up") has the figures.
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

// registerSignals registers ctx's signals now if it is Main's context.
func registerSignals(ctx context.Context) {
	if c, ok := ctx.(*signalContext); ok {
		c.start()
	}
}
