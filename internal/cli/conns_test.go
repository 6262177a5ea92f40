package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/sockdiag"
)

// connsLab builds a client and a server namespace with two paths and one
// live MPTCP connection client -> 10.0.1.2:port with a second subflow from
// 10.0.2.1 (a client "subflow" endpoint on path 2). It returns the client
// namespace and both ends of the connection.
func connsLab(t *testing.T, port string) (*nstest.NS, *nstest.NS, net.Conn, net.Conn) {
	t.Helper()
	cli, srv := nstest.Pair(t, nstest.Paths(2, "10.0", "c", "s"))
	for _, ns := range []*nstest.NS{cli, srv} {
		ns.Run(t, "ip", "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2")
	}
	cli.Run(t, "ip", "mptcp", "endpoint", "add", "10.0.2.1", "dev", "c2", "subflow")
	var ln net.Listener
	srv.Do(t, func() (err error) { ln, err = mptcp.Listen("tcp", "10.0.1.2:"+port); return err })
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	var c net.Conn
	cli.Do(t, func() (err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err = mptcp.DialContext(ctx, "tcp", "10.0.1.2:"+port)
		return err
	})
	t.Cleanup(func() { c.Close() })
	var s net.Conn
	select {
	case s = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
	}
	t.Cleanup(func() { s.Close() })
	// Data makes the connection fully established; then the PM adds the
	// second subflow.
	c.Write([]byte("hello"))
	io.ReadFull(s, make([]byte, 5))
	nstest.WaitSubflows(t, c, mptcp.Subflows, 2)
	return cli, srv, c, s
}

func runConns(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := Run(context.Background(), args, &out, &errb)
	if errb.Len() > 0 {
		t.Logf("stderr: %s", errb.String())
	}
	return out.String(), err
}

type ssSock struct {
	Local, Remote string
	Token         string // hex as ss prints it
	Extra         string // MPTCP sockets: "subflows:N" (extra subflows), "" for 0
}

var (
	ssHeader   = regexp.MustCompile(`^(?:(?:tcp|mptcp)\s+)?(\S+)\s+\d+\s+\d+\s+(\S+)\s+(\S+)`)
	ssDev      = regexp.MustCompile(`%[^:]+:`)
	ssExtra    = regexp.MustCompile(`\bsubflows:(\d+)\b`)
	ssSubToken = regexp.MustCompile(`tcp-ulp-mptcp .*?token:([0-9a-f]+)\(id:\d+\)/([0-9a-f]+)\(id:\d+\)`)
	ssMskToken = regexp.MustCompile(`\btoken:([0-9a-f]+)\b`)
)

// parseSS splits `ss -Mtin` output into MPTCP sockets and MPTCP subflows
// (TCP sockets with tcp-ulp-mptcp).
func parseSS(t *testing.T, out string) (msks, subflows []ssSock) {
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		m := ssHeader.FindStringSubmatch(lines[i])
		if m == nil || m[1] == "State" {
			continue
		}
		info := ""
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
			info = lines[i+1]
			i++
		}
		// ss shows a device-bound socket as ADDR%DEV:PORT.
		s := ssSock{Local: ssDev.ReplaceAllString(m[2], ":"), Remote: ssDev.ReplaceAllString(m[3], ":")}
		if sm := ssSubToken.FindStringSubmatch(info); sm != nil {
			s.Token = sm[2]
			subflows = append(subflows, s)
		} else if mm := ssMskToken.FindStringSubmatch(info); mm != nil && strings.Contains(info, "write_seq") {
			s.Token = mm[1]
			if em := ssExtra.FindStringSubmatch(info); em != nil {
				s.Extra = em[1]
			}
			msks = append(msks, s)
		}
	}
	return msks, subflows
}

