package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/pm"
)

func TestMonitorGolden(t *testing.T) {
	ap := netip.MustParseAddrPort
	events := []pm.Event{
		{Type: pm.EventCreated, Token: 0x7d3e1a2b, Local: ap("10.0.1.1:40112"), Remote: ap("10.0.1.2:5201")},
		{Type: pm.EventEstablished, Token: 0x7d3e1a2b, Local: ap("10.0.1.1:40112"), Remote: ap("10.0.1.2:5201"), Flags: pm.EventFlagServerSide, ServerSide: true},
		{Type: pm.EventAnnounced, Token: 0x7d3e1a2b, RemoteID: 2, Remote: ap("10.0.2.2:0")},
		{Type: pm.EventAnnounced, Token: 0x7d3e1a2b, RemoteID: 3, Remote: ap("[2001:db8::2]:8443")},
		{Type: pm.EventRemoved, Token: 0x7d3e1a2b, RemoteID: 2},
		{Type: pm.EventSubEstablished, Token: 0x7d3e1a2b, LocalID: 2, RemoteID: 0, Local: ap("10.0.2.1:35915"), Remote: ap("10.0.1.2:5201"), IfIndex: 3},
		{Type: pm.EventSubPriority, Token: 0x7d3e1a2b, LocalID: 2, Local: ap("10.0.2.1:35915"), Remote: ap("10.0.1.2:5201"), Backup: true},
		{Type: pm.EventSubClosed, Token: 0x7d3e1a2b, LocalID: 2, Local: ap("10.0.2.1:35915"), Remote: ap("10.0.1.2:5201"), Error: 104, ResetReason: 1, ResetFlags: 0x2},
		{Type: pm.EventSubEstablished, Token: 0x1, LocalID: 1, RemoteID: 1, Local: ap("[2001:db8:1::1]:40000"), Remote: ap("[2001:db8:1::2]:80")},
		{Type: pm.EventClosed, Token: 0x7d3e1a2b},
		{Type: pm.EventListenerCreated, Local: ap("0.0.0.0:5201")},
		{Type: pm.EventListenerClosed, Local: ap("[::]:5201")},
		{Type: pm.EventType(99), Token: 5},
	}
	var human, js strings.Builder
	for _, ev := range events {
		human.WriteString(formatEvent(ev, false))
		line := formatEvent(ev, true)
		js.WriteString(line)
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || strings.Count(line, "\n") != 1 {
			t.Errorf("JSON line %q: %v", line, err)
		}
	}
	golden(t, "monitor/events.txt", human.String())
	golden(t, "monitor/events.jsonl", js.String())
}

// lockedWriter is where the code under test logs; the test reads it as it goes.
type lockedWriter = nstest.Buffer

