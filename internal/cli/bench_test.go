package cli

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

func TestBenchUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "bench needs a verb: server or client"},
		{[]string{"bench", "fly"}, `bench: unknown verb "fly"`},
		{[]string{"bench", "client"}, "bench client needs the server's HOST"},
		{[]string{"bench", "client", "h1", "h2"}, `unexpected argument "h2" after HOST "h1"`},
		{[]string{"bench", "client", "h", "--tcp", "--mptcp"}, "--mptcp, --tcp and --compare exclude each other"},
		{[]string{"bench", "client", "h", "--compare", "--tcp"}, "exclude each other"},
		{[]string{"bench", "client", "h", "-t", "soon"}, `-t "soon" is not a number of seconds`},
		{[]string{"bench", "client", "h", "-t", "0"}, "-t 0 out of range"},
		{[]string{"bench", "client", "h", "-t", "-3"}, "is negative"},
		{[]string{"bench", "client", "h", "-P", "0"}, "-P 0 out of range 1..128"},
		{[]string{"bench", "client", "h", "-P", "500"}, "-P 500 out of range"},
		{[]string{"bench", "client", "h", "--rr", "0"}, `--rr "0": want a size in bytes`},
		{[]string{"bench", "client", "h", "--rr", "2M"}, `--rr "2M"`},
		{[]string{"bench", "client", "h", "--rr", "64", "-R"}, "--rr and -R exclude each other"},
		{[]string{"bench", "client", "h", "--port", "70000"}, "--port 70000 out of range"},
		{[]string{"bench", "client", "h", "--bogus"}, `bench client: unknown option "--bogus"`},
		{[]string{"bench", "client", "h", "--cc", "Cubic!"}, `--cc: congestion control name "Cubic!" has a character other than`},
		{[]string{"bench", "client", "h", "-C", "averyveryverylongname"}, "is longer than 15 bytes"},
		{[]string{"bench", "server", "extra"}, `unexpected argument "extra"`},
		{[]string{"bench", "server", "--bind", "nowhere"}, `--bind "nowhere" is not an IP address`},
		{[]string{"bench", "server", "--port", "0"}, "--port 0 out of range"},
	} {
		stdout, stderr, code := runCLI(context.Background(), tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "Try 'mptcpkit bench") {
			t.Errorf("mptcpkit %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
		// A mistyped flag gets the error line, not the whole help on stdout.
		if strings.Contains(tc.want, "not defined") && stdout != "" {
			t.Errorf("mptcpkit %s: printed %q on stdout; want only the error on stderr", strings.Join(tc.args, " "), stdout)
		}
	}
}

func TestBenchHelp(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--help"},
		{"bench", "client", "--help"},
		{"bench", "server", "-h"},
		{"bench", "client", "10.0.1.2", "-t", "3", "--help"},
		{"help", "bench"},
	} {
		out, stderr, code := runCLI(context.Background(), args...)
		if code != 0 || strings.Count(out, "Usage:") != 1 || !strings.Contains(out, "Examples:") || stderr != "" {
			t.Errorf("mptcpkit %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, stderr)
		}
	}
}

// benchLab starts `mptcpkit -n SERVER bench server` and returns the client
// namespace's name; the server stops when the test ends.
func benchLab(t *testing.T) (client string) {
	t.Helper()
	cli, srv := nstest.Pair(t, nstest.Paths(1, "10.0", "veth", "veth"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan string, 1)
	go func() {
		out, stderr, code := runCLI(ctx, "-n", srv.Name, "bench", "server", "--bind", "10.0.1.2", "--port", "5401")
		if code != 0 {
			out += stderr
		}
		done <- out
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case out := <-done:
			if !strings.Contains(out, "bench server listening on 10.0.1.2:5401") {
				t.Errorf("bench server printed %q", out)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("bench server still running 10 s after its context ended")
		}
	})
	// Wait for the listener.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if strings.Contains(srv.Run(t, "ss", "-Htln"), "10.0.1.2:5401") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bench server did not listen within 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cli.Name
}

func TestBenchClientText(t *testing.T) {
	client := benchLab(t)
	out, stderr, code := runCLI(context.Background(), "-n", client, "bench", "client", "10.0.1.2", "--port", "5401", "-t", "1.5", "-i", "0.5", "-P", "2", "--paths")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"Connecting to 10.0.1.2:5401: MPTCP, 2 stream(s), 1.5s, upload (client sends)",
		"[SUM]   0.00-0.50   sec",
		"[  1] 10.0.1.1:", "[  2] 10.0.1.1:",
		"[  1]   0.00-0.50   sec", "[  2]   0.00-0.50   sec", // per stream
		"      path 10.0.1.1 -> 10.0.1.2 ",
		"mptcp (server: mptcp)",
		"      subflow 10.0.1.1:",
		"sender (client)", "receiver (server)",
		"MPTCP: ", "fallback no, congestion control ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A closed port: the error, after the "Connecting" line but without an
	// empty interval table.
	out, stderr, code = runCLI(context.Background(), "-n", client, "bench", "client", "10.0.1.2:5999", "-t", "1")
	if want := "mptcpkit: connection refused: is `mptcpkit bench server` running on 10.0.1.2:5999?\n"; code != 1 || stderr != want {
		t.Errorf("closed port: exit %d, stderr %q; want 1, %q", code, stderr, want)
	}
	if want := "Connecting to 10.0.1.2:5999: MPTCP, 1 stream(s), 1s, upload (client sends)\n"; out != want {
		t.Errorf("closed port: stdout %q, want %q", out, want)
	}
}

func TestBenchServerPortInUse(t *testing.T) {
	ns := nstest.New(t, "srv")
	var ln net.Listener
	ns.Do(t, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	})
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	_, stderr, code := runCLI(context.Background(), "-n", ns.Name, "bench", "server", "--bind", "127.0.0.1", "--port", port)
	if want := "port " + port + " is in use (another bench server?); stop that or pick another port with --port"; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, want)
	}
}

