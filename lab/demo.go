package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/bench"
)

// DemoConfig describes `lab demo`.
type DemoConfig struct {
	Name     string        // lab name (default "demo")
	Paths    int           // default 2
	Rate     uint64        // per path, default 100 Mbit/s
	Duration time.Duration // per run, default 5 s
	CC       string        // congestion control ("" = namespace default)
	// OutDir receives mptcpkit-demo.json and mptcpkit-demo.svg ("" =
	// DefaultDemoDir(); "-" = write nothing).
	OutDir     string
	Executable string
	Logger     *slog.Logger
	// Progress gets a line for each step and each interval (may be nil).
	Progress func(string)
}

// DemoReport is what `lab demo` measured.
type DemoReport struct {
	Started  time.Time    `json:"started"`
	Host     Host         `json:"host"`
	Lab      *Testbed     `json:"lab"`
	CC       string       `json:"congestion_control"`
	Duration float64      `json:"seconds_per_run"`
	TCP      *Measurement `json:"tcp"`
	MPTCP    *Measurement `json:"mptcp"`
	// Ratio is MPTCP goodput / TCP goodput.
	Ratio float64 `json:"ratio"`
	// Capacity is the sum of the path rates (Mbit/s).
	Capacity float64 `json:"-"` // JSON: capacity_bps
	// Files written.
	JSONFile  string `json:"json_file,omitempty"`
	ChartFile string `json:"chart_file,omitempty"`
}

// Host says where a figure was measured.
type Host struct {
	Kernel string     `json:"kernel"`
	CPUs   int        `json:"cpus"`
	Load   [3]float64 `json:"load_average"`
}

// ThisHost describes this machine.
func ThisHost() Host {
	var u unix.Utsname
	unix.Uname(&u)
	h := Host{Kernel: unix.ByteSliceToString(u.Release[:]), CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscanf(string(b), "%f %f %f", &h.Load[0], &h.Load[1], &h.Load[2])
	}
	return h
}

