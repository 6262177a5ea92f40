package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mptcpkit/mptcpkit/lab"
)

// Port is where nbdkit listens (the NBD port).
const Port = 10809

// Workload is one fio job shape.
type Workload struct {
	Name      string `json:"name"`
	RW        string `json:"rw"` // fio --rw
	BlockSize int    `json:"block_size"`
	Jobs      int    `json:"jobs"`
	IODepth   int    `json:"iodepth"`
}

// The reference run's workload and the sequential row.
var (
	RandRead4K  = Workload{Name: "4k randread", RW: "randread", BlockSize: 4096, Jobs: 4, IODepth: 256}
	SeqRead128K = Workload{Name: "128k read", RW: "read", BlockSize: 128 << 10, Jobs: 4, IODepth: 32}
)

// DefaultWorkloads are the rows `lab storage` runs.
func DefaultWorkloads() []Workload { return []Workload{RandRead4K, SeqRead128K} }

// Client is how the client side speaks NBD.
type Client string

const (
	// ClientLibNBD is fio's nbd engine (libnbd), all in user space.
	ClientLibNBD Client = "libnbd"
	// ClientKernel is the kernel's /dev/nbdX, connected by nbd-client,
	// with fio's libaio engine on the device. The kernel takes only TCP
	// sockets for nbd, so nbd-client connects to a relay in the client
	// namespace that carries each connection to the server over TCP or
	// MPTCP (see relay).
	ClientKernel Client = "kernel"
)

// Config describes a storage run.
type Config struct {
	// Lab names an existing lab to use (it is left as it is); "" builds
	// one named Name and removes it afterwards.
	Lab  string
	Name string // default "storage"
	// Paths, Rate, Loss and CC shape the lab that is built (default 2
	// paths x 100 Mbit/s, no loss).
	Paths int
	Rate  uint64
	Loss  float64
	CC    string
	// Duration is fio's runtime per row (default 10 s).
	Duration  time.Duration
	Workloads []Workload // default DefaultWorkloads()
	Client    Client     // default ClientLibNBD
	// RcvBuf is the initial TCP receive buffer (net.ipv4.tcp_rmem's
	// middle value) set in both lab namespaces for the run, TCP and MPTCP
	// rows alike, and put back afterwards: 0 = DefaultRcvBuf, -1 = leave
	// the namespaces' own (the kernel's 128 KiB: MPTCP rows then stall
	// now and then, see docs/BENCHMARKS.md).
	RcvBuf int
	// Size is the exported disk's size (default 1 GiB; the memory plugin
	// allocates only what is written).
	Size int64
	// Exe is the mptcpkit executable that forces programs onto MPTCP
	// ("EXE run -- PROG"); "" = os.Executable(). ExeEnv is added to its
	// environment (tests).
	Exe    string
	ExeEnv []string
	// OutDir receives mptcpkit-storage.json and mptcpkit-storage.svg
	// ("" = the current directory, "-" = nothing written).
	OutDir   string
	Logger   *slog.Logger
	Progress func(string)
}

// Row is one fio run.
type Row struct {
	Workload Workload `json:"workload"`
	Mode     string   `json:"mode"` // "tcp" or "mptcp"
	Client   Client   `json:"client"`
	Seconds  float64  `json:"seconds"` // wall time of the fio run
	// Stalled is set when fio needed much longer than its runtime to
	// finish (more than StallGrace(runtime) beyond it): its in-flight I/O
	// crawled. Seen on MPTCP only, with the kernel's 128 KiB initial
	// receive buffer (RcvBuf -1), on Linux 6.18 and 6.12: see
	// docs/BENCHMARKS.md.
	// Also set when the client's MPTCP sockets dropped acknowledged data
	// beyond their receive window (WindowDrops > 0) and the clat p99 is
	// over StallP99(runtime): the milder form, where the in-flight reads
	// wait for MPTCP-level retransmissions but fio still ends in time.
	Stalled bool `json:"stalled,omitempty"`
	// WindowDrops is how much MPTcpExtNoDSSInWindow grew in the client
	// namespace during the run: segments that subflows acknowledged but
	// the MPTCP socket dropped as beyond its receive window.
	WindowDrops uint64 `json:"mptcp_window_drops"`
	// What fio measured (the workload's direction).
	IOs        uint64  `json:"ios"`
	IOPS       float64 `json:"iops"`
	BitsPerSec float64 `json:"throughput_bps"` // bits per second
	ClatP50US  float64 `json:"clat_p50_us"`    // completion latency, µs
	ClatP99US  float64 `json:"clat_p99_us"`
	// PathWireBytes is what each path's client interface sent plus
	// received during the run (headers included).
	PathWireBytes []uint64 `json:"path_wire_bytes"`
	Conns         Conns    `json:"connections"`
}

