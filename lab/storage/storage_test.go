package storage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/cli"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/lab"
	"github.com/mptcpkit/mptcpkit/lab/storage"
)

const mainEnv = "MPTCPKIT_STORAGE_TEST_MAIN"

// TestMain lets the test binary be `mptcpkit` too: the runs put nbdkit
// and fio on MPTCP with "EXE run -- ...".
func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Exit(cli.Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func exe(t *testing.T) string {
	t.Helper()
	e, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func labName(prefix string) string { return fmt.Sprintf("%s%d", prefix, os.Getpid()%100000) }

// TestStorageAggregates is the "done when": fio 4k random reads
// (4 jobs, iodepth 256) against nbdkit over 2 x 100 Mbit/s get at least
// 1.8x the IOPS over MPTCP that they get over TCP, with every NBD
// connection MPTCP with 2 subflows, no fallback, and path 2 carrying its
// share; the TCP run is plain TCP on path 1 only. Also the 128k
// sequential row, and the JSON report and chart.
func TestStorageAggregates(t *testing.T) {
	nstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	var rep *storage.Report
	for attempt := 1; ; attempt++ {
		var err error
		rep, err = storage.Run(ctx, storage.Config{
			Name:     labName("st"),
			Duration: 3 * time.Second,
			Exe:      exe(t),
			ExeEnv:   []string{mainEnv + "=1"},
			OutDir:   dir,
			Progress: func(s string) { t.Log(s) },
		})
		if err != nil {
			t.Fatal(err)
		}
		stalled := ""
		for _, r := range rep.Rows {
			if r.Stalled {
				stalled += fmt.Sprintf(" %s %s (%.1f s, clat p99 %.0f ms, %d MPTCP receive-window drops)", r.Mode, r.Workload.Name, r.Seconds, r.ClatP99US/1000, r.WindowDrops)
			}
			if r.Mode == "tcp" && r.WindowDrops > 0 {
				t.Errorf("TCP %s run: %d MPTCP receive-window drops counted, want 0", r.Workload.Name, r.WindowDrops)
			}
		}
		if rep.RcvBuf != storage.DefaultRcvBuf {
			t.Errorf("report's receive buffer %d, want %d", rep.RcvBuf, storage.DefaultRcvBuf)
		}
		if stalled == "" {
			break
		}
		// The MPTCP receive stall of docs/BENCHMARKS.md: rare with the
		// 16 MiB receive buffer (none in the runs measured; with the
		// kernel's 128 KiB 3 4k rows in 38), so a stall is run again at
		// most twice and a third one fails.
		if attempt == 3 {
			t.Fatalf("stalled in 3 attempts; last:%s", stalled)
		}
		t.Logf("attempt %d stalled:%s; running again", attempt, stalled)
	}
	if lab.Exists(labName("st")) {
		t.Errorf("lab %s left behind", labName("st"))
	}
	if len(rep.Comparisons) != 2 {
		t.Fatalf("%d comparisons, want 2 (4k randread, 128k read)", len(rep.Comparisons))
	}
	for _, c := range rep.Comparisons {
		tcp, mp := c.TCP, c.MPTCP
		t.Logf("%s: TCP %.0f IOPS (p50 %.1f p99 %.1f ms, paths %v, %+v); MPTCP %.0f IOPS (p50 %.1f p99 %.1f ms, paths %v, %+v, %d window drops): %.2fx",
			c.Workload.Name, tcp.IOPS, tcp.ClatP50US/1000, tcp.ClatP99US/1000, tcp.PathWireBytes, tcp.Conns,
			mp.IOPS, mp.ClatP50US/1000, mp.ClatP99US/1000, mp.PathWireBytes, mp.Conns, mp.WindowDrops, c.Ratio)
		jobs := c.Workload.Jobs
		if tcp.Conns.TCP != jobs || tcp.Conns.MPTCP != 0 {
			t.Errorf("%s TCP run: %d TCP and %d MPTCP connections, want %d and 0", c.Workload.Name, tcp.Conns.TCP, tcp.Conns.MPTCP, jobs)
		}
		if tcp.PathWireBytes[1] > tcp.PathWireBytes[0]/100 {
			t.Errorf("%s TCP run: path 2 carried %d bytes, path 1 %d: the TCP run must use path 1 only", c.Workload.Name, tcp.PathWireBytes[1], tcp.PathWireBytes[0])
		}
		if mp.Conns.MPTCP != jobs || mp.Conns.TCP != 0 || mp.Conns.Subflows != 2 || mp.Conns.Fallback {
			t.Errorf("%s MPTCP run: %+v, want %d MPTCP connections with 2 subflows each, no plain TCP, no fallback", c.Workload.Name, mp.Conns, jobs)
		}
		// Each path carries at least a third of the payload: the
		// subflows' own byte counters, by path.
		p := mp.Conns.PathPayload
		if total := p[0] + p[1]; p[0] < total/3 || p[1] < total/3 {
			t.Errorf("%s MPTCP run: subflow payload per path %v: want each path to carry at least a third", c.Workload.Name, p)
		}
		if c.Ratio < 1.8 {
			t.Errorf("%s: MPTCP/TCP IOPS %.2f, want >= 1.8 on 2 equal paths", c.Workload.Name, c.Ratio)
		}
	}
	if rep.Ratio(storage.RandRead4K) < 1.8 {
		t.Errorf("4k randread ratio %.2f", rep.Ratio(storage.RandRead4K))
	}
	js, err := os.ReadFile(rep.JSONFile)
	if err != nil || !strings.Contains(string(js), `"ratio"`) {
		t.Errorf("report %s: %v", rep.JSONFile, err)
	}
	svg, err := os.ReadFile(rep.ChartFile)
	if err != nil || !strings.Contains(string(svg), "4k randread") || !strings.HasSuffix(string(svg), "</svg>\n") {
		t.Errorf("chart %s: %v", rep.ChartFile, err)
	}
}

// TestVerifyThroughPathFailure: fio writes 64 MiB through NBD over MPTCP
// and reads it back checking every block (crc32c) while path 1 - the
// initial subflow's - is down for 3 s in the middle: no I/O error, no
// verify error, every byte written and verified, and both paths carried
// data.
func TestVerifyThroughPathFailure(t *testing.T) {
	nstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := labName("sv")
	st, err := lab.Up(ctx, lab.Config{Name: name, Paths: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Down(name, nil); err != nil {
			t.Error(err)
		}
	})
	rep, err := storage.Verify(ctx, storage.VerifyConfig{Lab: st, Exe: exe(t), ExeEnv: []string{mainEnv + "=1"}})
	t.Logf("%+v", rep)
	if err != nil {
		t.Fatal(err)
	}
	if rep.UpAt < 0 || rep.DownAt > rep.FioEnd {
		t.Errorf("path down at %.1f s, up at %.1f s, fio ended %.1f s: the failure was not during the I/O", rep.DownAt, rep.UpAt, rep.FioEnd)
	}
	if rep.Conns.MPTCP != 2 || rep.Conns.Fallback || rep.Conns.Subflows < 2 {
		t.Errorf("connections %+v: want 2 MPTCP connections with 2 subflows, no fallback", rep.Conns)
	}
	if rep.PathWireBytes[0] < 4<<20 || rep.PathWireBytes[1] < 4<<20 {
		t.Errorf("path bytes %v: both paths should have carried data", rep.PathWireBytes)
	}
}

// TestKernelClientWithoutNBD: where the kernel has no nbd driver, the
// kernel client says so (ErrNoKernelNBD) before building anything.
func TestKernelClientWithoutNBD(t *testing.T) {
	if _, err := os.Stat("/sys/module/nbd"); err == nil {
		t.Skip("this kernel has nbd: TestKernelClient covers it")
	}
	if err := storage.LoadNBD(); err == nil {
		t.Skip("nbd module loaded: TestKernelClient covers it")
	}
	name := labName("sk")
	var steps []string
	_, err := storage.Run(context.Background(), storage.Config{Name: name, Client: storage.ClientKernel, Exe: exe(t), OutDir: "-",
		Progress: func(s string) { steps = append(steps, s) }})
	if !errors.Is(err, storage.ErrNoKernelNBD) || !strings.Contains(err.Error(), "kernel has no nbd module") {
		t.Fatalf("err = %v, want ErrNoKernelNBD", err)
	}
	if len(steps) > 0 {
		t.Errorf("it did %q before finding out", steps)
	}
	if lab.Exists(name) {
		t.Errorf("lab %s left behind", name)
	}
}

// TestKernelClient (needs the kernel's nbd module: the VM matrix; this
// host's kernel has none and TestKernelClientWithoutNBD covers that):
// /dev/nbdX connected by nbd-client through the relay, fio with libaio on
// the device, TCP vs MPTCP on 2 x 10 Mbit/s (the matrix runs under TCG
// emulation: low rates keep the guest's CPU out of the result): the
// relay's connections are MPTCP with 2 subflows each and both paths carry
// the I/O.
func TestKernelClient(t *testing.T) {
	nstest.Require(t)
	if err := storage.LoadNBD(); errors.Is(err, storage.ErrNoKernelNBD) {
		t.Skipf("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := storage.Run(ctx, storage.Config{
		Name:      labName("sk"),
		Rate:      10_000_000,
		Duration:  5 * time.Second,
		Client:    storage.ClientKernel,
		Workloads: []storage.Workload{storage.RandRead4K},
		Exe:       exe(t),
		ExeEnv:    []string{mainEnv + "=1"},
		OutDir:    "-",
		Progress:  func(s string) { t.Log(s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Comparisons[0]
	t.Logf("TCP %.0f IOPS %+v %v %.1f s stalled %v; MPTCP %.0f IOPS %+v %v %.1f s stalled %v: %.2fx", c.TCP.IOPS, c.TCP.Conns, c.TCP.PathWireBytes, c.TCP.Seconds, c.TCP.Stalled,
		c.MPTCP.IOPS, c.MPTCP.Conns, c.MPTCP.PathWireBytes, c.MPTCP.Seconds, c.MPTCP.Stalled, c.Ratio)
	// nbd-client opens 4 connections, but the kernel's nbd driver maps
	// them to blk-mq queues used per CPU: with 2 CPUs 2 of them carry the
	// I/O. Every one that does must be MPTCP with 2 subflows.
	if c.TCP.Conns.TCP < 1 || c.TCP.Conns.MPTCP != 0 {
		t.Errorf("TCP run: %+v, want plain TCP connections only", c.TCP.Conns)
	}
	if c.MPTCP.Conns.MPTCP < 1 || c.MPTCP.Conns.Subflows != 2 || c.MPTCP.Conns.Fallback || c.MPTCP.Conns.TCP != 0 {
		t.Errorf("MPTCP run: %+v, want MPTCP connections only, 2 subflows each, no fallback", c.MPTCP.Conns)
	}
	// Both paths carry the I/O. The IOPS ratio is logged, not asserted:
	// in the TCG guests of the matrix it measures the emulator's CPU
	// share on a loaded host more than the paths (6.1: 1.84-1.97x; 6.12:
	// 1.29-1.90x, and fio's own nbd engine in the same 6.12 guest once
	// 1.16x); docs/BENCHMARKS.md has the figures. TestStorageAggregates
	// holds the 1.8x bound where the host kernel runs it.
	if p := c.MPTCP.Conns.PathPayload; p[0] < (p[0]+p[1])/3 || p[1] < (p[0]+p[1])/3 {
		t.Errorf("MPTCP run: payload per path %v, want each path at least a third", p)
	}
	if c.TCP.PathWireBytes[1] > c.TCP.PathWireBytes[0]/100 {
		t.Errorf("TCP run: path 2 carried %d bytes of %d: the TCP run must use path 1 only", c.TCP.PathWireBytes[1], c.TCP.PathWireBytes[0])
	}
}