// keys returns the sorted keys of a JSON object.
func keys(m map[string]any) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}

func TestBenchClientJSON(t *testing.T) {
	client := benchLab(t)
	resultKeys := []string{"bits_per_second", "bytes", "client_congestion_control", "congestion_control", "fallback",
		"intervals", "mode", "retransmits", "reverse", "seconds", "sender_bytes", "server", "server_congestion_control",
		"streams", "subflows"}
	check := func(t *testing.T, r map[string]any, mode string, rr bool) {
		t.Helper()
		want := resultKeys
		if rr {
			want = append(append([]string{}, resultKeys...), "latency")
			slices.Sort(want)
		}
		if diff := cmp.Diff(want, keys(r)); diff != "" {
			t.Errorf("result keys (-want +got):\n%s", diff)
		}
		if r["mode"] != mode || r["bytes"].(float64) <= 0 || r["bytes"] != r["sender_bytes"] || r["congestion_control"] == "" {
			t.Errorf("result: mode %v bytes %v sender_bytes %v cc %v", r["mode"], r["bytes"], r["sender_bytes"], r["congestion_control"])
		}
		streams := r["streams"].([]any)
		s := streams[0].(map[string]any)
		sfs := s["subflows"].([]any)
		if len(sfs) == 0 {
			t.Fatalf("no subflows in %v", s)
		}
		sf := sfs[0].(map[string]any)
		for _, k := range []string{"id", "local", "remote", "bytes", "bytes_sent", "bytes_received", "retransmits", "rtt_us"} {
			if _, ok := sf[k]; !ok {
				t.Errorf("subflow lacks %q: %v", k, sf)
			}
		}
		if rr {
			l := r["latency"].(map[string]any)
			for _, k := range []string{"size", "transactions", "transactions_per_second", "min_us", "mean_us", "p50_us", "p90_us", "p99_us", "max_us"} {
				if _, ok := l[k]; !ok {
					t.Errorf("latency lacks %q: %v", k, l)
				}
			}
		}
	}
	t.Run("single", func(t *testing.T) {
		out, stderr, code := runCLI(context.Background(), "-n", client, "bench", "client", "10.0.1.2", "--port", "5401", "-t", "1", "--tcp", "-j", "--cc", "reno")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
		}
		check(t, r, "tcp", false)
		if r["congestion_control"] != "reno" || r["server_congestion_control"] != "reno" {
			t.Errorf("--cc reno: congestion control %v, server's %v", r["congestion_control"], r["server_congestion_control"])
		}
	})
	t.Run("compare-rr", func(t *testing.T) {
		out, stderr, code := runCLI(context.Background(), "-n", client, "-j", "bench", "client", "10.0.1.2:5401", "-t", "1", "--compare", "--rr", "1K")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var c map[string]any
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
		}
		if diff := cmp.Diff([]string{"mptcp", "ratio", "tcp"}, keys(c)); diff != "" {
			t.Fatalf("comparison keys (-want +got):\n%s", diff)
		}
		check(t, c["tcp"].(map[string]any), "tcp", true)
		check(t, c["mptcp"].(map[string]any), "mptcp", true)
		if c["ratio"].(float64) <= 0 {
			t.Errorf("ratio %v", c["ratio"])
		}
	})
}

