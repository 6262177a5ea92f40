//go:build linux

package pm_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/pm"
	"golang.org/x/sys/unix"
)

// recorder runs Client.Events in the background and lets a test wait for
// events that match.
type recorder struct {
	t    *testing.T
	name string
	ch   chan pm.Event
	seen []pm.Event
	// listenerEvents: the kernel sends LISTENER_CREATED/CLOSED (see sync).
	listenerEvents bool
}

func record(t *testing.T, c *pm.Client, ns *nstest.NS, name string) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{t: t, name: name, ch: make(chan pm.Event, 1024)}
	done := make(chan error, 1)
	go func() {
		done <- c.Events(ctx, func(ev pm.Event) error {
			select {
			case r.ch <- ev:
				return nil
			default:
				return errors.New("test recorder full")
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: Events returned %v after cancel, want nil", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: Events did not return within 5s of cancel", name)
		}
	})
	r.sync(ns)
	return r
}

// sync makes MPTCP connections over loopback in ns until the recorder sees
// one's CREATED event: then the events socket is subscribed. Connection
// events exist on every kernel of the matrix; LISTENER_CREATED and
// LISTENER_CLOSED do not (Debian's 6.1 sends none, 6.12 does), so a last
// listener and connection, once subscribed, tell which kind of kernel this
// is: r.listenerEvents.
func (r *recorder) sync(ns *nstest.NS) {
	r.t.Helper()
	for try := 0; try < 50; try++ {
		want := r.connect(ns)
		if _, ok := r.next(200*time.Millisecond, createdFor(want)); ok {
			probe := r.connect(ns)
			r.wait("CREATED of the probe connection", createdFor(probe))
			// One netlink socket delivers events in the order the kernel
			// sent them: the listener's event, if any, came first.
			for _, ev := range r.seen {
				if ev.Type == pm.EventListenerCreated && ev.Local == probe {
					r.listenerEvents = true
				}
			}
			return
		}
	}
	r.t.Fatalf("%s: no CREATED event within 50 connections", r.name)
}

// connect opens an MPTCP listener on loopback in ns, connects to it and
// closes both; it returns the listener's address.
func (r *recorder) connect(ns *nstest.NS) netip.AddrPort {
	r.t.Helper()
	var want netip.AddrPort
	ns.Do(r.t, func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		want = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ln.Addr().(*net.TCPAddr).Port))
		d := net.Dialer{Timeout: 5 * time.Second}
		d.SetMultipathTCP(true)
		c, err := d.Dial("tcp", want.String())
		if err != nil {
			return err
		}
		return c.Close()
	})
	return want
}

func createdFor(server netip.AddrPort) func(pm.Event) bool {
	return func(ev pm.Event) bool {
		return ev.Type == pm.EventCreated && (ev.Remote == server || ev.Local == server)
	}
}

// noListenerEvents says, once per test, that this kernel sends no
// listener events, so their assertions do not apply.
func (r *recorder) noListenerEvents() bool {
	if !r.listenerEvents && os.Getenv("MPTCPKIT_CI") == "1" && os.Getenv("MPTCPKIT_VM") == "" {
		r.t.Errorf("%s: the CI host's kernel (6.18) sends listener events, but none were seen", r.name)
	}
	if !r.listenerEvents {
		r.t.Logf("%s: not checking LISTENER_CREATED/LISTENER_CLOSED: this kernel sends no listener events (Debian's 6.1 has none; 6.12 does)", r.name)
	}
	return !r.listenerEvents
}

func (r *recorder) next(timeout time.Duration, match func(pm.Event) bool) (pm.Event, bool) {
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-r.ch:
			r.seen = append(r.seen, ev)
			if match(ev) {
				return ev, true
			}
		case <-deadline:
			return pm.Event{}, false
		}
	}
}

// wait returns the next event that matches, failing the test after 10 s.
func (r *recorder) wait(what string, match func(pm.Event) bool) pm.Event {
	r.t.Helper()
	ev, ok := r.next(10*time.Second, match)
	if !ok {
		var sb strings.Builder
		for _, e := range r.seen {
			fmt.Fprintf(&sb, "\n\t%+v", e)
		}
		r.t.Fatalf("%s: no %s event within 10s; seen:%s", r.name, what, sb.String())
	}
	return ev
}