func TestConnsJSONAgreesWithSS(t *testing.T) {
	cli, _, _, _ := connsLab(t, "5301")
	out, err := runConns(t, "-n", cli.Name, "-j", "conns")
	if err != nil {
		t.Fatalf("conns -j: %v", err)
	}
	var conns []connJSON
	if err := json.Unmarshal([]byte(out), &conns); err != nil {
		t.Fatalf("conns -j output is not JSON: %v\n%s", err, out)
	}
	if len(conns) != 1 {
		t.Fatalf("conns -j lists %d connections, want 1:\n%s", len(conns), out)
	}
	c := conns[0]
	if c.Remote != netip.MustParseAddrPort("10.0.1.2:5301") || c.Local.Addr() != netip.MustParseAddr("10.0.1.1") {
		t.Errorf("connection %v -> %v, want 10.0.1.1:* -> 10.0.1.2:5301", c.Local, c.Remote)
	}
	if c.SubflowCount != 2 || len(c.Subflows) != 2 || c.SubflowsActive != 2 || c.SubflowsBackup != 0 || c.Fallback || c.State != "ESTAB" {
		t.Errorf("connection: %+v; want 2 active subflows, ESTAB, no fallback", c)
	}
	if c.BytesSent != 5 {
		t.Errorf("bytes_sent %d, want 5", c.BytesSent)
	}

	ssOut := cli.Run(t, "ss", "-Mtin")
	t.Logf("ss -Mtin:\n%s", ssOut)
	msks, sfs := parseSS(t, ssOut)
	if len(msks) != 1 {
		t.Fatalf("ss -Mtin shows %d MPTCP sockets, want 1", len(msks))
	}
	if got, want := c.Local.String()+" "+c.Remote.String(), msks[0].Local+" "+msks[0].Remote; got != want {
		t.Errorf("conns says %s, ss -M says %s", got, want)
	}
	if strings.TrimLeft(c.Token, "0") != strings.TrimLeft(msks[0].Token, "0") {
		t.Errorf("conns token %s, ss -M token %s", c.Token, msks[0].Token)
	}
	if extra := fmt.Sprint(c.SubflowCount - 1); msks[0].Extra != extra {
		t.Errorf("ss -M says subflows:%s (extra subflows), conns says %d subflows in all", msks[0].Extra, c.SubflowCount)
	}
	var ours, theirs []string
	for _, s := range c.Subflows {
		ours = append(ours, s.Local.String()+" "+s.Remote.String()+" "+strings.TrimLeft(c.Token, "0"))
	}
	for _, s := range sfs {
		theirs = append(theirs, s.Local+" "+s.Remote+" "+strings.TrimLeft(s.Token, "0"))
	}
	sort.Strings(ours)
	sort.Strings(theirs)
	if diff := cmp.Diff(theirs, ours); diff != "" {
		t.Errorf("subflows (-ss -Mtin +conns -j):\n%s", diff)
	}
	for _, s := range c.Subflows {
		if s.RTTMicros <= 0 || s.Cwnd == 0 || s.MSS == 0 {
			t.Errorf("subflow %v: rtt %dus cwnd %d mss %d; want non-zero", s.Local, s.RTTMicros, s.Cwnd, s.MSS)
		}
	}
}

func TestConnsFiltersAndText(t *testing.T) {
	cli, _, _, _ := connsLab(t, "5302")
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--dport", "5302"}, 1},
		{[]string{"--port", "5302"}, 1},
		{[]string{"--sport", "5302"}, 0},
		{[]string{"--dport", "9"}, 0},
		{[]string{"--addr", "10.0.2.1"}, 1}, // only the second subflow has it
		{[]string{"--addr", "10.0.2.0/24"}, 1},
		{[]string{"--addr", "192.168.0.0/16"}, 0},
	} {
		out, err := runConns(t, append([]string{"-n", cli.Name, "-j", "conns"}, tc.args...)...)
		if err != nil {
			t.Errorf("conns %v: %v", tc.args, err)
			continue
		}
		var conns []connJSON
		if err := json.Unmarshal([]byte(out), &conns); err != nil {
			t.Errorf("conns %v: %v\n%s", tc.args, err, out)
			continue
		}
		if len(conns) != tc.want {
			t.Errorf("conns %v: %d connections, want %d", tc.args, len(conns), tc.want)
		}
	}
	out, err := runConns(t, "-n", cli.Name, "conns")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("conns:\n%s", out)
	for _, want := range []string{"-> 10.0.1.2:5302", "ESTAB", "subflows 2 (2 active, 0 backup)", "10.0.2.1:", "1/0"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	out, err = runConns(t, "-n", cli.Name, "conns", "--dport", "9")
	if err != nil || !strings.Contains(out, "no MPTCP connections") {
		t.Errorf("conns --dport 9 = %q, %v; want \"no MPTCP connections\"", out, err)
	}
}

func TestConnsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"conns", "--port", "abc"},
		{"conns", "--port", "70000"},
		{"conns", "--addr", "10.0.0.300"},
		{"conns", "--interval", "-1s", "--watch"},
		{"conns", "--interval", "2s"}, // accepted and ignored before: needs --watch
		{"conns", "-l", "--watch"},
		{"conns", "--pid", "-3"},
		{"conns", "extra"},
	} {
		_, err := runConns(t, args...)
		var ue *UsageError
		if !errors.As(err, &ue) || ue.Help != "conns" {
			t.Errorf("%v: err = %v; want a usage error pointing at conns --help", args, err)
		}
	}
	out, err := runConns(t, "conns", "--help")
	if err != nil && ExitCode(err, io.Discard) != 0 {
		t.Fatalf("conns --help: %v", err)
	}
	if !strings.Contains(out, "Examples:") || !strings.Contains(out, "--watch") {
		t.Errorf("conns --help lacks examples or --watch:\n%s", out)
	}
}