// Comparison puts a workload's TCP and MPTCP rows side by side.
type Comparison struct {
	Workload Workload `json:"workload"`
	TCP      *Row     `json:"tcp"`
	MPTCP    *Row     `json:"mptcp"`
	// Ratio is MPTCP IOPS / TCP IOPS.
	Ratio float64 `json:"ratio"`
}

// Reference is the published figure this run reproduces.
type Reference struct {
	What      string  `json:"what"`
	TCPIOPS   float64 `json:"tcp_iops"`
	MPTCPIOPS float64 `json:"mptcp_iops"`
	Ratio     float64 `json:"ratio"`
}

// TheReference is the NVMe/TCP figure from the reference talk.
var TheReference = Reference{
	What:      "NVMe/TCP (patched kernel), fio 4k randread, 4 jobs, iodepth 256, 2 x 1 Gbit/s",
	TCPIOPS:   28000,
	MPTCPIOPS: 54700,
	Ratio:     54700.0 / 28000.0,
}

// Report is what Run measured.
type Report struct {
	Started     time.Time    `json:"started"`
	Host        lab.Host     `json:"host"`
	Lab         *lab.Testbed `json:"lab"`
	Client      Client       `json:"client"`
	ExportBytes int64        `json:"export_bytes"`
	Seconds     float64      `json:"seconds_per_run"` // fio's runtime
	RcvBuf      int          `json:"tcp_rmem_default,omitempty"`
	Rows        []Row        `json:"rows"`
	Comparisons []Comparison `json:"comparisons"`
	Reference   Reference    `json:"reference"`
	JSONFile    string       `json:"json_file,omitempty"`
	ChartFile   string       `json:"chart_file,omitempty"`
}

func (cfg *Config) defaults() error {
	if cfg.Name == "" {
		cfg.Name = "storage"
	}
	if cfg.Paths == 0 {
		cfg.Paths = 2
	}
	if cfg.Rate == 0 {
		cfg.Rate = lab.DefaultRate
	}
	if cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Duration < time.Second {
		return fmt.Errorf("storage: duration %v: want at least 1s (fio's runtime is in seconds)", cfg.Duration)
	}
	if cfg.Workloads == nil {
		cfg.Workloads = DefaultWorkloads()
	}
	for _, w := range cfg.Workloads {
		if w.BlockSize < 512 || w.Jobs < 1 || w.IODepth < 1 || w.RW == "" {
			return fmt.Errorf("storage: workload %+v: want rw, block size >= 512, jobs and iodepth >= 1", w)
		}
	}
	if cfg.Client == "" {
		cfg.Client = ClientLibNBD
	}
	if cfg.Client != ClientLibNBD && cfg.Client != ClientKernel {
		return fmt.Errorf("storage: client %q: want %q or %q", cfg.Client, ClientLibNBD, ClientKernel)
	}
	if cfg.RcvBuf == 0 {
		cfg.RcvBuf = DefaultRcvBuf
	}
	if cfg.RcvBuf < -1 || (cfg.RcvBuf > 0 && cfg.RcvBuf < 4096) {
		return fmt.Errorf("storage: receive buffer %d: want at least 4096 bytes, 0 for the default (%d) or -1 to leave the kernel's", cfg.RcvBuf, DefaultRcvBuf)
	}
	if cfg.Size == 0 {
		cfg.Size = 1 << 30
	}
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		cfg.Exe = exe
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Progress == nil {
		cfg.Progress = func(string) {}
	}
	return checkTools(cfg.Client)
}

func checkTools(c Client) error {
	bins := []string{"nbdkit", "fio"}
	if c == ClientKernel {
		bins = append(bins, "nbd-client")
	}
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%s not found: install it (apt-get install nbdkit fio nbd-client)", b)
		}
	}
	if c == ClientLibNBD {
		out, err := exec.Command("fio", "--enghelp").CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("\tnbd\n")) {
			return errors.New("this fio has no nbd engine (fio --enghelp does not list nbd): use a fio built with libnbd (Debian's is), or --client kernel")
		}
	}
	return nil
}