// Demo builds a lab (2 x 100 Mbit by default), runs bench over TCP (one
// path) and MPTCP (all paths), writes a JSON report and an SVG chart, and
// removes the lab again: on success, on failure, and when ctx is
// cancelled (Ctrl-C).
func Demo(ctx context.Context, cfg DemoConfig) (rep *DemoReport, err error) {
	if cfg.Name == "" {
		cfg.Name = "demo"
	}
	if cfg.Paths == 0 {
		cfg.Paths = 2
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Duration == 0 {
		cfg.Duration = 5 * time.Second
	}
	say := cfg.Progress
	if say == nil {
		say = func(string) {}
	}
	rep = &DemoReport{Started: time.Now().UTC().Truncate(time.Second), Host: ThisHost(), Duration: cfg.Duration.Seconds()}

	say(fmt.Sprintf("building lab %s: %d paths x %s (namespaces mk-%s-client, mk-%s-server)", cfg.Name, cfg.Paths, FormatRate(cfg.Rate), cfg.Name, cfg.Name))
	st, err := Up(ctx, Config{Name: cfg.Name, Paths: cfg.Paths, Rate: []uint64{cfg.Rate}, CC: cfg.CC, Executable: cfg.Executable, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	defer func() {
		say(fmt.Sprintf("removing lab %s", cfg.Name))
		if derr := Down(cfg.Name, cfg.Logger); derr != nil {
			err = errors.Join(err, fmt.Errorf("removing lab %s: %w", cfg.Name, derr))
		}
	}()
	rep.Lab = st
	rep.CC = st.CCEffect
	for _, p := range st.Paths {
		rep.Capacity += float64(p.Rate) / 1e6
	}
	b, err := StartBench(ctx, st, cfg.Logger)
	if err != nil {
		return nil, err
	}
	defer b.Close()

	for _, mode := range []bench.Mode{bench.ModeTCP, bench.ModeMPTCP} {
		what := "TCP (one path)"
		if mode == bench.ModeMPTCP {
			what = fmt.Sprintf("MPTCP (%d paths)", cfg.Paths)
		}
		say(fmt.Sprintf("running %s for %v, congestion control %s", what, cfg.Duration, rep.CC))
		m, err := b.Run(ctx, mode, cfg.Duration, func(iv bench.Interval) {
			if iv.End-iv.Start < 0.5 {
				return // the short tail of the run
			}
			say(fmt.Sprintf("  %-5s %4.1f-%4.1f s  %7.1f Mbit/s  %d subflow(s)", mode, iv.Start, iv.End, iv.BitsPerSecond/1e6, iv.Subflows))
		})
		if err != nil {
			return nil, fmt.Errorf("%v run: %w", mode, err)
		}
		if mode == bench.ModeTCP {
			rep.TCP = m
		} else {
			rep.MPTCP = m
		}
	}
	if rep.TCP.Mbps > 0 {
		rep.Ratio = rep.MPTCP.Mbps / rep.TCP.Mbps
	}
	if cfg.OutDir != "-" {
		dir := cfg.OutDir
		if dir == "" {
			dir = DefaultDemoDir()
		}
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		rep.JSONFile = filepath.Join(dir, "mptcpkit-demo.json")
		rep.ChartFile = filepath.Join(dir, "mptcpkit-demo.svg")
		if err := os.WriteFile(rep.ChartFile, []byte(rep.SVG()), 0o644); err != nil {
			return nil, fmt.Errorf("write chart: %w", err)
		}
		js, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(rep.JSONFile, append(js, '\n'), 0o644); err != nil {
			return nil, fmt.Errorf("write report: %w", err)
		}
	}
	return rep, nil
}

// SVG draws the report as bars: TCP and MPTCP goodput, the MPTCP bar split
// by the bytes each path carried, against the paths' total capacity.
func (r *DemoReport) SVG() string {
	const w, left, barW, h = 640.0, 150.0, 440.0, 230.0
	scale := barW / max(r.Capacity, r.MPTCP.Mbps, r.TCP.Mbps, 1)
	colors := []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7"}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" font-family="sans-serif" font-size="13">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="15" font-weight="bold">%s</text>`+"\n",
		html.EscapeString(fmt.Sprintf("mptcpkit lab demo: %d paths x %s, cc %s — MPTCP %.2fx TCP", len(r.Lab.Paths), FormatRate(r.Lab.Paths[0].Rate), r.CC, r.Ratio)))
	bar := func(y float64, label string, mbps float64, parts []float64) {
		fmt.Fprintf(&b, `<text x="10" y="%g">%s</text>`+"\n", y+22, html.EscapeString(label))
		x := left
		total := 0.0
		for _, p := range parts {
			total += p
		}
		for i, p := range parts {
			pw := 0.0
			if total > 0 {
				pw = mbps * scale * p / total
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%g" width="%.1f" height="34" fill="%s"><title>path %d</title></rect>`+"\n", x, y, pw, colors[i%len(colors)], i+1)
			x += pw
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%g">%.1f Mbit/s</text>`+"\n", x+6, y+22, mbps)
	}
	parts := func(m *Measurement) []float64 {
		var out []float64
		for _, p := range m.Paths {
			out = append(out, float64(p.WireBytes))
		}
		return out
	}
	bar(45, "TCP (1 path)", r.TCP.Mbps, parts(r.TCP))
	bar(95, fmt.Sprintf("MPTCP (%d paths)", len(r.Lab.Paths)), r.MPTCP.Mbps, parts(r.MPTCP))
	cx := left + r.Capacity*scale
	fmt.Fprintf(&b, `<line x1="%.1f" y1="40" x2="%.1f" y2="140" stroke="black" stroke-dasharray="4 3"/>`+"\n", cx, cx)
	fmt.Fprintf(&b, `<text x="%.1f" y="155" text-anchor="end">capacity %.0f Mbit/s</text>`+"\n", cx, r.Capacity)
	for i := range r.Lab.Paths {
		x := 10 + float64(i)*110
		fmt.Fprintf(&b, `<rect x="%g" y="175" width="14" height="14" fill="%s"/><text x="%g" y="187">path %d</text>`+"\n", x, colors[i%len(colors)], x+20, i+1)
	}
	fmt.Fprintf(&b, `<text x="10" y="215" font-size="11" fill="#555">%s</text>`+"\n", html.EscapeString(fmt.Sprintf("%s, kernel %s, %d CPUs, load %.2f; %.0f s per run; bars split by bytes sent per path",
		r.Started.Format(time.RFC3339), r.Host.Kernel, r.Host.CPUs, r.Host.Load[0], r.Duration)))
	b.WriteString("</svg>\n")
	return b.String()
}

// DefaultDemoDir is where `lab demo` writes its report when not told:
// $XDG_STATE_HOME/mptcpkit/demo, else ~/.local/state/mptcpkit/demo, else
// (no home) the system's temporary directory's mptcpkit-demo. Never the
// current directory, which may be a source checkout or not writable.
func DefaultDemoDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "mptcpkit", "demo")
	}
	if h, err := os.UserHomeDir(); err == nil && filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "mptcpkit", "demo")
	}
	return filepath.Join(os.TempDir(), "mptcpkit-demo")
}
