package lab

import (
	"fmt"
	"syscall"
	"time"

	"github.com/mptcpkit/mptcpkit/netns"
)

// Impair changes path p (1-based) of a live lab: its random loss (percent,
// both directions, as Config.Loss) and its one-way delay. Loss works on
// every path. A delay change needs a path built with a delay line (a
// Config.Delay above zero on a kernel without netem: a router with the TUN
// delay line, whose delay may then go down to 0 and up again); the running
// delay line is told by SIGHUP and holds packets read from then on for the
// new delay. st is updated and saved.
func Impair(st *State, p int, loss float64, delay time.Duration) error {
	if p < 1 || p > len(st.Paths) {
		return fmt.Errorf("lab %s has paths 1 to %d, not %d", st.Name, len(st.Paths), p)
	}
	if loss < 0 || loss > 100 {
		return fmt.Errorf("loss %g%%: want 0 to 100", loss)
	}
	path := &st.Paths[p-1]
	if delay < 0 {
		return fmt.Errorf("delay %v: want 0 or more", delay)
	}
	if delay != path.Delay && (path.Router == "" || st.Delay != "tun" || st.DelayPID == 0) {
		return fmt.Errorf("path %d of lab %s has no delay line: build the lab with a delay on that path (e.g. --delay 1ms) to change it later", p, st.Name)
	}
	if loss != path.Loss && st.Loss == "netem" {
		return fmt.Errorf("lab %s makes its loss with netem, which Impair cannot change on a live lab: build the lab without --loss (loss is then added with nftables) to change it later", st.Name)
	}
	if loss > 0 && st.Loss == "" {
		// A lab built without loss: nftables makes it from now on (it
		// works on every kernel, with or without netem).
		st.Loss = "nftables"
	}
	oldDelay := path.Delay
	path.Loss, path.Delay = loss, delay
	if err := st.save(); err != nil {
		return err
	}
	if delay != oldDelay {
		if err := syscall.Kill(st.DelayPID, syscall.SIGHUP); err != nil {
			return fmt.Errorf("signal the delay line (pid %d): %w", st.DelayPID, err)
		}
	}
	client, err := netns.Open(st.Client)
	if err != nil {
		return err
	}
	defer client.Close()
	server, err := netns.Open(st.Server)
	if err != nil {
		return err
	}
	defer server.Close()
	deleteNftTable(client, st.Name)
	deleteNftTable(server, st.Name)
	return setLoss(client, server, st)
}
