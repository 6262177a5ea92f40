//go:build linux

package pm

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"
)

// multicast returns a fake events socket that delivers batches one per
// Receive, then fails with end.
func multicast(t *testing.T, batches [][]netlink.Message, end error) *genetlink.Conn {
	t.Helper()
	i := 0
	return genetlink.NewConn(nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		if len(reqs) != 0 {
			t.Errorf("events socket sent %d messages, want none", len(reqs))
		}
		if i == len(batches) {
			return nil, end
		}
		i++
		return batches[i-1], nil
	}))
}

func eventMsg(t *testing.T, family uint16, ev Event) netlink.Message {
	t.Helper()
	attrs, err := encodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&genetlink.Message{Header: genetlink.Header{Command: uint8(ev.Type), Version: 1}, Data: attrs}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(family)}, Data: b}
}

func TestReadEvents(t *testing.T) {
	want := []Event{
		{Type: EventCreated, Token: 0x1234, Local: netip.MustParseAddrPort("10.0.1.1:40000"), Remote: netip.MustParseAddrPort("10.0.1.2:5201")},
		{Type: EventSubEstablished, Token: 0x1234, LocalID: 1, RemoteID: 0, Local: netip.MustParseAddrPort("10.0.2.1:40001"), Remote: netip.MustParseAddrPort("10.0.1.2:5201"), Backup: true, IfIndex: 3},
		{Type: EventListenerCreated, Local: netip.MustParseAddrPort("[2001:db8::1]:5201")},
		{Type: EventClosed, Token: 0x1234},
	}
	other := eventMsg(t, 0x99, Event{Type: EventCreated, Token: 1}) // another family: ignored
	batches := [][]netlink.Message{
		{eventMsg(t, testFamily.ID, want[0]), other},
		{eventMsg(t, testFamily.ID, want[1]), eventMsg(t, testFamily.ID, want[2])},
		{eventMsg(t, testFamily.ID, want[3])},
	}
	t.Run("until ctx done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var got []Event
		err := readEvents(ctx, multicast(t, batches, errors.New("read past the end")), testFamily.ID, func(ev Event) error {
			got = append(got, ev)
			if ev.Type == EventClosed {
				cancel()
			}
			return nil
		})
		if err != nil {
			t.Fatalf("readEvents: %v", err)
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
	t.Run("fn error stops", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := readEvents(context.Background(), multicast(t, batches, errors.New("read past the end")), testFamily.ID, func(Event) error {
			n++
			return stop
		})
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("readEvents = %v after %d events, want stop after 1", err, n)
		}
	})
	t.Run("ENOBUFS is reported", func(t *testing.T) {
		n := 0
		err := readEvents(context.Background(), multicast(t, batches[:1], unix.ENOBUFS), testFamily.ID, func(Event) error {
			n++
			return nil
		})
		if !errors.Is(err, ErrEventsLost) {
			t.Fatalf("readEvents = %v, want ErrEventsLost", err)
		}
		if n != 1 {
			t.Errorf("%d events before the overflow, want 1", n)
		}
	})
}

func TestEventsNoGroup(t *testing.T) {
	c := &client{family: genetlink.Family{ID: 1, Name: familyName}}
	err := c.Events(context.Background(), func(Event) error { return nil })
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Events without events group = %v, want ErrNotSupported", err)
	}
}