func listen(t *testing.T, ns *nstest.NS, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	ns.Do(t, func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	return ln
}

func dialMPTCP(t *testing.T, ns *nstest.NS, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	ns.Do(t, func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		d.SetMultipathTCP(true)
		var err error
		c, err = d.Dial("tcp", addr)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// serve answers each connection's "ping" with "pong" and then reads until
// EOF.
func serve(t *testing.T, ln net.Listener) {
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				buf := make([]byte, 4)
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				c.Write([]byte("pong"))
				io.Copy(io.Discard, c)
			}()
		}
	}()
}

func pingPong(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("read pong: %q, %v", buf, err)
	}
}

// twoPaths builds a client and a server namespace joined by two veth pairs:
// 10.0.1.0/24 (c1–s1) and 10.0.2.0/24 (c2–s2).
func twoPaths(t *testing.T) (cns, sns *nstest.NS) {
	return nstest.Pair(t, nstest.Paths(2, "10.0", "c", "s"))
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestEventsTraffic watches the in-kernel path manager open a second
// subflow over the second path of a real connection.
func TestEventsTraffic(t *testing.T) {
	cns, sns := twoPaths(t)
	cc, sc := dial(t, cns), dial(t, sns)
	two := uint32(2)
	for _, c := range []*pm.Client{cc, sc} {
		if err := c.SetLimits(pm.LimitsUpdate{Subflows: &two, AddAddrAccepted: &two}); err != nil {
			t.Fatal(err)
		}
	}
	c2 := ifIndex(t, cns, "c2")
	mustAdd(t, cc, pm.Endpoint{Addr: a("10.0.2.1"), Flags: pm.FlagSubflow, IfIndex: c2})
	crec := record(t, cc, cns, "client")
	srec := record(t, sc, sns, "server")

	ln := listen(t, sns, "10.0.1.2:0")
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	server := netip.AddrPortFrom(a("10.0.1.2"), port)
	if !srec.noListenerEvents() {
		srec.wait("LISTENER_CREATED", func(ev pm.Event) bool {
			return ev.Type == pm.EventListenerCreated && ev.Local == server
		})
	}
	serve(t, ln)

	conn := dialMPTCP(t, cns, server.String())
	local := conn.LocalAddr().(*net.TCPAddr).AddrPort()
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	pingPong(t, conn)

	created := crec.wait("CREATED", func(ev pm.Event) bool { return ev.Type == pm.EventCreated && ev.Remote == server })
	if created.Token == 0 || created.Local != local || created.ServerSide {
		t.Errorf("client CREATED %+v, want a token, local %s, not server side", created, local)
	}
	tok := created.Token
	crec.wait("ESTABLISHED", func(ev pm.Event) bool {
		return ev.Type == pm.EventEstablished && ev.Token == tok && ev.Local == local && ev.Remote == server
	})
	sub := crec.wait("SUB_ESTABLISHED", func(ev pm.Event) bool { return ev.Type == pm.EventSubEstablished && ev.Token == tok })
	if sub.Local.Addr() != a("10.0.2.1") || sub.Remote != server || sub.LocalID != 1 || sub.RemoteID != 0 || sub.Backup {
		t.Errorf("client SUB_ESTABLISHED %+v, want 10.0.2.1 (id 1) → %s (id 0), not backup", sub, server)
	}
	if sub.IfIndex != 0 && sub.IfIndex != c2 {
		t.Errorf("client SUB_ESTABLISHED on interface %d, want c2 (%d)", sub.IfIndex, c2)
	}

	screated := srec.wait("CREATED", func(ev pm.Event) bool { return ev.Type == pm.EventCreated && ev.Local == server })
	if !screated.ServerSide || screated.Remote != local || screated.Token == 0 {
		t.Errorf("server CREATED %+v, want server side from %s", screated, local)
	}
	stok := screated.Token
	srec.wait("ESTABLISHED", func(ev pm.Event) bool { return ev.Type == pm.EventEstablished && ev.Token == stok })
	ssub := srec.wait("SUB_ESTABLISHED", func(ev pm.Event) bool { return ev.Type == pm.EventSubEstablished && ev.Token == stok })
	if ssub.Local != server || ssub.Remote != sub.Local || ssub.RemoteID != 1 || ssub.LocalID != 0 {
		t.Errorf("server SUB_ESTABLISHED %+v, want %s (id 0) ← %s (id 1)", ssub, server, sub.Local)
	}

	conn.Close()
	crec.wait("CLOSED", func(ev pm.Event) bool { return ev.Type == pm.EventClosed && ev.Token == tok })
	srec.wait("CLOSED", func(ev pm.Event) bool { return ev.Type == pm.EventClosed && ev.Token == stok })
	ln.Close()
	if srec.listenerEvents {
		srec.wait("LISTENER_CLOSED", func(ev pm.Event) bool { return ev.Type == pm.EventListenerClosed && ev.Local == server })
	}
}

// TestUserspacePM drives the userspace path manager of a live connection
// from both ends.
func TestUserspacePM(t *testing.T) {
	cns, sns := twoPaths(t)
	for _, ns := range []*nstest.NS{cns, sns} {
		ns.UserspacePM(t)
	}
	cc, sc := dial(t, cns), dial(t, sns)
	crec := record(t, cc, cns, "client")
	srec := record(t, sc, sns, "server")

	// One listener on every address: it also takes the joins to the
	// announced address (the kernel opens no listener for it).
	ln := listen(t, sns, "0.0.0.0:0")
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	serve(t, ln)
	server := netip.AddrPortFrom(a("10.0.1.2"), port)
	conn := dialMPTCP(t, cns, server.String())
	pingPong(t, conn)

	ctok := crec.wait("CREATED", func(ev pm.Event) bool { return ev.Type == pm.EventCreated && ev.Remote == server }).Token
	stok := srec.wait("CREATED", func(ev pm.Event) bool { return ev.Type == pm.EventCreated && ev.Local == server }).Token
	crec.wait("ESTABLISHED", func(ev pm.Event) bool { return ev.Type == pm.EventEstablished && ev.Token == ctok })
	srec.wait("ESTABLISHED", func(ev pm.Event) bool { return ev.Type == pm.EventEstablished && ev.Token == stok })

	// Announce on the server → ANNOUNCED on the client.
	announced := netip.AddrPortFrom(a("10.0.2.2"), port)
	if err := sc.Announce(stok, pm.Endpoint{ID: 5, Addr: announced.Addr(), Port: port}); err != nil {
		t.Fatalf("Announce: %v", err)
	}
	ann := crec.wait("ANNOUNCED", func(ev pm.Event) bool { return ev.Type == pm.EventAnnounced && ev.Token == ctok })
	if ann.RemoteID != 5 || ann.Remote.Addr() != announced.Addr() || (ann.Remote.Port() != 0 && ann.Remote.Port() != port) {
		t.Errorf("ANNOUNCED %+v, want id 5 %s", ann, announced)
	}

	// Subflow from the client's second address to the announced one.
	c2 := ifIndex(t, cns, "c2")
	if err := cc.CreateSubflow(ctok, pm.Endpoint{ID: 7, Addr: a("10.0.2.1"), IfIndex: c2}, announced); err != nil {
		t.Fatalf("CreateSubflow: %v", err)
	}
	csub := crec.wait("SUB_ESTABLISHED", func(ev pm.Event) bool {
		return ev.Type == pm.EventSubEstablished && ev.Token == ctok && ev.Local.Addr() == a("10.0.2.1")
	})
	if csub.Remote != announced || csub.LocalID != 7 || csub.RemoteID != 5 {
		t.Errorf("client SUB_ESTABLISHED %+v, want 10.0.2.1 (id 7) → %s (id 5)", csub, announced)
	}
	ssub := srec.wait("SUB_ESTABLISHED", func(ev pm.Event) bool {
		return ev.Type == pm.EventSubEstablished && ev.Token == stok && ev.Remote == csub.Local
	})
	if ssub.Local != announced || ssub.RemoteID != 7 {
		t.Errorf("server SUB_ESTABLISHED %+v, want %s ← %s (id 7)", ssub, announced, csub.Local)
	}

	// The connections' local address lists, as the userspace PMs see them.
	// Debian's 6.1 ignores the token of a GET_ADDR dump (it lists the
	// namespace's endpoint table, empty here): nothing to check there.
	lists := !kernel61()
	if !lists {
		t.Logf("not checking LocalAddrs: Debian's 6.1 ignores the token of a GET_ADDR dump (6.12 and later list the connection's addresses)")
	}
	for _, x := range []struct {
		side  string
		c     *pm.Client
		token uint32
		want  []pm.Endpoint
	}{
		{"client", cc, ctok, []pm.Endpoint{{ID: 7, Addr: a("10.0.2.1"), Flags: pm.FlagSubflow, IfIndex: c2}}},
		{"server", sc, stok, []pm.Endpoint{{ID: 5, Addr: announced.Addr(), Port: port, Flags: pm.FlagSignal}}},
	} {
		if !lists {
			break
		}
		got, err := x.c.LocalAddrs(x.token)
		if err != nil {
			t.Errorf("%s LocalAddrs: %v", x.side, err)
		} else if diff := cmp.Diff(x.want, got, addrCmp); diff != "" {
			t.Errorf("%s LocalAddrs (-want +got):\n%s", x.side, diff)
		}
	}

	// Backup priority (MP_PRIO) → SUB_PRIORITY on the peer.
	if err := cc.SetSubflowBackup(ctok, csub.Local, csub.Remote, true); err != nil {
		t.Fatalf("SetSubflowBackup: %v", err)
	}
	prio := srec.wait("SUB_PRIORITY", func(ev pm.Event) bool { return ev.Type == pm.EventSubPriority && ev.Token == stok })
	if !prio.Backup || prio.Remote != csub.Local {
		t.Errorf("server SUB_PRIORITY %+v, want backup for the subflow from %s", prio, csub.Local)
	}

	// Destroy → SUB_CLOSED on both ends; a second destroy finds nothing.
	if err := cc.DestroySubflow(ctok, csub.Local, csub.Remote); err != nil {
		t.Fatalf("DestroySubflow: %v", err)
	}
	crec.wait("SUB_CLOSED", func(ev pm.Event) bool {
		return ev.Type == pm.EventSubClosed && ev.Token == ctok && ev.Local == csub.Local && ev.Remote == csub.Remote
	})
	srec.wait("SUB_CLOSED", func(ev pm.Event) bool {
		return ev.Type == pm.EventSubClosed && ev.Token == stok && ev.Remote == csub.Local
	})
	if err := cc.DestroySubflow(ctok, csub.Local, csub.Remote); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("second DestroySubflow = %v, want os.ErrNotExist", err)
	}

	// Remove the announced address → REMOVED on the client.
	if err := sc.Remove(stok, 5); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	crec.wait("REMOVED", func(ev pm.Event) bool { return ev.Type == pm.EventRemoved && ev.Token == ctok && ev.RemoteID == 5 })

	// A token no connection has: the kernel's own text.
	bad := ctok ^ 0x5a5a5a5a
	if bad == stok {
		bad++
	}
	err := cc.CreateSubflow(bad, pm.Endpoint{Addr: a("10.0.2.1")}, announced)
	var pe *pm.Error
	if !errors.As(err, &pe) || pe.Message != "invalid token" || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CreateSubflow with an invalid token = %#v, want the kernel's \"invalid token\"", err)
	}
	err = sc.Announce(bad, pm.Endpoint{ID: 6, Addr: a("10.0.2.2")})
	if !errors.As(err, &pe) || pe.Message != "invalid token" {
		t.Errorf("Announce with an invalid token = %#v, want the kernel's \"invalid token\"", err)
	}

	conn.Close()
	crec.wait("CLOSED", func(ev pm.Event) bool { return ev.Type == pm.EventClosed && ev.Token == ctok })
}

