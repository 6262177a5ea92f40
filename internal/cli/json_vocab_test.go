package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// errorer is the part of testing.T the checker uses.
type errorer interface {
	Helper()
	Errorf(format string, args ...any)
}

type failRecorder struct{ failed bool }

func (f *failRecorder) Helper()               {}
func (f *failRecorder) Errorf(string, ...any) { f.failed = true }

var hexToken = regexp.MustCompile(`^[0-9a-f]{8}$`)

// checkVocab is the schema-ish check every -j document must pass: no
// null (an empty list is [], an absent object is left out), tokens as 8
// hex digits, rtt in µs (key ends in _us), durations never in ns, rates in
// bits per second (key ends in _bps or bits_per_second).
func checkVocab(t errorer, name string, doc []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	n := 0
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Errorf("%s: not JSON: %v\n%s", name, err, doc)
			return
		}
		n++
		walkVocab(t, name, "", v)
	}
	if n == 0 {
		t.Errorf("%s: no JSON document", name)
	}
}

func walkVocab(t errorer, name, path string, v any) {
	t.Helper()
	switch x := v.(type) {
	case nil:
		t.Errorf("%s: %s is null (want [] for an empty list, or leave the key out)", name, path)
	case []any:
		for i, e := range x {
			walkVocab(t, name, fmt.Sprintf("%s[%d]", path, i), e)
		}
	case map[string]any:
		for k, e := range x {
			p := path + "." + k
			lk := strings.ToLower(k)
			switch {
			case lk == "token":
				s, ok := e.(string)
				if !ok || (s != "" && !hexToken.MatchString(s)) {
					t.Errorf("%s: %s = %v, want 8 hex digits as a string", name, p, e)
				}
			case strings.Contains(lk, "rtt") && !strings.HasSuffix(lk, "_us"):
				t.Errorf("%s: %s: rtt must be in µs with the unit in the key (rtt_us)", name, p)
			case strings.HasSuffix(lk, "_ns"):
				t.Errorf("%s: %s: durations are in µs (_us), not ns", name, p)
			case (strings.Contains(lk, "rate") || strings.Contains(lk, "throughput")) && !strings.Contains(lk, "per_second") &&
				!strings.HasSuffix(lk, "_bps") && !strings.HasSuffix(lk, "bits_per_second"):
				t.Errorf("%s: %s: a rate must be in bits per second, with the unit in the key (_bps)", name, p)
			}
			walkVocab(t, name, p, e)
		}
	}
}

// TestCheckVocabCatches makes sure the checker fails on what it must.
func TestCheckVocabCatches(t *testing.T) {
	for _, bad := range []string{
		`{"subflows":null}`, `{"token":305419896}`, `{"token":"0x1234"}`, `{"rtt":5}`, `{"rtt_ns":5}`,
		`{"send_rate":1000}`, `{"p50_ns":3}`,
	} {
		var f failRecorder
		checkVocab(&f, "x", []byte(bad))
		if !f.failed {
			t.Errorf("checkVocab accepted %s", bad)
		}
	}
	checkVocab(t, "good", []byte(`{"token":"0000abcd","rtt_us":5,"send_bps":1,"bits_per_second":2,"transactions_per_second":3,"l":[]}`))
}