// Run measures every workload over TCP (path 1) and then over MPTCP (all
// paths), on a lab it builds (and removes again, also on error) or on
// cfg.Lab.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.Client == ClientKernel {
		if err := LoadNBD(); err != nil {
			return nil, err
		}
	}
	var st *lab.Testbed
	if cfg.Lab != "" {
		if st, err = lab.Load(cfg.Lab); err != nil {
			return nil, err
		}
	} else {
		cfg.Progress(fmt.Sprintf("building lab %s: %d paths x %s", cfg.Name, cfg.Paths, lab.FormatRate(cfg.Rate)))
		st, err = lab.Up(ctx, lab.Config{Name: cfg.Name, Paths: cfg.Paths, Rate: []uint64{cfg.Rate}, Loss: []float64{cfg.Loss}, CC: cfg.CC, Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("lab up: %w", err)
		}
		defer func() {
			cfg.Progress(fmt.Sprintf("removing lab %s", cfg.Name))
			if derr := lab.Down(cfg.Name, cfg.Logger); derr != nil {
				err = errors.Join(err, fmt.Errorf("lab down: %w", derr))
			}
		}()
	}
	rep = &Report{Started: time.Now().UTC().Truncate(time.Second), Host: lab.ThisHost(), Lab: st, Client: cfg.Client, ExportBytes: cfg.Size, Seconds: math.Ceil(cfg.Duration.Seconds()), Reference: TheReference}
	if cfg.RcvBuf > 0 {
		restore, err := setRcvBuf(labNamespaces(st), cfg.RcvBuf)
		defer func() {
			if rerr := restore(); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}()
		if err != nil {
			return rep, err
		}
		rep.RcvBuf = cfg.RcvBuf
	}
	for _, mode := range []string{"tcp", "mptcp"} {
		rows, err := runMode(ctx, &cfg, st, mode)
		rep.Rows = append(rep.Rows, rows...)
		if err != nil {
			return rep, err
		}
	}
	rep.compare()
	if cfg.OutDir != "-" {
		if err := rep.write(cfg.OutDir); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func (r *Report) compare() {
	r.Comparisons = nil
	for i := range r.Rows {
		t := &r.Rows[i]
		if t.Mode != "tcp" {
			continue
		}
		for j := range r.Rows {
			m := &r.Rows[j]
			if m.Mode == "mptcp" && m.Workload == t.Workload {
				c := Comparison{Workload: t.Workload, TCP: t, MPTCP: m}
				if t.IOPS > 0 {
					c.Ratio = m.IOPS / t.IOPS
				}
				r.Comparisons = append(r.Comparisons, c)
			}
		}
	}
}

// Ratio returns the MPTCP/TCP IOPS ratio of workload w (0 if not run).
func (r *Report) Ratio(w Workload) float64 {
	for _, c := range r.Comparisons {
		if c.Workload == w {
			return c.Ratio
		}
	}
	return 0
}

func (r *Report) write(dir string) error {
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r.JSONFile = filepath.Join(dir, "mptcpkit-storage.json")
	r.ChartFile = filepath.Join(dir, "mptcpkit-storage.svg")
	if err := os.WriteFile(r.ChartFile, []byte(r.SVG()), 0o644); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(r.JSONFile, append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func runMode(ctx context.Context, cfg *Config, st *lab.Testbed, mode string) (rows []Row, err error) {
	srv, err := startServer(ctx, cfg, st, mode, cfg.Size)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, srv.stop()) }()
	target := "nbd://" + st.Paths[0].ServerAddr.String() + ":" + strconv.Itoa(Port) + "/"
	fioEngine := []string{"--ioengine=nbd", "--uri=" + target}
	if cfg.Client == ClientKernel {
		rl, err := startRelay(st.Client, mode, net.JoinHostPort(st.Paths[0].ServerAddr.String(), strconv.Itoa(Port)), cfg.Logger)
		if err != nil {
			return nil, fmt.Errorf("relay for the kernel client: %w", err)
		}
		defer func() { err = errors.Join(err, rl.close()) }()
		dev, err := connectKernel(ctx, cfg, rl.addr())
		if err != nil {
			return nil, err
		}
		defer func() { err = errors.Join(err, disconnectKernel(dev)) }()
		fioEngine = []string{"--ioengine=libaio", "--filename=" + dev}
	}
	for _, w := range cfg.Workloads {
		cfg.Progress(fmt.Sprintf("%s %s: fio %s, %d jobs, iodepth %d, %v", mode, cfg.Client, w.Name, w.Jobs, w.IODepth, cfg.Duration))
		row, err := measure(ctx, cfg, st, mode, w, fioEngine)
		if err != nil {
			return rows, fmt.Errorf("%s %s: %w", mode, w.Name, err)
		}
		stalled := ""
		if row.Stalled {
			stalled = fmt.Sprintf(" - STALLED: fio took %.1f s for a %v run, clat p99 %.0f ms, %d MPTCP receive-window drops", row.Seconds, cfg.Duration, row.ClatP99US/1000, row.WindowDrops)
		}
		cfg.Progress(fmt.Sprintf("  %.0f IOPS, %.1f MiB/s, clat p50 %.1f ms p99 %.1f ms, %d MPTCP connection(s) with %d subflows%s",
			row.IOPS, row.BitsPerSec/8/(1<<20), row.ClatP50US/1000, row.ClatP99US/1000, row.Conns.MPTCP, row.Conns.Subflows, stalled))
		rows = append(rows, row)
	}
	return rows, nil
}

// StallGrace is how long past its runtime a fio run may take (start-up
// and draining its in-flight I/O: up to ~3.5 s for 4k reads at 10
// Mbit/s in an emulated guest) before the row counts as stalled. The
// stalls seen took 9 s and more past a 3 s runtime.
func StallGrace(runtime time.Duration) time.Duration {
	return max(5*time.Second, runtime)
}

// StallP99 is the clat p99 over which a row whose MPTCP sockets dropped
// acknowledged data (Row.WindowDrops) counts as stalled: half the runtime,
// at least 1 s. Healthy 4k rows at 2 x 100 Mbit/s have p99 0.3-1.5 s;
// the mild stalls 2.9-5.1 s in 3 s runs.
func StallP99(runtime time.Duration) time.Duration {
	return max(time.Second, runtime/2)
}

// fioArgs are the fio arguments of a time-based run of w.
func fioArgs(w Workload, d time.Duration, engine []string, out string) []string {
	secs := int(math.Ceil(d.Seconds()))
	args := []string{"fio", "--name=" + w.RW, "--rw=" + w.RW, "--bs=" + strconv.Itoa(w.BlockSize),
		"--numjobs=" + strconv.Itoa(w.Jobs), "--iodepth=" + strconv.Itoa(w.IODepth),
		"--direct=1", "--time_based", "--runtime=" + strconv.Itoa(secs),
		"--group_reporting", "--output-format=json", "--output=" + out}
	return append(args, engine...)
}

func measure(ctx context.Context, cfg *Config, st *lab.Testbed, mode string, w Workload, engine []string) (Row, error) {
	row := Row{Workload: w, Mode: mode, Client: cfg.Client}
	dir, err := os.MkdirTemp("", "mptcpkit-storage-")
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "fio.json")
	// With the kernel client fio only reads a local device: the sockets
	// to the server are the relay's.
	fioMode := mode
	if cfg.Client == ClientKernel {
		fioMode = "tcp"
	}
	cmd := cfg.command(st.Client, fioMode, fioArgs(w, cfg.Duration, engine, out)...)
	cmd.Dir = dir // fio writes its files (if any) where it runs
	before, err := lab.Counters(st)
	if err != nil {
		return row, err
	}
	drops0, err := windowDrops(st.Client)
	if err != nil {
		return row, err
	}
	watch, err := startWatch(st, Port, 200*time.Millisecond)
	if err != nil {
		return row, err
	}
	t0 := time.Now()
	cctx, cancel := context.WithTimeout(ctx, cfg.Duration+time.Minute)
	defer cancel()
	runErr := runCmd(cctx, cmd)
	row.Seconds = time.Since(t0).Seconds()
	rt := time.Duration(math.Ceil(cfg.Duration.Seconds())) * time.Second
	row.Stalled = row.Seconds > (rt + StallGrace(rt)).Seconds()
	conns, werr := watch.stop()
	if runErr != nil {
		return row, fmt.Errorf("fio: %w", runErr)
	}
	if werr != nil {
		return row, fmt.Errorf("socket diagnostics: %w", werr)
	}
	row.Conns = conns
	after, err := lab.Counters(st)
	if err != nil {
		return row, err
	}
	for i := range after {
		row.PathWireBytes = append(row.PathWireBytes, (after[i].TxBytes-before[i].TxBytes)+(after[i].RxBytes-before[i].RxBytes))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return row, fmt.Errorf("fio wrote no report: %w", err)
	}
	res, err := ParseFio(b)
	if err != nil {
		return row, err
	}
	d := res.Read
	if w.RW == "write" || w.RW == "randwrite" {
		d = res.Write
	}
	if d.IOs == 0 {
		return row, fmt.Errorf("fio completed no %s I/O in %v", w.RW, cfg.Duration)
	}
	row.IOs, row.IOPS, row.BitsPerSec, row.ClatP50US, row.ClatP99US = d.IOs, d.IOPS, d.BitsPerSec, d.ClatP50US, d.ClatP99US
	drops1, err := windowDrops(st.Client)
	if err != nil {
		return row, err
	}
	row.WindowDrops = drops1 - drops0
	if row.WindowDrops > 0 && row.ClatP99US > float64(StallP99(rt).Microseconds()) {
		row.Stalled = true
	}
	return row, nil
}