// TestMonitorRealEvents runs `mptcpkit -n NS -j monitor` while an MPTCP
// listener and a connection over loopback come and go in the namespace, and
// stops it as Ctrl-C would.
func TestMonitorRealEvents(t *testing.T) {
	ns := nstest.New(t, "mon")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb lockedWriter
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"-n", ns.Name, "-j", "monitor"}, &out, &errb) }()

	// MPTCP sockets on 127.0.0.1 inside the namespace. The monitor may not
	// have joined the group yet: repeat listener open/close until it shows.
	listen := func() (int, int) {
		var lfd, port int
		ns.Do(t, func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
			if err != nil {
				return err
			}
			if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				return err
			}
			if err := unix.Listen(fd, 4); err != nil {
				return err
			}
			sa, err := unix.Getsockname(fd)
			if err != nil {
				return err
			}
			lfd, port = fd, sa.(*unix.SockaddrInet4).Port
			return nil
		})
		return lfd, port
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "LISTENER_CREATED") {
		if time.Now().After(deadline) {
			t.Fatalf("no LISTENER_CREATED event; stdout %q stderr %q", out.String(), errb.String())
		}
		fd, _ := listen()
		unix.Close(fd)
		time.Sleep(50 * time.Millisecond)
	}
	lfd, port := listen()
	ns.Do(t, func() error {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
		if err != nil {
			return err
		}
		if err := unix.Connect(c, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}); err != nil {
			return err
		}
		a, _, err := unix.Accept(lfd)
		if err != nil {
			return err
		}
		// Data both ways completes the MPTCP handshake (ESTABLISHED).
		unix.Write(c, []byte("ping"))
		buf := make([]byte, 4)
		unix.Read(a, buf)
		unix.Write(a, []byte("pong"))
		unix.Read(c, buf)
		unix.Close(c)
		unix.Close(a)
		return unix.Close(lfd)
	})

	want := []string{"CREATED", "ESTABLISHED", "CLOSED", "LISTENER_CLOSED"}
	seen := map[string][]map[string]any{}
	deadline = time.Now().Add(5 * time.Second)
	for {
		seen = map[string][]map[string]any{}
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("monitor -j printed a line that is not JSON: %q", sc.Text())
			}
			typ, _ := m["type"].(string)
			seen[typ] = append(seen[typ], m)
		}
		missing := false
		for _, w := range want {
			missing = missing || len(seen[w]) == 0
		}
		if !missing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("missing events (want %v); got:\n%s\nstderr: %s", want, out.String(), errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkVocab(t, "monitor -j", []byte(out.String()))
	// Both ends of the connection share one token per end: the client's
	// CREATED has sport != port, dport == port.
	var client map[string]any
	for _, m := range seen["CREATED"] {
		if m["dport"] == float64(port) {
			client = m
		}
	}
	if client == nil || client["saddr"] != "127.0.0.1" || client["daddr"] != "127.0.0.1" {
		t.Errorf("no client CREATED event to 127.0.0.1:%d: %v", port, seen["CREATED"])
	}
	tokens := map[any]bool{}
	for _, m := range seen["CLOSED"] {
		tokens[m["token"]] = true
	}
	if client != nil && !tokens[client["token"]] {
		t.Errorf("client token %v never CLOSED (closed: %v)", client["token"], tokens)
	}

	cancel() // Ctrl-C
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("monitor returned %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("monitor did not stop after cancel")
	}
}

// TestMonitorHuman checks the ip-style line of a real event.
func TestMonitorHuman(t *testing.T) {
	ns := nstest.New(t, "monh")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out lockedWriter
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"-n", ns.Name, "monitor"}, &out, io.Discard) }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "LISTENER_CREATED") && time.Now().Before(deadline) {
		ns.Do(t, func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 47001}); err != nil {
				return err
			}
			return unix.Listen(fd, 1)
		})
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if line := "[LISTENER_CREATED] saddr4=127.0.0.1 sport=47001\n"; !strings.Contains(out.String(), line) {
		t.Errorf("output lacks %q:\n%s", line, out.String())
	}
}

// TestMonitorEventsLost: when the kernel drops events the monitor says so
// (stderr, and a JSON line with -j), keeps listening, and stops on cancel.
func TestMonitorEventsLost(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb strings.Builder
		e := &env{ctx: ctx, stdout: &out, stderr: &errb, json: asJSON}
		calls := 0
		events := func(ctx context.Context, fn func(pm.Event) error) error {
			calls++
			switch calls {
			case 1:
				fn(pm.Event{Type: pm.EventCreated, Token: 1})
				return fmt.Errorf("pm: read events: %w", pm.ErrEventsLost)
			case 2:
				fn(pm.Event{Type: pm.EventClosed, Token: 1})
				cancel()
				return nil
			}
			t.Fatal("listened again after cancel")
			return nil
		}
		if err := monitorLoop(e, events); err != nil {
			t.Fatalf("json=%v: %v", asJSON, err)
		}
		if calls != 2 || !strings.Contains(errb.String(), "the kernel dropped events") {
			t.Errorf("json=%v: %d calls, stderr %q", asJSON, calls, errb.String())
		}
		golden(t, fmt.Sprintf("monitor/events_lost_json_%v.txt", asJSON), out.String())
	}
	// Other errors end the monitor.
	e := &env{ctx: context.Background(), stdout: io.Discard, stderr: io.Discard}
	boom := errors.New("boom")
	if err := monitorLoop(e, func(context.Context, func(pm.Event) error) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("monitorLoop = %v, want boom", err)
	}
}