// TestJSONVocabulary runs the -j output of conns (plain, -p, -l, --watch),
// bench (server, client, --compare --rr), limits, endpoint, check and
// version through checkVocab, with a live MPTCP connection, a plain TCP
// one and a bench server. TestJSONVocabularyLabDaemon covers lab and
// daemon; monitor -j, lab demo's report, lab failover -j and lab storage
// -j are checked by TestMonitorRealEvents, TestLabDemo,
// TestLabFailoverCLI and TestLabStorageCLI, and the lab kv report's rows
// by lab/kvbench's TestRowJSONVocabulary.
func TestJSONVocabulary(t *testing.T) {
	cli, srv, c, s := connsLab(t, "5311")
	go io.Copy(io.Discard, s)
	c.Write(make([]byte, 64<<10))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var benchOut bytes.Buffer
	benchDone := make(chan struct{})
	go func() {
		defer close(benchDone)
		Run(ctx, []string{"-n", srv.Name, "-j", "bench", "server", "--bind", "10.0.1.2", "--port", "5412"}, &benchOut, io.Discard)
	}()
	defer func() { cancel(); <-benchDone }()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(srv.Run(t, "ss", "-Htln"), "10.0.1.2:5412"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bench server did not listen")
		}
	}
	run := func(args ...string) []byte {
		t.Helper()
		var out, errb bytes.Buffer
		if err := Run(context.Background(), args, &out, &errb); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
		return out.Bytes()
	}
	for _, args := range [][]string{
		{"-n", cli.Name, "-j", "conns"},
		{"-n", srv.Name, "-j", "conns", "-p"},
		{"-n", srv.Name, "-j", "conns", "-l", "-p"},
		{"-n", cli.Name, "-j", "conns", "--dport", "9"},
		{"-n", cli.Name, "-j", "limits", "show"},
		{"-n", cli.Name, "-j", "endpoint", "show"},
		{"-n", srv.Name, "-j", "endpoint", "show"},
		{"-n", cli.Name, "-j", "check"},
		{"-j", "version"},
		{"-n", cli.Name, "-j", "bench", "client", "10.0.1.2:5412", "-t", "0.3", "-i", "0.1", "-P", "2", "--paths"},
		{"-n", cli.Name, "-j", "bench", "client", "10.0.1.2:5412", "-t", "0.3", "--compare", "--rr", "64"},
	} {
		checkVocab(t, strings.Join(args, " "), run(args...))
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer wcancel()
	var watch bytes.Buffer
	if err := Run(wctx, []string{"-n", cli.Name, "-j", "conns", "--watch", "--interval", "200ms"}, &watch, io.Discard); err != nil {
		t.Fatal(err)
	}
	checkVocab(t, "conns --watch", watch.Bytes())
	cancel()
	<-benchDone
	checkVocab(t, "bench server", benchOut.Bytes())
}

// TestJSONVocabularyLabDaemon runs through checkVocab: `lab show -j` of a
// lab the test makes (filtered to it), a short `lab bench -j`, `daemon
// status -j` of a daemon running in a test namespace, and `daemon
// --check-config -j`.
func TestJSONVocabularyLabDaemon(t *testing.T) {
	nstest.Require(t)
	run := func(args ...string) []byte {
		t.Helper()
		var out, errb bytes.Buffer
		if err := Run(context.Background(), args, &out, &errb); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
		return out.Bytes()
	}
	name := labTestName("v")
	cleanLab(t, name)
	run("lab", "up", "--name", name)
	show := run("-j", "lab", "show", name)
	checkVocab(t, "lab show -j", show)
	var compact bytes.Buffer
	json.Compact(&compact, show)
	show = compact.Bytes()
	if !bytes.Contains(show, []byte(`"delay_us":0`)) || !bytes.Contains(show, []byte(`"name":"`+name+`"`)) {
		t.Errorf("lab show -j %s: no delay_us, or not this lab: %s", name, show)
	}
	bname := labTestName("w")
	cleanLab(t, bname)
	checkVocab(t, "lab bench -j", run("-j", "lab", "bench", "--name", bname, "--paths", "1", "-t", "1"))

	checkVocab(t, "daemon --check-config -j", run("-j", "daemon", "--check-config", "../../docs/policy.example.toml"))

	ns := nstest.New(t, "dvoc")
	state := filepath.Join(t.TempDir(), "d.json")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"-n", ns.Name, "daemon", "--metrics", "", "--state", state}, io.Discard, io.Discard)
	}()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(state); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon wrote no state file in 5 s")
		}
	}
	checkVocab(t, "daemon status -j", run("-n", ns.Name, "-j", "daemon", "status", "--state", state))
}