// TestConnsWatch runs --watch -j for a short while with traffic flowing and
// checks that later refreshes carry per-subflow throughput.
func TestConnsWatch(t *testing.T) {
	cli, _, c, s := connsLab(t, "5303")
	go io.Copy(io.Discard, s)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		buf := make([]byte, 32<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Write(buf); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, []string{"-n", cli.Name, "-j", "conns", "--watch", "--interval", "300ms"}, &out, io.Discard); err != nil {
		t.Fatalf("conns --watch: %v", err)
	}
	raw := append([]byte(nil), out.Bytes()...)
	dec := json.NewDecoder(&out)
	var docs []struct {
		Time        time.Time  `json:"time"`
		Connections []connJSON `json:"connections"`
	}
	for dec.More() {
		var d struct {
			Time        time.Time  `json:"time"`
			Connections []connJSON `json:"connections"`
		}
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("watch output: %v", err)
		}
		docs = append(docs, d)
	}
	if len(docs) < 3 {
		t.Fatalf("%d refreshes in 1.2s at 300ms, want at least 3", len(docs))
	}
	// Every frame has the same keys: the first one too (rates 0).
	frames := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	first, last := jsonKeys(t, frames[0]), jsonKeys(t, frames[len(frames)-1])
	if !cmp.Equal(first, last) {
		t.Errorf("first --watch frame keys differ from the last one:\n%s", cmp.Diff(first, last))
	}
	for _, sf := range docs[0].Connections[0].Subflows {
		if sf.SendBPS == nil || *sf.SendBPS != 0 {
			t.Errorf("first refresh: send_bps %v, want present and 0 (nothing to compare with)", sf.SendBPS)
		}
	}
	var total float64
	for _, sf := range docs[len(docs)-1].Connections[0].Subflows {
		if sf.SendBPS == nil {
			t.Fatalf("last refresh: subflow %v has no send_bps", sf.Local)
		}
		total += *sf.SendBPS
	}
	if total < 8e6 {
		t.Errorf("last refresh: %.0f bit/s over all subflows, want > 8 Mbit/s with a sender looping", total)
	}
	// Text mode redraws the screen.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	out.Reset()
	if err := Run(ctx2, []string{"-n", cli.Name, "conns", "--watch", "--interval", "200ms"}, &out, io.Discard); err != nil {
		t.Fatalf("conns --watch: %v", err)
	}
	if n := strings.Count(out.String(), "\x1b[H\x1b[2J"); n < 2 || !strings.Contains(out.String(), "Mbits/sec") {
		t.Errorf("text watch: %d screen clears, want >= 2, with rates in Mbits/sec:\n%s", n, out.String())
	}
}

