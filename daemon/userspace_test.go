package daemon_test

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/daemon"
	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/pm"
	"golang.org/x/sys/unix"
)

// TestUserspacePM: with net.mptcp.path_manager=userspace the daemon gives
// each new connection one subflow per allowed local address (backup per
// policy, port rules respected), confirmed by SUB_ESTABLISHED events, and
// re-creates a subflow when its path returns.
func TestUserspacePM(t *testing.T) {
	c, s := userspacePair(t, nstest.Paths(3, "10.84", "mk", "mk"))

	// Events as the test sees them, to confirm SUB_ESTABLISHED.
	ec, err := pm.Dial(&pm.Config{NetNS: c.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	var mu sync.Mutex
	subEst := map[uint32][]pm.Event{}
	ectx, ecancel := context.WithCancel(context.Background())
	edone := make(chan struct{})
	go func() {
		defer close(edone)
		ec.Events(ectx, func(ev pm.Event) error {
			if ev.Type == pm.EventSubEstablished {
				mu.Lock()
				subEst[ev.Token] = append(subEst[ev.Token], ev)
				mu.Unlock()
			}
			return nil
		})
	}()
	defer func() { ecancel(); <-edone }()

	h := start(t, c, daemon.Config{Policy: mustPolicy(t, `version = 1
[[rule]]
name = "bulk only"
interface = "mk3"
flags = ["subflow", "backup"]
ports = [5201]
[[rule]]
interface = "mk*"
flags = ["subflow"]
`)})
	if eps := h.endpoints(); len(eps) != 0 {
		t.Fatalf("userspace mode added kernel endpoints: %q", table(eps))
	}
	time.Sleep(100 * time.Millisecond) // the test's own event socket joined

	listen := func(port string) net.Listener {
		ln := s.Listen(t, "10.84.1.2:"+port)
		nstest.Sink(ln)
		return ln
	}
	dial := func(ln net.Listener) net.Conn {
		conn := c.Dial(t, "10.84.1.1", ln.Addr().String())
		// The client side is fully established (ESTABLISHED; joins are
		// allowed) once the server acknowledged data.
		if _, err := conn.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	locals := func(conn net.Conn) string {
		sfs, err := mptcp.Subflows(conn)
		if err != nil {
			t.Fatal(err)
		}
		var l []string
		for _, sf := range sfs {
			l = append(l, sf.Local.Addr().String())
		}
		sort.Strings(l)
		return strings.Join(l, " ")
	}
	waitLocals := func(conn net.Conn, want string) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			got := locals(conn)
			if got == want {
				return time.Since(start)
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("subflows from %q, want %q", got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// The daemon's event socket joins asynchronously: probe until a
	// connection gets its subflow (a loaded machine may need a moment).
	lnOther := listen("5202")
	for i := 0; ; i++ {
		probe := dial(lnOther)
		ok := false
		for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if locals(probe) == "10.84.1.1 10.84.2.1" {
				ok = true
				break
			}
		}
		probe.Close()
		if ok {
			break
		}
		if i == 5 {
			t.Fatal("no connection got a subflow from the daemon in 3 s")
		}
	}

	bulk := dial(listen("5201"))
	took := waitLocals(bulk, "10.84.1.1 10.84.2.1 10.84.3.1")
	t.Logf("bulk connection: subflows on all three paths %v after connect", took)
	other := dial(lnOther)
	waitLocals(other, "10.84.1.1 10.84.2.1")
	time.Sleep(100 * time.Millisecond)
	if got := locals(other); got != "10.84.1.1 10.84.2.1" {
		t.Errorf("port 5202 connection got subflows from %q; mk3 is for port 5201 only", got)
	}

	// SUB_ESTABLISHED confirms the bulk connection's two extra subflows,
	// the mk3 one as backup.
	mu.Lock()
	var confirmed []string
	for _, evs := range subEst {
		for _, ev := range evs {
			if ev.Remote.Port() != 5201 {
				continue
			}
			confirmed = append(confirmed, ev.Local.Addr().String())
		}
	}
	mu.Unlock()
	sort.Strings(confirmed)
	if strings.Join(confirmed, ",") != "10.84.2.1,10.84.3.1" {
		t.Errorf("SUB_ESTABLISHED for port 5201 from %q, want 10.84.2.1 and 10.84.3.1", confirmed)
	}
	// The log names the connection by its token in hex, as conns and
	// monitor print it.
	mu.Lock()
	for tok, evs := range subEst {
		if len(evs) > 0 && evs[0].Remote.Port() == 5201 {
			if want := fmt.Sprintf(`msg="subflow created" token=%08x `, tok); !strings.Contains(h.logs.String(), want) {
				t.Errorf("log has no %q:\n%s", want, h.logs.String())
			}
		}
	}
	mu.Unlock()
	// Backup per policy: the mk3 subflow asked for backup priority.
	sfs, err := mptcp.Subflows(bulk)
	if err != nil {
		t.Fatal(err)
	}
	noBackup := kernel61()
	if noBackup {
		t.Logf("not checking the backup bit of the mk3 subflow: Debian's 6.1 creates userspace-PM subflows without the backup flag SUBFLOW_CREATE asks for (seen in the kernel matrix: sock_diag shows it not backup); 6.12 and later set it")
	}
	for _, sf := range sfs {
		want := sf.Local.Addr().String() == "10.84.3.1" && !noBackup
		if !sf.Diag || sf.BackupLocal != want {
			t.Errorf("subflow from %s: backup (local) %v (diag %v), want %v", sf.Local, sf.BackupLocal, sf.Diag, want)
		}
	}

	// Path 2 goes away and returns: its subflow is closed and re-created.
	setLink(t, s, "mk2", false)
	waitLocals(bulk, "10.84.1.1 10.84.3.1")
	upAt := time.Now()
	setLink(t, s, "mk2", true)
	waitLocals(bulk, "10.84.1.1 10.84.2.1 10.84.3.1")
	t.Logf("subflow re-created %v after its link returned", time.Since(upAt))
}

// kernel61 reports whether this is a 6.1 kernel (Debian's 6.1 in the kernel
// matrix), whose userspace path manager ignores the backup flag of
// SUBFLOW_CREATE.
func kernel61() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return strings.HasPrefix(unix.ByteSliceToString(u.Release[:]), "6.1.")
}