// TestEventsIPv6 checks that events of an IPv6 connection carry its IPv6
// addresses and ports.
func TestEventsIPv6(t *testing.T) {
	cns, sns := nstest.Pair(t, []nstest.Path{{ClientIf: "c1", ServerIf: "s1"}})
	cns.Run(t, "ip", "addr", "add", "fd00:1::1/64", "dev", "c1", "nodad")
	sns.Run(t, "ip", "addr", "add", "fd00:1::2/64", "dev", "s1", "nodad")
	crec := record(t, dial(t, cns), cns, "client")

	ln := listen(t, sns, "[fd00:1::2]:0")
	serve(t, ln)
	server := netip.AddrPortFrom(a("fd00:1::2"), uint16(ln.Addr().(*net.TCPAddr).Port))
	conn := dialMPTCP(t, cns, server.String())
	pingPong(t, conn)
	local := conn.LocalAddr().(*net.TCPAddr).AddrPort()

	created := crec.wait("CREATED", func(ev pm.Event) bool { return ev.Type == pm.EventCreated && ev.Remote == server })
	if created.Local != local || !created.Local.Addr().Is6() {
		t.Errorf("CREATED %+v, want local %s", created, local)
	}
	crec.wait("ESTABLISHED", func(ev pm.Event) bool {
		return ev.Type == pm.EventEstablished && ev.Token == created.Token && ev.Local == local && ev.Remote == server
	})
	conn.Close()
	crec.wait("CLOSED", func(ev pm.Event) bool { return ev.Type == pm.EventClosed && ev.Token == created.Token })
}

// kernel61 reports whether this is a 6.1 kernel (Debian's 6.1 in the kernel
// matrix).
func kernel61() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return strings.HasPrefix(unix.ByteSliceToString(u.Release[:]), "6.1.")
}