// jsonKeys returns the set of key paths of a JSON document (array indexes
// collapsed to []), to compare the shape of two documents.
func jsonKeys(t *testing.T, doc []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	set := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				set[prefix+"."+k] = true
				walk(prefix+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(prefix+"[]", e)
			}
		}
	}
	walk("", v)
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestConnsCurlToMPTCPServer is the newcomer's case: curl (plain TCP)
// downloads from an MPTCP server. Both sides' conns must show the
// connection as TCP instead of MPTCP with the reason, -l must show the
// server's listener as one MPTCP listener, and -p/--comm must name curl.
// Then with net.mptcp.enabled=0 on the server the listener is TCP and the
// reason says so.
func TestConnsCurlToMPTCPServer(t *testing.T) {
	cli, srv := nstest.Pair(t, nstest.Paths(1, "10.0", "cc", "cs"))
	serve := func(addr string, listen func() (net.Listener, error)) {
		var ln net.Listener
		srv.Do(t, func() (err error) { ln, err = listen(); return err })
		t.Cleanup(func() { ln.Close() })
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			buf := make([]byte, 1024)
			for r.Context().Err() == nil {
				if _, err := w.Write(buf); err != nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}))
	}
	serve("8080", func() (net.Listener, error) { return mptcp.Listen("tcp", "10.0.1.2:8080") })
	curl := func(port string) {
		cmd := cli.Command("curl", "-s", "-o", "/dev/null", "--max-time", "20", "http://10.0.1.2:"+port+"/")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	curl("8080")
	waitFor := func(ns *nstest.NS, want string, args ...string) string {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			out, err := runConns(t, append([]string{"-n", ns.Name, "conns"}, args...)...)
			if err == nil && strings.Contains(out, want) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("conns %v in %s: no %q after 5s: %v\n%s", args, ns.Name, want, err, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	out := waitFor(srv, "10.0.1.2:8080 -> 10.0.1.1:")
	for _, want := range []string{"TCP, not MPTCP  should be MPTCP", string(sockdiag.ReasonPeerNoOffer)} {
		if !strings.Contains(out, want) {
			t.Errorf("server conns lacks %q:\n%s", want, out)
		}
	}
	out = waitFor(cli, "-> 10.0.1.2:8080", "-p", "--comm", "curl")
	for _, want := range []string{"TCP, not MPTCP", string(sockdiag.ReasonPlainSocket), `users:(("curl",pid=`} {
		if !strings.Contains(out, want) {
			t.Errorf("client conns -p --comm curl lacks %q:\n%s", want, out)
		}
	}
	if out, _ := runConns(t, "-n", cli.Name, "conns", "--comm", "nosuchprog"); strings.Contains(out, "10.0.1.2:8080") {
		t.Errorf("--comm nosuchprog still shows curl's connection:\n%s", out)
	}
	if out, _ := runConns(t, "-n", cli.Name, "conns", "--pid", "1"); strings.Contains(out, "10.0.1.2:8080") {
		t.Errorf("--pid 1 shows curl's connection:\n%s", out)
	}
	// JSON: one entry, protocol tcp, the reason, curl as the owner.
	js, err := runConns(t, "-n", cli.Name, "-j", "conns", "--comm", "curl")
	if err != nil {
		t.Fatal(err)
	}
	var conns []connJSON
	if err := json.Unmarshal([]byte(js), &conns); err != nil || len(conns) != 1 {
		t.Fatalf("conns -j --comm curl: %v, %d entries\n%s", err, len(conns), js)
	}
	if c := conns[0]; c.Protocol != "tcp" || c.Reason != string(sockdiag.ReasonPlainSocket) || len(c.Processes) == 0 || c.Processes[0].Comm != "curl" {
		t.Errorf("conns -j --comm curl = %+v", c)
	}

	// -l: one MPTCP listener on 8080 (its TCP subflow listener folded
	// in), and a plain TCP listener next to it on 8081.
	serve("8081", func() (net.Listener, error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false) // Go 1.24+ listens MPTCP by default
		return lc.Listen(context.Background(), "tcp", "10.0.1.2:8081")
	})
	js, err = runConns(t, "-n", srv.Name, "-j", "conns", "-l", "-p")
	if err != nil {
		t.Fatal(err)
	}
	var ls []listenerJSON
	if err := json.Unmarshal([]byte(js), &ls); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range ls {
		if _, dup := got[l.Local.String()]; dup {
			t.Errorf("listener %v listed twice: %s", l.Local, js)
		}
		got[l.Local.String()] = l.Protocol
		if len(l.Processes) == 0 {
			t.Errorf("listener %v: no owning process with -p", l.Local)
		}
	}
	if want := map[string]string{"10.0.1.2:8080": "mptcp", "10.0.1.2:8081": "tcp"}; !cmp.Equal(got, want) {
		t.Errorf("conns -l = %v, want %v", got, want)
	}

	// An MPTCP client against the plain TCP listener on 8081: the client
	// keeps an MPTCP socket that fell back, and says why.
	var fc net.Conn
	cli.Do(t, func() (err error) { fc, err = mptcp.Dial("tcp", "10.0.1.2:8081"); return err })
	t.Cleanup(func() { fc.Close() })
	fmt.Fprintf(fc, "GET / HTTP/1.0\r\n\r\n")
	out = waitFor(cli, "-> 10.0.1.2:8081", "--port", "8081")
	for _, want := range []string{"FALLBACK to TCP", string(sockdiag.ReasonNoAnswer), "MPCapableFallbackSYNACK 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("MPTCP client of a TCP server: conns lacks %q:\n%s", want, out)
		}
	}

	// net.mptcp.enabled=0 on the server: a new listener (Go asks for
	// MPTCP and silently gets TCP) is TCP, and the reason names the sysctl.
	srv.Sysctl(t, "net.mptcp.enabled", "0")
	serve("8082", func() (net.Listener, error) {
		return (&net.ListenConfig{}).Listen(context.Background(), "tcp", "10.0.1.2:8082")
	})
	curl("8082")
	out = waitFor(srv, "10.0.1.2:8082 -> 10.0.1.1:")
	if !strings.Contains(out, "net.mptcp.enabled=0") || !strings.Contains(out, "(ip netns exec "+srv.Name+" sysctl -w net.mptcp.enabled=1)") {
		t.Errorf("server with net.mptcp.enabled=0: reason does not name the sysctl and the fix for that namespace:\n%s", out)
	}
}
