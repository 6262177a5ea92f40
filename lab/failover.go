package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// FailoverConfig describes `lab failover`.
type FailoverConfig struct {
	Name     string        // lab name (default "failover")
	Rate     uint64        // per path (default 100 Mbit/s)
	Duration time.Duration // transfer length (default 25 s)
	Path     int           // the path that fails (default 1)
	DownAt   time.Duration // default 5 s
	DownFor  time.Duration // default 8 s
	Server   bool          // fail the server-side interface instead
	CC       string
	Logger   *slog.Logger
	Progress func(string)
}

// FailoverReport is what `lab failover` measured.
type FailoverReport struct {
	Host     Host            `json:"host"`
	Lab      *Testbed        `json:"lab"`
	Transfer *TransferReport `json:"transfer"`
}

// Failover builds a 2-path lab, runs a checked MPTCP transfer during which
// one path goes down and comes back, and removes the lab.
func Failover(ctx context.Context, cfg FailoverConfig) (rep *FailoverReport, err error) {
	if cfg.Name == "" {
		cfg.Name = "failover"
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Duration == 0 {
		cfg.Duration = 25 * time.Second
	}
	if cfg.Path == 0 {
		cfg.Path = 1
	}
	if cfg.DownAt == 0 {
		cfg.DownAt = 5 * time.Second
	}
	if cfg.DownFor == 0 {
		cfg.DownFor = 8 * time.Second
	}
	if cfg.Path < 1 || cfg.Path > 2 {
		return nil, fmt.Errorf("failover path %d: the lab has paths 1 and 2", cfg.Path)
	}
	if cfg.DownAt+cfg.DownFor >= cfg.Duration {
		return nil, fmt.Errorf("failover: the path comes back at %v, after the transfer ends (%v): lengthen -t", cfg.DownAt+cfg.DownFor, cfg.Duration)
	}
	say := cfg.Progress
	if say == nil {
		say = func(string) {}
	}
	say(fmt.Sprintf("building lab %s: 2 paths x %s", cfg.Name, FormatRate(cfg.Rate)))
	st, err := Up(ctx, Config{Name: cfg.Name, Paths: 2, Rate: []uint64{cfg.Rate}, CC: cfg.CC, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	defer func() {
		say(fmt.Sprintf("removing lab %s", cfg.Name))
		if derr := Down(cfg.Name, cfg.Logger); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	side := "client"
	if cfg.Server {
		side = "server"
	}
	say(fmt.Sprintf("MPTCP transfer for %v (cc %s); path %d (%s side) down at %v, up at %v", cfg.Duration, st.CCEffect, cfg.Path, side, cfg.DownAt, cfg.DownAt+cfg.DownFor))
	tr, err := Transfer(ctx, st, TransferConfig{
		Duration: cfg.Duration,
		Events: []LinkEvent{
			{At: cfg.DownAt, Path: cfg.Path, Up: false, Server: cfg.Server},
			{At: cfg.DownAt + cfg.DownFor, Path: cfg.Path, Up: true, Server: cfg.Server},
		},
	})
	if err != nil {
		return nil, err
	}
	return &FailoverReport{Host: ThisHost(), Lab: st, Transfer: tr}, nil
}
