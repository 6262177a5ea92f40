package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/mptcpkit/mptcpkit/pm"
)

const monitorHelp = `Usage:
  mptcpkit [-n NETNS] [-j] monitor

Print the MPTCP path manager's events as they happen, one line each, like
` + "`ip mptcp monitor`" + `, until Ctrl-C:

  [         CREATED] token=7d3e1a2b saddr4=10.0.1.1 daddr4=10.0.1.2 sport=40112 dport=5201
  [  SF_ESTABLISHED] token=7d3e1a2b remid=0 locid=2 saddr4=10.0.2.1 daddr4=10.0.1.2 sport=35915 dport=5201 backup=0 ifindex=3

With -j, one JSON object per line:
  {"type":"SUB_ESTABLISHED","token":2101221931,"remid":0,"locid":2,"saddr":"10.0.2.1",...}

Connection events: CREATED, ESTABLISHED, CLOSED; addresses: ANNOUNCED,
REMOVED; subflows: SF_ESTABLISHED, SF_CLOSED, SF_PRIO (JSON: SUB_ESTABLISHED,
SUB_CLOSED, SUB_PRIORITY); listeners: LISTENER_CREATED, LISTENER_CLOSED.
If the kernel drops events because the reader fell behind, a line says so
on stderr (and {"type":"EVENTS_LOST"} with -j) and monitoring goes on.
Needs CAP_NET_ADMIN.

Examples:
  mptcpkit monitor
  mptcpkit -n lab:l1:client -j monitor | jq -c 'select(.type=="SUB_CLOSED")'
`

func cmdMonitor(e *env, args []string) error {
	w, err := words(e, "monitor", monitorHelp, args)
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
		_, err := io.WriteString(e.stdout, formatEvent(ev, e.json))
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
		token()
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
	if ev.ServerSide {
		fs = append(fs, field{"server_side", true})
	}
	return fs
}

// formatEvent returns one line for ev: ip's format, or a JSON object whose
// "type" is the kernel's event name (SUB_ESTABLISHED, not SF_ESTABLISHED).
func formatEvent(ev pm.Event, asJSON bool) string {
	fs := eventFields(ev)
	if asJSON {
		var b bytes.Buffer
		writeObject(&b, append([]field{{"type", ev.Type.String()}}, fs...))
		b.WriteByte('\n')
		return b.String()
	}
	name, ok := ipEventNames[ev.Type]
	if !ok {
		name = ev.Type.String()
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