// TestBenchServerDisabledAndRequireMPTCP: with net.mptcp.enabled=0 in the
// server's namespace the bench server's listener is plain TCP, and it must
// say so (with the fix for that namespace) instead of "MPTCP". A client
// run against it falls back; --require-mptcp makes that a failure with a
// clear message, while the default run still exits 0.
func TestBenchServerDisabledAndRequireMPTCP(t *testing.T) {
	cli, srv := nstest.Pair(t, nstest.Paths(1, "10.0", "veth", "veth"))
	srv.Sysctl(t, "net.mptcp.enabled", "0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan [2]string, 1)
	go func() {
		out, stderr, _ := runCLI(ctx, "-n", srv.Name, "bench", "server", "--bind", "10.0.1.2", "--port", "5402")
		done <- [2]string{out, stderr}
	}()
	var out [2]string
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case out = <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("bench server still running 10 s after its context ended")
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(srv.Run(t, "ss", "-Htln"), "10.0.1.2:5402") {
		if time.Now().After(deadline) {
			t.Fatal("bench server did not listen within 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	stdout, stderr, code := runCLI(context.Background(), "-n", cli.Name, "bench", "client", "10.0.1.2:5402", "-t", "0.5", "-i", "0")
	if code != 0 {
		t.Errorf("fallback without --require-mptcp: exit %d (%s), want 0", code, stderr)
	}
	if !strings.Contains(stdout, "fallback") {
		t.Errorf("client output does not mention the fallback:\n%s", stdout)
	}
	stdout, stderr, code = runCLI(context.Background(), "-n", cli.Name, "bench", "client", "10.0.1.2:5402", "-t", "0.5", "-i", "0", "--require-mptcp")
	if code != 1 || !strings.Contains(stderr, "--require-mptcp: 1 of 1 data connection(s) fell back to TCP") {
		t.Errorf("--require-mptcp after a fallback: exit %d, stderr %q; want 1 and the fallback named", code, stderr)
	}
	if !strings.Contains(stdout, "bits/sec") && !strings.Contains(stdout, "Mbit") {
		t.Errorf("--require-mptcp must still print the result:\n%s", stdout)
	}
	if _, stderr, code := runCLI(context.Background(), "bench", "client", "10.0.1.2", "--tcp", "--require-mptcp"); code != 2 {
		t.Errorf("--tcp --require-mptcp: exit %d (%s), want a usage error", code, stderr)
	}

	stop()
	want := "bench server listening on 10.0.1.2:5402 in network namespace " + srv.Name + " (plain TCP, not MPTCP: net.mptcp.enabled=0 in this network namespace; fix: ip netns exec " + srv.Name + " sysctl -w net.mptcp.enabled=1)"
	if !strings.Contains(out[0], want) {
		t.Errorf("bench server printed %q (stderr %q), want %q", out[0], out[1], want)
	}
	if strings.Contains(out[0], "(MPTCP") {
		t.Errorf("bench server claims MPTCP on a TCP listener: %q", out[0])
	}
}
