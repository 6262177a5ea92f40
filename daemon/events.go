package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/mptcpkit/mptcpkit/pm"
)

// watchEvents reads path-manager events until ctx is done, counting them
// in the metrics and handing each to fn (may be nil). It resubscribes after
// lost events (calling lost) and, with a back-off, after errors.
func (d *daemon) watchEvents(ctx context.Context, fn func(pm.Event), lost func()) {
	if d.pmClient == nil {
		return
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := d.pmClient.Events(ctx, func(ev pm.Event) error {
			d.metrics.event(ev)
			if fn != nil {
				fn(ev)
			}
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, pm.ErrEventsLost) {
			d.log.Warn("path-manager events lost (reader fell behind); resynchronising")
			d.metrics.eventsLost.Inc()
			if lost != nil {
				lost()
			}
			continue
		}
		d.log.Warn("path-manager events unavailable; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// countEvents only counts events (in-kernel path manager mode).
func (d *daemon) countEvents(ctx context.Context) { d.watchEvents(ctx, nil, nil) }
