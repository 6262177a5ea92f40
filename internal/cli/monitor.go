package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/mptcpkit/mptcpkit/pm"
)

const monitorHelp = `Usage:
  mptcpkit [-n NETNS] [-j] [-t|-ts] monitor [-t|-ts]

Print the MPTCP path manager's events as they happen, one line each, like
` + "`ip mptcp monitor`" + ` (the same bytes), until Ctrl-C:

  [         CREATED] token=7d3e1a2b remid=0 locid=0 saddr4=10.0.1.1 daddr4=10.0.1.2 sport=40112 dport=5201
  [  SF_ESTABLISHED] token=7d3e1a2b remid=0 locid=2 saddr4=10.0.2.1 daddr4=10.0.1.2 sport=35915 dport=5201 backup=0 ifindex=3

With -j, one JSON object per line, with the same event names and keys; the
token is the same 8 hex digits as in ` + "`mptcpkit conns -j`" + `:
  {"type":"SF_ESTABLISHED","token":"7d3e1a2b","remid":0,"locid":2,"saddr":"10.0.2.1",...}

Connection events: CREATED, ESTABLISHED, CLOSED; addresses: ANNOUNCED,
REMOVED; subflows: SF_ESTABLISHED, SF_CLOSED, SF_PRIO (the kernel calls
them SUB_ESTABLISHED, SUB_CLOSED, SUB_PRIORITY); listeners:
LISTENER_CREATED, LISTENER_CLOSED. JSON adds "server_side":true on the
side that accepted a connection.
If the kernel drops events because the reader fell behind, a line says so
on stderr (and {"type":"EVENTS_LOST"} with -j) and monitoring goes on.
Needs CAP_NET_ADMIN.

Options (also before monitor, as ip's):
  -t    a line "Timestamp: Fri Dec  4 12:41:45 2026 123456 usec" before each
        event (ip -t)
  -ts   a prefix "[2026-12-04T12:41:45.123456] " on each event (ip -ts)
        With -j either adds "timestamp":"2026-12-04T12:41:45.123456+00:00".

Exit status (as ip's): 0 stopped, 255 a mistake on the command line, 2 the
kernel refused, 1 MPTCP missing.

Examples:
  mptcpkit monitor
  mptcpkit -ts monitor
  mptcpkit -n lab:l1:client -j monitor | jq -c 'select(.type=="SF_CLOSED")'
`

func monitorCommand() *Command {
	return &Command{
		Name:    "monitor",
		Summary: "print MPTCP path-manager events as they happen (like ip mptcp monitor)",
		Help:    monitorHelp,
		Run:     monitor,
		IPStyle: true,
	}
}

func monitor(e *env, args []string) error {
	var rest []string
	for _, a := range args {
		switch a {
		case "-t", "-timestamp", "--timestamp":
			e.stamp = stampLong
		case "-ts", "-tshort", "--timestamp-short":
			e.stamp = stampShort
		default:
			rest = append(rest, a)
		}
	}
	w, err := words(e, "monitor", monitorHelp, rest)
	if err != nil {
		return err
	}
	if len(w) > 0 {
		return usagef("monitor", "monitor: unexpected %q (it takes no arguments)", w[0])
	}
	s, err := openPM(e, true)
	if err != nil {
		return err
	}
	defer s.Close()
	return monitorLoop(e, s.c.Events)
}

// monitorLoop prints the events that events delivers until e.ctx is done.
// When the kernel dropped events (ErrEventsLost) it says so and listens
// again: a monitor has no state to resync beyond rejoining the group.
func monitorLoop(e *env, events func(context.Context, func(pm.Event) error) error) error {
	print := func(ev pm.Event) error {
		line := formatEvent(ev, e.json)
		if e.stamp != 0 {
			line = stampEvent(time.Now(), e.stamp, e.json, line)
		}
		_, err := io.WriteString(e.stdout, line)
		return err
	}
	for {
		err := events(e.ctx, print)
		if err == nil || e.ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, pm.ErrEventsLost) {
			return pmErr(err)
		}
		fmt.Fprintf(e.stderr, "mptcpkit: monitor: the kernel dropped events because this reader fell behind (ENOBUFS); some events are missing, monitoring goes on\n")
		if e.json {
			io.WriteString(e.stdout, `{"type":"EVENTS_LOST"}`+"\n")
		}
	}
}

// Timestamp styles (env.stamp), as ip's -t and -ts.
const (
	stampLong  = 1
	stampShort = 2
)

// stampEvent adds the time t to an event line the way `ip -t`/`ip -ts
// mptcp monitor` do: -t prints a line "Timestamp: Fri Dec  4 12:41:45 2026
// 123456 usec" before the event, -ts a prefix "[2026-12-04T12:41:45.123456] ".
// Both in local time, as ip. With JSON the object gets a "timestamp" key
// (RFC 3339 with microseconds) instead.
func stampEvent(t time.Time, style int, asJSON bool, line string) string {
	if asJSON {
		if !strings.HasPrefix(line, "{") {
			return line
		}
		ts, _ := json.Marshal(t.Format("2006-01-02T15:04:05.000000Z07:00"))
		return `{"timestamp":` + string(ts) + "," + line[1:]
	}
	usec := t.Nanosecond() / 1000
	if style == stampShort {
		return fmt.Sprintf("[%s.%06d] %s", t.Format("2006-01-02T15:04:05"), usec, line)
	}
	return fmt.Sprintf("Timestamp: %s %d usec\n%s", t.Format("Mon Jan _2 15:04:05 2006"), usec, line)
}

