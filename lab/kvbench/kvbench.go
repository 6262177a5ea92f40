package kvbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/mptcpkit/mptcpkit/lab"
)

// Config says which rows to run.
type Config struct {
	Name     string    // lab name (1-8 of [a-z0-9]); "" = "kv"
	Exe      string    // the mptcpkit executable; "" = os.Executable()
	ExeEnv   []string  // extra environment for Exe (tests)
	Losses   []float64 // per-path loss percentages; nil = 0 and 1
	Sizes    []int     // value sizes; nil = 1024, 4096, 16384
	Tests    []string  // "SET", "GET"; nil = both (SET runs first: GET reads its values)
	Pipeline []int     // pipeline depths; nil = 1 and 16 (16 only for the largest size)
	Clients  int       // 0 = 50
	Requests func(size, pipeline int) int
	Logger   *slog.Logger
	OnRow    func(Row) // called as each row completes
}

// Row is one measurement.
type Row struct {
	Mode      string   `json:"mode"` // "tcp" or "mptcp"
	Loss      float64  `json:"loss_percent"`
	Test      string   `json:"test"` // GET or SET
	Size      int      `json:"value_bytes"`
	Pipeline  int      `json:"pipeline"`
	Clients   int      `json:"clients"`
	Requests  int      `json:"requests"`
	RPS       float64  `json:"rps"`
	AvgUS     float64  `json:"avg_us"` // request latency, µs
	P50US     float64  `json:"p50_us"`
	P99US     float64  `json:"p99_us"`
	PathBytes []uint64 `json:"path_bytes"` // per path, both directions, client side
	MPCapable uint64   `json:"server_mpcapable_syn_rx"`
	Retried   bool     `json:"retried,omitempty"` // the first attempt failed
}

const port = 6379

func defaults(cfg *Config) error {
	if cfg.Name == "" {
		cfg.Name = "kv"
	}
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		cfg.Exe = exe
	}
	if cfg.Losses == nil {
		cfg.Losses = []float64{0, 1}
	}
	if cfg.Sizes == nil {
		cfg.Sizes = []int{1024, 4096, 16384}
	}
	if cfg.Tests == nil {
		cfg.Tests = []string{"SET", "GET"}
	}
	if cfg.Clients == 0 {
		cfg.Clients = 50
	}
	if cfg.Requests == nil {
		cfg.Requests = func(size, p int) int {
			// about 2-4 s per row on 2 x 100 Mbit/s
			n := 40_000_000 / (size + 200)
			if p > 1 {
				n *= 2
			}
			return min(max(n, 2000), 40000)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, b := range []string{"redis-server", "redis-benchmark", "redis-cli"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%s not found: install redis-server and redis-tools (apt-get install redis-server redis-tools)", b)
		}
	}
	return nil
}

