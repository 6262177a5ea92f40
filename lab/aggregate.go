package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mptcpkit/mptcpkit/bench"
)

// AggregationConfig describes an aggregation benchmark: for each path
// count, a lab is built, bench runs plain TCP (path 1 only) and MPTCP (all
// paths), and the lab is removed.
type AggregationConfig struct {
	Name     string    // lab name (default "agg")
	Paths    []int     // path counts (default 1, 2, 4, 8)
	Rate     []uint64  // one for all paths or one per path (default 100 Mbit/s)
	Loss     []float64 // one for all paths or one per path
	Delay    []time.Duration
	Queue    int
	Duration time.Duration // per run (default 10 s)
	CC       string
	Logger   *slog.Logger
	Progress func(string)
}

// Aggregation is one path count's result.
type Aggregation struct {
	Paths       int             `json:"paths"`
	Rates       []uint64        `json:"rates_bps"`
	Loss        []float64       `json:"loss_percent"`
	Delay       []time.Duration `json:"-"` // JSON: delay_us
	DelayMethod string          `json:"delay_method,omitempty"`
	CC          string          `json:"congestion_control"`
	TCP         *Measurement    `json:"tcp"`
	MPTCP       *Measurement    `json:"mptcp"`
	// Efficiency is MPTCP goodput / what N single-path TCP connections
	// would get: TCP goodput on path 1 scaled by the sum of the rates over
	// path 1's rate (= N x TCP goodput for equal paths).
	Efficiency float64 `json:"efficiency"`
	Host       Host    `json:"host"`
}

// Aggregate runs the aggregation benchmark.
func Aggregate(ctx context.Context, cfg AggregationConfig) ([]Aggregation, error) {
	if cfg.Name == "" {
		cfg.Name = "agg"
	}
	if len(cfg.Paths) == 0 {
		cfg.Paths = []int{1, 2, 4, 8}
	}
	if cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	say := cfg.Progress
	if say == nil {
		say = func(string) {}
	}
	var out []Aggregation
	for _, n := range cfg.Paths {
		a, err := aggregateOne(ctx, cfg, n, say)
		if err != nil {
			return out, fmt.Errorf("%d paths: %w", n, err)
		}
		out = append(out, *a)
	}
	return out, nil
}

func aggregateOne(ctx context.Context, cfg AggregationConfig, n int, say func(string)) (a *Aggregation, err error) {
	lc := Config{Name: cfg.Name, Paths: n, Rate: cfg.Rate, Loss: cfg.Loss, Delay: cfg.Delay, Queue: cfg.Queue, CC: cfg.CC, Logger: cfg.Logger}
	say(fmt.Sprintf("%d path(s): building lab %s", n, cfg.Name))
	st, err := Up(ctx, lc)
	if err != nil {
		return nil, err
	}
	defer func() {
		if derr := Down(cfg.Name, cfg.Logger); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	b, err := StartBench(ctx, st, cfg.Logger)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	a = &Aggregation{Paths: n, CC: st.CCEffect, DelayMethod: st.Delay, Host: ThisHost()}
	var sum uint64
	for _, p := range st.Paths {
		a.Rates = append(a.Rates, p.Rate)
		a.Loss = append(a.Loss, p.Loss)
		a.Delay = append(a.Delay, p.Delay)
		sum += p.Rate
	}
	for _, m := range []bench.Mode{bench.ModeTCP, bench.ModeMPTCP} {
		say(fmt.Sprintf("%d path(s): %v for %v", n, m, cfg.Duration))
		r, err := b.Run(ctx, m, cfg.Duration, nil)
		if err != nil {
			return nil, err
		}
		say(fmt.Sprintf("%d path(s): %v %.1f Mbit/s", n, m, r.Mbps))
		if m == bench.ModeTCP {
			a.TCP = r
		} else {
			a.MPTCP = r
		}
	}
	if want := a.TCP.Mbps * float64(sum) / float64(st.Paths[0].Rate); want > 0 {
		a.Efficiency = a.MPTCP.Mbps / want
	}
	return a, nil
}