// ipEventNames are the names `ip mptcp monitor` prints.
var ipEventNames = map[pm.EventType]string{
	pm.EventSubEstablished: "SF_ESTABLISHED",
	pm.EventSubClosed:      "SF_CLOSED",
	pm.EventSubPriority:    "SF_PRIO",
}

// eventFields lists the attributes the kernel sends with each event type,
// in the order `ip mptcp monitor` prints them. Optional attributes the
// kernel sends only when set are left out when zero.
func eventFields(ev pm.Event) []field {
	var fs []field
	addr := func(name string, a netip.Addr) {
		if a.IsValid() {
			fs = append(fs, field{name, a.Unmap()})
		}
	}
	local, remote := ev.Local.Addr(), ev.Remote.Addr()
	token := func() { fs = append(fs, field{"token", ev.Token}) }
	switch ev.Type {
	case pm.EventCreated, pm.EventEstablished:
		// The kernel sends the first subflow's ids too (ip prints them).
		token()
		fs = append(fs, field{"remid", ev.RemoteID}, field{"locid", ev.LocalID})
		addr("saddr", local)
		addr("daddr", remote)
		fs = append(fs, field{"sport", ev.Local.Port()}, field{"dport", ev.Remote.Port()})
	case pm.EventClosed:
		token()
	case pm.EventAnnounced:
		token()
		fs = append(fs, field{"remid", ev.RemoteID})
		addr("daddr", remote)
		if ev.Remote.Port() != 0 {
			fs = append(fs, field{"dport", ev.Remote.Port()})
		}
	case pm.EventRemoved:
		token()
		fs = append(fs, field{"remid", ev.RemoteID})
	case pm.EventSubEstablished, pm.EventSubClosed, pm.EventSubPriority:
		token()
		fs = append(fs, field{"remid", ev.RemoteID}, field{"locid", ev.LocalID})
		addr("saddr", local)
		addr("daddr", remote)
		fs = append(fs, field{"sport", ev.Local.Port()}, field{"dport", ev.Remote.Port()}, field{"backup", ev.Backup})
	case pm.EventListenerCreated, pm.EventListenerClosed:
		addr("saddr", local)
		fs = append(fs, field{"sport", ev.Local.Port()})
	default:
		if ev.Token != 0 {
			token()
		}
		addr("saddr", local)
		addr("daddr", remote)
	}
	if ev.Error != 0 {
		fs = append(fs, field{"error", ev.Error})
	}
	if ev.Flags != 0 {
		fs = append(fs, field{"flags", ev.Flags})
	}
	if ev.Timeout != 0 {
		fs = append(fs, field{"timeout", ev.Timeout})
	}
	if ev.IfIndex != 0 {
		fs = append(fs, field{"ifindex", ev.IfIndex})
	}
	if ev.ResetReason != 0 || ev.ResetFlags != 0 {
		fs = append(fs, field{"reset_reason", ev.ResetReason}, field{"reset_flags", ev.ResetFlags})
	}
	return fs
}

// eventName is the name of ev's type in both text and JSON: ip's
// (SF_ESTABLISHED, SF_CLOSED, SF_PRIO for the subflow events, the kernel's
// for the others; "UNKNOWN N" for a type neither knows).
func eventName(t pm.EventType) string {
	if n, ok := ipEventNames[t]; ok {
		return n
	}
	if n := t.String(); !strings.HasPrefix(n, "UNKNOWN") {
		return n
	}
	return fmt.Sprintf("UNKNOWN %d", uint8(t))
}

// formatEvent returns one line for ev: ip's format, or a JSON object with
// the same event name in "type" and the same keys. Tokens are 8 hex
// digits in both, as `conns` prints them. JSON adds "server_side":true
// when the kernel says this host accepted the connection (ip prints
// nothing for it; flags=2 says the same).
func formatEvent(ev pm.Event, asJSON bool) string {
	name := eventName(ev.Type)
	fs := eventFields(ev)
	if asJSON {
		var b bytes.Buffer
		js := []field{{"type", name}}
		for _, f := range fs {
			if f.k == "token" {
				f.v = fmt.Sprintf("%08x", f.v)
			}
			js = append(js, f)
		}
		if ev.ServerSide {
			js = append(js, field{"server_side", true})
		}
		writeObject(&b, js)
		b.WriteByte('\n')
		return b.String()
	}
	if _, known := ipEventNames[ev.Type]; !known && strings.HasPrefix(name, "UNKNOWN") {
		return "[" + name + "]\n" // as ip: no attributes
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%16s]", name)
	for _, f := range fs {
		switch v := f.v.(type) {
		case netip.Addr:
			fam := "4"
			if !v.Is4() {
				fam = "6"
			}
			fmt.Fprintf(&b, " %s%s=%s", f.k, fam, v)
		case bool:
			n := 0
			if v {
				n = 1
			}
			fmt.Fprintf(&b, " %s=%d", f.k, n)
		default:
			switch f.k {
			case "token":
				fmt.Fprintf(&b, " token=%08x", v)
			case "flags":
				fmt.Fprintf(&b, " flags=%x", v)
			case "reset_flags":
				fmt.Fprintf(&b, " reset_flags=0x%x", v)
			default:
				fmt.Fprintf(&b, " %s=%v", f.k, v)
			}
		}
	}
	b.WriteByte('\n')
	return b.String()
}
