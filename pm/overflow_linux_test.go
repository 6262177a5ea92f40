//go:build linux

package pm

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// TestEventsOverflow makes the kernel drop events for a reader that does
// not keep up (tiny receive buffer, blocked callback) and checks that Events
// reports it as ErrEventsLost instead of silently missing events.
func TestEventsOverflow(t *testing.T) {
	ns := nstest.New(t, "pm")
	// A descriptor closed right after Dial: Events must still work.
	nsf, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := newClient(&Config{NetNS: int(nsf.Fd())})
	nsf.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := oc.(*client)
	defer c.Close()
	c.eventsBuffer = 1 // the kernel rounds it up to its minimum (a few KiB)

	first := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		n := 0
		done <- c.Events(ctx, func(Event) error {
			if n++; n == 1 {
				close(first)
				<-release // a reader that fell behind
			}
			return nil
		})
	}()

	// Connection events (CREATED, ESTABLISHED, CLOSED: every kernel sends
	// them, unlike listener events, which Debian's 6.1 lacks) until the
	// first one arrives (the socket is then subscribed), then many more
	// while the reader is stuck.
	churn := func(n int) {
		ns.Do(t, func() error {
			var lc net.ListenConfig
			lc.SetMultipathTCP(true)
			ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			defer ln.Close()
			d := net.Dialer{Timeout: 5 * time.Second}
			d.SetMultipathTCP(true)
			for i := 0; i < n; i++ {
				c, err := d.Dial("tcp", ln.Addr().String())
				if err != nil {
					return err
				}
				c.Close()
			}
			return nil
		})
	}
	check := func(err error) {
		if !errors.Is(err, ErrEventsLost) {
			t.Fatalf("Events = %v, want ErrEventsLost", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for subscribed := false; !subscribed; {
		churn(1)
		select {
		case <-first:
			subscribed = true
		case err := <-done:
			// One connection's events (six, each in its own buffer) can
			// already overflow the tiny buffer before the first is read.
			check(err)
			return
		case <-time.After(50 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("no event within 5s")
			}
		}
	}
	churn(300)
	close(release)
	select {
	case err := <-done:
		check(err)
	case <-time.After(10 * time.Second):
		t.Fatal("Events did not report the overflow within 10s")
	}
}

// TestDialKeepsThreadNamespace checks that Dial with Config.NetNS leaves the
// calling thread in its own namespace.
func TestDialKeepsThreadNamespace(t *testing.T) {
	ns := nstest.New(t, "pm")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	oc, err := newClient(&Config{NetNS: ns.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	after, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Errorf("calling thread moved from %s to %s", before, after)
	}
	// And the client does act inside ns.
	if err := oc.AddEndpoint(Endpoint{Addr: netip.MustParseAddr("10.7.7.7")}); err != nil {
		t.Fatal(err)
	}
	if out := ns.Run(t, "ip", "mptcp", "endpoint", "show"); !strings.Contains(out, "10.7.7.7") {
		t.Errorf("endpoint added through the client is not in %s: %q", ns.Name, out)
	}
}
