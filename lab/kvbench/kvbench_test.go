package kvbench_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/cli"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/lab/kvbench"
)

const mainEnv = "MPTCPKIT_KVBENCH_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Exit(cli.Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestForcedRedis: redis-benchmark under `mptcpkit run` against
// redis-server under `mptcpkit run` in a two-path lab: the server
// namespace's MPCapableSYNRX counter proves every client connection was
// MPTCP; the same programs without run make none.
func TestForcedRedis(t *testing.T) {
	nstest.Require(t)
	if emulated, _ := nstest.Emulated(); emulated {
		t.Skip("throughput comparison: meaningless under qemu TCG emulation (and the kernel matrix's VMs have no redis)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rows, err := kvbench.Run(ctx, kvbench.Config{
		Name:     fmt.Sprintf("kv%d", os.Getpid()%100000),
		Exe:      exe,
		ExeEnv:   []string{mainEnv + "=1"},
		Losses:   []float64{0},
		Sizes:    []int{1024},
		Pipeline: []int{1},
		Clients:  20,
		Requests: func(int, int) int { return 2000 },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4 (tcp/mptcp x SET/GET)", len(rows))
	}
	for _, r := range rows {
		t.Logf("%+v", r)
		if r.RPS <= 0 || r.P50US <= 0 {
			t.Errorf("%s %s: no result: %+v", r.Mode, r.Test, r)
		}
		switch r.Mode {
		case "mptcp":
			// redis-benchmark opens its 20 clients plus a few probe connections
			if r.MPCapable < 20 {
				t.Errorf("%s %s: server saw %d MP_CAPABLE SYNs, want >= 20 (one per client)", r.Mode, r.Test, r.MPCapable)
			}
		case "tcp":
			if r.MPCapable != 0 {
				t.Errorf("%s %s: server saw %d MP_CAPABLE SYNs, want 0", r.Mode, r.Test, r.MPCapable)
			}
		}
		if r.Test == "SET" && r.PathBytes[0] < 2000*1024 {
			t.Errorf("%s SET: path 1 carried %d bytes, want at least the %d bytes of values", r.Mode, r.PathBytes[0], 2000*1024)
		}
	}
}
