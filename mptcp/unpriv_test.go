package mptcp

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// TestUnprivileged reads a live two-subflow connection from a process
// without capabilities (uid 65534, handed the socket as fd 3): StateOf and
// Subflows still work from the socket options alone; the socket-diagnostics
// extras (backup bit, address ids) are absent and Diag says so.
func TestUnprivileged(t *testing.T) {
	if os.Getenv("MPTCP_TEST_UNPRIV_CHILD") == "1" {
		unprivChild()
		return
	}
	p := newTwoPaths(t, "backup")
	_, accepted := listen(t, p.server, "10.0.1.2:5208", true)
	c := dialIn(t, p.client, "10.0.1.2:5208")
	s := accept(t, accepted)
	c.Write([]byte{1})
	io.ReadFull(s, make([]byte, 1))
	nstest.WaitSubflows(t, c, Subflows, 2)

	f, err := c.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := nstest.Unprivileged(t, "-test.run=^TestUnprivileged$")
	cmd.Env = append(os.Environ(), "MPTCP_TEST_UNPRIV_CHILD=1")
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var res unprivResult
	if err := json.Unmarshal(lastLine(out), &res); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	if res.Err != "" || res.State != "active" || res.Subflows != 2 || res.Diag || res.Backups != 0 {
		t.Errorf("unprivileged view: %+v; want active, 2 subflows, no diag data, no backup claimed", res)
	}
}

type unprivResult struct {
	Err      string
	State    string
	Subflows int
	Diag     bool
	Backups  int
}

func unprivChild() {
	var res unprivResult
	defer func() {
		b, _ := json.Marshal(res)
		fmt.Printf("\n%s\n", b)
	}()
	conn, err := net.FileConn(os.NewFile(3, "conn"))
	if err != nil {
		res.Err = err.Error()
		return
	}
	st, err := StateOf(conn)
	if err != nil {
		res.Err = err.Error()
		return
	}
	res.State = st.String()
	sfs, err := Subflows(conn)
	if err != nil {
		res.Err = err.Error()
		return
	}
	res.Subflows = len(sfs)
	for _, sf := range sfs {
		res.Diag = res.Diag || sf.Diag
		if sf.Backup {
			res.Backups++
		}
	}
}

func lastLine(b []byte) []byte {
	lines := [][]byte{}
	start := 0
	for i, c := range b {
		if c == '\n' {
			if i > start {
				lines = append(lines, b[start:i])
			}
			start = i + 1
		}
	}
	if start < len(b) {
		lines = append(lines, b[start:])
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if len(lines[i]) > 0 && lines[i][0] == '{' {
			return lines[i]
		}
	}
	return nil
}
