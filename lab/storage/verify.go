package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mptcpkit/mptcpkit/lab"
)

// VerifyConfig describes a write-then-verify run over MPTCP with a path
// failure in the middle.
type VerifyConfig struct {
	// Lab is the lab to use (it must exist; Verify leaves it up).
	Lab *lab.Testbed
	// Jobs fio jobs each write Bytes (default 2 x 32 MiB) in BlockSize
	// blocks (default 64 KiB), then read everything back and check it.
	Jobs      int
	Bytes     int64
	BlockSize int
	// FailPath goes down DownAt (default 1 s) after fio's connections
	// carry data and comes back DownFor (default 3 s) later; 0 = path 1 (the initial
	// subflow's). Server fails the server-side interface instead.
	FailPath int
	DownAt   time.Duration
	DownFor  time.Duration
	Server   bool
	Exe      string // as in Config
	ExeEnv   []string
	Logger   *slog.Logger
}

// VerifyReport is what Verify saw.
type VerifyReport struct {
	Written  uint64  `json:"written_bytes"`
	Verified uint64  `json:"verified_bytes"` // read back and checked (crc32c)
	Seconds  float64 `json:"seconds"`
	// Connected is when every job's connection carried data, DownAt and
	// UpAt when the path went down and up, FioEnd when fio finished:
	// seconds after fio started.
	FailPath      int      `json:"fail_path"`
	Connected     float64  `json:"connected_s"`
	DownAt        float64  `json:"down_at_s"`
	UpAt          float64  `json:"up_at_s"`
	FioEnd        float64  `json:"fio_end_s"`
	PathWireBytes []uint64 `json:"path_wire_bytes"`
	Conns         Conns    `json:"connections"`
}

// Verify runs fio's verify mode over NBD, nbdkit and fio both under
// `mptcpkit run`, and takes a path down and up while it runs. It fails if
// fio reports any error (I/O or verify) or did not write and verify every
// byte.
func Verify(ctx context.Context, vc VerifyConfig) (*VerifyReport, error) {
	if vc.Lab == nil {
		return nil, errors.New("storage: Verify needs a lab")
	}
	if vc.Jobs == 0 {
		vc.Jobs = 2
	}
	if vc.Bytes == 0 {
		vc.Bytes = 32 << 20
	}
	if vc.BlockSize == 0 {
		vc.BlockSize = 64 << 10
	}
	if vc.FailPath == 0 {
		vc.FailPath = 1
	}
	if vc.DownAt == 0 {
		vc.DownAt = time.Second
	}
	if vc.DownFor == 0 {
		vc.DownFor = 3 * time.Second
	}
	if vc.FailPath < 1 || vc.FailPath > len(vc.Lab.Paths) {
		return nil, fmt.Errorf("storage: fail path %d: lab %s has paths 1 to %d", vc.FailPath, vc.Lab.Name, len(vc.Lab.Paths))
	}
	cfg := Config{Exe: vc.Exe, ExeEnv: vc.ExeEnv, Logger: vc.Logger, Duration: time.Second, Workloads: []Workload{}}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	st := vc.Lab
	srv, err := startServer(ctx, &cfg, st, "mptcp", int64(vc.Jobs)*vc.Bytes)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	dir, err := os.MkdirTemp("", "mptcpkit-storage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "fio.json")
	cmd := cfg.command(st.Client, "mptcp", "fio", "--name=verify", "--rw=write",
		"--bs="+strconv.Itoa(vc.BlockSize), "--size="+strconv.FormatInt(vc.Bytes, 10),
		"--numjobs="+strconv.Itoa(vc.Jobs), "--offset_increment="+strconv.FormatInt(vc.Bytes, 10),
		"--iodepth=16", "--verify=crc32c", "--verify_fatal=1", "--do_verify=1", "--verify_state_save=0",
		"--group_reporting", "--output-format=json", "--output="+out,
		"--ioengine=nbd", "--uri=nbd://"+st.Paths[0].ServerAddr.String()+":"+strconv.Itoa(Port)+"/")
	cmd.Dir = dir // fio writes its files (if any) where it runs
	before, err := lab.Counters(st)
	if err != nil {
		return nil, err
	}
	watch, err := startWatch(st, Port, 200*time.Millisecond)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{FailPath: vc.FailPath, DownAt: -1, UpAt: -1}
	t0 := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	fioDone := make(chan error, 1)
	go func() { fioDone <- runCmd(cctx, cmd) }()

	// The link events, while fio runs; the link always comes back. The
	// clock for DownAt starts once every job's MPTCP connection carries
	// data: a path that fails before fio has connected tests nothing.
	var runErr error
	ended := false
	var down, up <-chan time.Time
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	pollC := poll.C
	for !ended || up != nil {
		select {
		case <-pollC:
			if watch.carrying() >= vc.Jobs {
				pollC = nil
				rep.Connected = time.Since(t0).Seconds()
				down = time.After(vc.DownAt)
			}
		case runErr = <-fioDone:
			ended = true
			rep.FioEnd = time.Since(t0).Seconds()
			fioDone = nil
			pollC, down = nil, nil // fio ended before the failure: reported below
		case <-down:
			down = nil
			if err := lab.SetLinkSide(st, vc.FailPath, vc.Server, false); err != nil {
				cancel()
				runErr = errors.Join(runErr, err)
			}
			rep.DownAt = time.Since(t0).Seconds()
			up = time.After(vc.DownFor)
		case <-up:
			up = nil
			if err := lab.SetLinkSide(st, vc.FailPath, vc.Server, true); err != nil {
				runErr = errors.Join(runErr, err)
			}
			rep.UpAt = time.Since(t0).Seconds()
		}
	}
	rep.Seconds = time.Since(t0).Seconds()
	conns, werr := watch.stop()
	rep.Conns = conns
	if runErr != nil {
		return rep, fmt.Errorf("fio verify: %w", runErr)
	}
	if werr != nil {
		return rep, fmt.Errorf("socket diagnostics: %w", werr)
	}
	after, err := lab.Counters(st)
	if err != nil {
		return rep, err
	}
	for i := range after {
		rep.PathWireBytes = append(rep.PathWireBytes, (after[i].TxBytes-before[i].TxBytes)+(after[i].RxBytes-before[i].RxBytes))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return rep, fmt.Errorf("fio wrote no report: %w", err)
	}
	res, err := ParseFio(b)
	if err != nil {
		return rep, err
	}
	rep.Written, rep.Verified = res.Write.Bytes, res.Read.Bytes
	want := uint64(vc.Jobs) * uint64(vc.Bytes)
	if rep.Written != want || rep.Verified != want {
		return rep, fmt.Errorf("fio wrote %d and verified %d bytes, want %d each", rep.Written, rep.Verified, want)
	}
	if rep.DownAt < 0 || rep.DownAt > rep.FioEnd {
		return rep, fmt.Errorf("fio ended (%.1f s) before path %d went down: nothing was tested (write more bytes)", rep.FioEnd, vc.FailPath)
	}
	return rep, nil
}
