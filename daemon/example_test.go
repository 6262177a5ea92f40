package daemon_test

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/policy"
)

// Run the daemon in this process's network namespace with a policy file,
// until SIGTERM; SIGHUP reloads the policy.
func ExampleRun() {
	p, err := policy.Load("/etc/mptcpkit/daemon.toml")
	if err != nil {
		slog.Error("bad policy", "err", err) // names the line and the fix
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{})
	go func() {
		for range hup {
			reload <- struct{}{}
		}
	}()
	err = daemon.Run(ctx, daemon.Config{
		Policy:      p,
		PolicyPath:  "/etc/mptcpkit/daemon.toml",
		StatePath:   daemon.DefaultStatePath,
		MetricsAddr: daemon.DefaultMetricsAddr,
		Logger:      slog.Default(),
		Reload:      reload,
	})
	if err != nil {
		slog.Error("daemon", "err", err)
	}
}