// Run builds one lab per loss setting and measures every row in it; the
// labs are removed again, also on error.
func Run(ctx context.Context, cfg Config) ([]Row, error) {
	if err := defaults(&cfg); err != nil {
		return nil, err
	}
	var rows []Row
	for _, loss := range cfg.Losses {
		r, err := runLab(ctx, cfg, loss)
		rows = append(rows, r...)
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

func runLab(ctx context.Context, cfg Config, loss float64) (rows []Row, err error) {
	st, err := lab.Up(ctx, lab.Config{Name: cfg.Name, Paths: 2, Rate: []uint64{100_000_000}, Loss: []float64{loss}, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("lab up: %w", err)
	}
	defer func() {
		if derr := lab.Down(cfg.Name, cfg.Logger); derr != nil {
			err = errors.Join(err, fmt.Errorf("lab down: %w", derr))
		}
	}()
	server := st.Paths[0].ServerAddr.String()
	for _, mode := range []string{"tcp", "mptcp"} {
		srv, err := startServer(ctx, cfg, st, mode)
		if err != nil {
			return rows, err
		}
		for _, size := range cfg.Sizes {
			pipes := cfg.Pipeline
			if pipes == nil {
				pipes = []int{1}
				if size == cfg.Sizes[len(cfg.Sizes)-1] {
					pipes = append(pipes, 16)
				}
			}
			for _, p := range pipes {
				for _, test := range cfg.Tests {
					row, err := measure(ctx, cfg, st, server, mode, loss, test, size, p)
					if err != nil && ctx.Err() == nil {
						// One retry: a client connection that fails to set
						// up (seen once in ~100 rows) should not lose the table.
						cfg.Logger.Warn("kv row failed; retrying once", "err", err)
						row, err = measure(ctx, cfg, st, server, mode, loss, test, size, p)
						row.Retried = true
					}
					if err != nil {
						srv.Stop()
						return rows, err
					}
					rows = append(rows, row)
					if cfg.OnRow != nil {
						cfg.OnRow(row)
					}
				}
			}
		}
		if err := srv.Stop(); err != nil {
			return rows, err
		}
	}
	return rows, nil
}

func (cfg *Config) command(ns, mode string, args ...string) *exec.Cmd {
	return lab.Runner{Exe: cfg.Exe, Env: cfg.ExeEnv}.Command(ns, mode, args...)
}

func startServer(ctx context.Context, cfg Config, st *lab.Testbed, mode string) (*lab.Process, error) {
	cmd := cfg.command(st.Server, mode, "redis-server", "--port", strconv.Itoa(port), "--bind", "0.0.0.0",
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	s, err := lab.Start("redis-server", cmd)
	if err != nil {
		return nil, err
	}
	// wait until it answers
	err = s.Ready(ctx, 100*time.Millisecond, 10*time.Second, func() bool {
		ping := cfg.command(st.Client, "tcp", "redis-cli", "-h", st.Paths[0].ServerAddr.String(), "-p", strconv.Itoa(port), "ping")
		out, err := ping.Output()
		return err == nil && strings.TrimSpace(string(out)) == "PONG"
	})
	if err == nil {
		return s, nil
	}
	s.Stop()
	switch {
	case errors.Is(err, lab.ErrExited):
		return nil, fmt.Errorf("redis-server (%s) exited: %v: %s", mode, s.Err(), stderr.String())
	case errors.Is(err, lab.ErrNotReady):
		return nil, fmt.Errorf("redis-server (%s) does not answer: %s", mode, stderr.String())
	}
	return nil, err
}

func measure(ctx context.Context, cfg Config, st *lab.Testbed, server, mode string, loss float64, test string, size, pipeline int) (Row, error) {
	n := cfg.Requests(size, pipeline)
	row := Row{Mode: mode, Loss: loss, Test: test, Size: size, Pipeline: pipeline, Clients: cfg.Clients, Requests: n}
	before, err := lab.Counters(st)
	if err != nil {
		return row, err
	}
	mpBefore, err := mpCapable(st.Server)
	if err != nil {
		return row, err
	}
	cmd := cfg.command(st.Client, mode, "redis-benchmark", "-h", server, "-p", strconv.Itoa(port),
		"-c", strconv.Itoa(cfg.Clients), "-n", strconv.Itoa(n), "-d", strconv.Itoa(size),
		"-P", strconv.Itoa(pipeline), "-t", strings.ToLower(test), "--csv")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	out, err := runCtx(cctx, cmd)
	if err != nil {
		return row, fmt.Errorf("redis-benchmark %s %d B (%s): %v: %s", test, size, mode, err, stderr.String())
	}
	if err := parseCSV(out, &row); err != nil {
		return row, err
	}
	after, err := lab.Counters(st)
	if err != nil {
		return row, err
	}
	for i := range after {
		row.PathBytes = append(row.PathBytes, (after[i].TxBytes-before[i].TxBytes)+(after[i].RxBytes-before[i].RxBytes))
	}
	mpAfter, err := mpCapable(st.Server)
	if err != nil {
		return row, err
	}
	row.MPCapable = mpAfter - mpBefore
	cfg.Logger.Debug("kv row", "mode", mode, "loss", loss, "test", test, "size", size, "pipeline", pipeline, "rps", row.RPS, "p50_us", row.P50US, "p99_us", row.P99US)
	return row, nil
}

func runCtx(ctx context.Context, cmd *exec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	p, err := lab.Start("redis-benchmark", cmd)
	if err != nil {
		return nil, err
	}
	if err := p.Wait(ctx); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// parseCSV reads redis-benchmark --csv output (7.x columns: test, rps,
// avg, min, p50, p95, p99, max latency in ms).
func parseCSV(out []byte, row *Row) error {
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		return fmt.Errorf("redis-benchmark output %q: %w", out, err)
	}
	for _, r := range recs {
		if len(r) < 7 || r[0] == "test" {
			continue
		}
		vals := make([]float64, 7)
		for i := 1; i < 7; i++ {
			if vals[i], err = strconv.ParseFloat(r[i], 64); err != nil {
				return fmt.Errorf("redis-benchmark column %d %q: %w", i, r[i], err)
			}
		}
		// redis-benchmark says ms; the report says µs.
		row.RPS, row.AvgUS, row.P50US, row.P99US = vals[1], vals[2]*1000, vals[4]*1000, vals[6]*1000
		return nil
	}
	return fmt.Errorf("no result in redis-benchmark output %q (needs redis-benchmark 7+ for --csv percentiles)", out)
}

// mpCapable reads MPTcpExtMPCapableSYNRX from /proc/net/netstat in ns.
func mpCapable(ns string) (uint64, error) {
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/netstat").Output()
	if err != nil {
		return 0, fmt.Errorf("read /proc/net/netstat in %s: %w", ns, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	var names []string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "MPTcpExt:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i := 1; i < len(f) && i < len(names); i++ {
			if names[i] == "MPCapableSYNRX" {
				return strconv.ParseUint(f[i], 10, 64)
			}
		}
	}
	return 0, errors.New("no MPTcpExt MPCapableSYNRX counter in /proc/net/netstat (kernel without MPTCP?)")
}