// TestMonitorSecondPath: two namespaces joined by two veth pairs; the
// server announces its second address, the client opens a subflow to it.
// `mptcpkit -n CLIENT -j monitor` shows CREATED, ESTABLISHED, ANNOUNCED,
// SUB_ESTABLISHED with the second path's addresses and ids, and CLOSED, all
// with the same token.
func TestMonitorSecondPath(t *testing.T) {
	cl, sv := nstest.Pair(t, nstest.Paths(2, "10.0", "eth", "eth"))
	for _, c := range [][]string{
		{"-n", sv.Name, "endpoint", "add", "10.0.2.2", "id", "5", "signal"},
		{"-n", cl.Name, "limits", "set", "add_addr_accepted", "1", "subflows", "1"},
	} {
		if _, errs, code := runCLI(context.Background(), c...); code != 0 {
			t.Fatalf("mptcpkit %v: %s", c, errs)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb, text, textErr, ipOut lockedWriter
	done := make(chan error, 2)
	go func() { done <- Run(ctx, []string{"-n", cl.Name, "-j", "monitor"}, &out, &errb) }()
	go func() { done <- Run(ctx, []string{"-n", cl.Name, "monitor"}, &text, &textErr) }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	// ip's own monitor beside ours: the text must be the same bytes.
	ipMon := cl.Command("ip", "mptcp", "monitor")
	ipMon.Stdout = &ipOut
	if err := ipMon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ipMon.Process.Kill(); ipMon.Wait() })

	var lfd int
	sv.Do(t, func() (err error) {
		lfd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
		if err != nil {
			return err
		}
		if err := unix.Bind(lfd, &unix.SockaddrInet4{Port: 5201}); err != nil { // any address: joins come to 10.0.2.2
			return err
		}
		return unix.Listen(lfd, 4)
	})
	defer unix.Close(lfd)
	// Wait until the monitor listens: a throw-away listener in the client
	// namespace shows up as LISTENER_CREATED.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "LISTENER_CREATED") || !strings.Contains(text.String(), "LISTENER_CREATED") || !strings.Contains(ipOut.String(), "[UNKNOWN 15]") && !strings.Contains(ipOut.String(), "LISTENER_CREATED") {
		if time.Now().After(deadline) {
			t.Fatalf("monitor never started: text %q %q ip %q", text.String(), textErr.String(), ipOut.String())
		}
		cl.Do(t, func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
			return unix.Listen(fd, 1)
		})
		time.Sleep(50 * time.Millisecond)
	}

	var cfd, afd int
	cl.Do(t, func() (err error) {
		cfd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
		if err != nil {
			return err
		}
		return unix.Connect(cfd, &unix.SockaddrInet4{Addr: [4]byte{10, 0, 1, 2}, Port: 5201})
	})
	afd, _, err := unix.Accept(lfd)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	unix.Write(cfd, []byte("ping"))
	unix.Read(afd, buf)
	unix.Write(afd, []byte("pong"))
	unix.Read(cfd, buf)

	type ev = map[string]any
	parse := func() map[string][]ev {
		seen := map[string][]ev{}
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			var m ev
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("not JSON: %q", sc.Text())
			}
			seen[m["type"].(string)] = append(seen[m["type"].(string)], m)
		}
		return seen
	}
	wait := func(typ string) []ev {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if s := parse()[typ]; len(s) > 0 {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s event; got:\n%s", typ, out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	sub := wait("SF_ESTABLISHED")[0]
	unix.Close(cfd)
	unix.Close(afd)
	wait("CLOSED")
	// The connection's lines, text, from ip and from mptcpkit: same bytes
	// (CREATED and ESTABLISHED carry remid=0 locid=0, as the kernel sends).
	connLines := func(w *lockedWriter) string {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(w.String(), "CLOSED]") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		var keep []string
		for _, l := range strings.SplitAfter(w.String(), "\n") {
			// Listener events: ip 6.1 prints them as [UNKNOWN 15] and 16
			// (newer ip names them as we do); they come from the loop above.
			if l != "" && !strings.Contains(l, "LISTENER_") && !strings.HasPrefix(l, "[UNKNOWN 1") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "")
	}
	// ip 6.1 (installed here) pads the name to 14 columns; iproute2 6.2 and
	// later pad to 16, as we do (LISTENER_CREATED is 16 long). The rest of
	// each line must be the same bytes.
	unpad := regexp.MustCompile(`(?m)^\[ *`)
	ipText, mkText := unpad.ReplaceAllString(connLines(&ipOut), "["), unpad.ReplaceAllString(connLines(&text), "[")
	if ipText == "" || ipText != mkText {
		t.Errorf("monitor text differs from ip's:\n ip:\n%s mptcpkit:\n%s", ipText, mkText)
	}
	if !strings.Contains(mkText, "remid=0 locid=0") || strings.Contains(mkText, "server_side") {
		t.Errorf("CREATED/ESTABLISHED lines: want remid=0 locid=0 and no server_side:\n%s", mkText)
	}

	seen := parse()
	created, established, announced := seen["CREATED"], seen["ESTABLISHED"], seen["ANNOUNCED"]
	if len(created) != 1 || len(established) != 1 || len(announced) != 1 {
		t.Fatalf("want one CREATED, ESTABLISHED, ANNOUNCED each; got:\n%s", out.String())
	}
	token := created[0]["token"]
	for _, m := range []ev{established[0], announced[0], sub, seen["CLOSED"][0]} {
		if m["token"] != token {
			t.Errorf("%s has token %v, CREATED has %v", m["type"], m["token"], token)
		}
	}
	if created[0]["saddr"] != "10.0.1.1" || created[0]["daddr"] != "10.0.1.2" || created[0]["dport"] != float64(5201) {
		t.Errorf("CREATED = %v, want 10.0.1.1 -> 10.0.1.2:5201", created[0])
	}
	if announced[0]["daddr"] != "10.0.2.2" || announced[0]["remid"] != float64(5) {
		t.Errorf("ANNOUNCED = %v, want daddr 10.0.2.2 remid 5", announced[0])
	}
	if sub["saddr"] != "10.0.2.1" || sub["daddr"] != "10.0.2.2" || sub["remid"] != float64(5) || sub["dport"] != float64(5201) {
		t.Errorf("SF_ESTABLISHED = %v, want 10.0.2.1 -> 10.0.2.2:5201 remid 5", sub)
	}
}

// TestMonitorTimestamps: -t and -ts print the time as ip's print_timestamp
// does (asctime plus microseconds on a line of its own; or a short ISO
// prefix), in local time; with -j a "timestamp" key.
func TestMonitorTimestamps(t *testing.T) {
	at := time.Date(2026, 12, 4, 9, 5, 7, 42_000, time.Local)
	line := "[          CLOSED] token=00000001\n"
	if got, want := stampEvent(at, stampLong, false, line), "Timestamp: Fri Dec  4 09:05:07 2026 42 usec\n"+line; got != want {
		t.Errorf("-t: %q, want %q", got, want)
	}
	if got, want := stampEvent(at, stampShort, false, line), "[2026-12-04T09:05:07.000042] "+line; got != want {
		t.Errorf("-ts: %q, want %q", got, want)
	}
	js := stampEvent(at, stampShort, true, `{"type":"CLOSED","token":"00000001"}`+"\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil || !strings.HasPrefix(m["timestamp"].(string), "2026-12-04T09:05:07.000042") || m["type"] != "CLOSED" {
		t.Errorf("-ts -j: %q (%v)", js, err)
	}
	// The options are taken before and after monitor, as ip takes -t before mptcp.
	for _, args := range [][]string{{"-t", "monitor", "--help"}, {"monitor", "-ts", "--help"}} {
		if _, errs, code := runCLI(context.Background(), args...); code != 0 {
			t.Errorf("mptcpkit %v: exit %d %s", args, code, errs)
		}
	}
}
