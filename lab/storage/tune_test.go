package storage

import (
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// TestSetRcvBuf: the initial receive buffer is set in every namespace,
// the minimum kept, the maximum raised only if below it, and the old
// values are back after restore.
func TestSetRcvBuf(t *testing.T) {
	a, b := nstest.New(t, "a"), nstest.New(t, "b")
	if _, err := nsSysctl(b.Name, rmemKey, "4096 131072 1048576"); err != nil {
		t.Fatal(err)
	}
	oldA, err := nsSysctl(a.Name, rmemKey, "")
	if err != nil {
		t.Fatal(err)
	}
	restore, err := setRcvBuf([]string{a.Name, b.Name}, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	gotA, _ := nsSysctl(a.Name, rmemKey, "")
	gotB, _ := nsSysctl(b.Name, rmemKey, "")
	if f := strings.Fields(gotA); len(f) != 3 || f[1] != "4194304" || f[0] != strings.Fields(oldA)[0] {
		t.Errorf("a: %s = %q (was %q), want the middle value 4194304", rmemKey, gotA, oldA)
	}
	if gotB != "4096\t4194304\t4194304" {
		t.Errorf("b: %s = %q, want 4096 4194304 4194304 (max raised to the default)", rmemKey, gotB)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if got, _ := nsSysctl(a.Name, rmemKey, ""); got != oldA {
		t.Errorf("a after restore: %q, want %q", got, oldA)
	}
	if got, _ := nsSysctl(b.Name, rmemKey, ""); got != "4096\t131072\t1048576" {
		t.Errorf("b after restore: %q", got)
	}
	if _, err := setRcvBuf([]string{"no-such-ns-" + a.Name}, 4<<20); err == nil {
		t.Error("setRcvBuf in a missing namespace: no error")
	}
}

// TestWindowDrops reads the MPTCP counter in a fresh namespace (0) and
// parses the netstat layout, failing clearly without the group or field.
func TestWindowDrops(t *testing.T) {
	ns := nstest.New(t, "c")
	n, err := windowDrops(ns.Name)
	if err != nil || n != 0 {
		t.Errorf("windowDrops in a new namespace = %d, %v; want 0", n, err)
	}
	text := "TcpExt: A B\nTcpExt: 1 2\nMPTcpExt: MPCapableSYNRX NoDSSInWindow DuplicateData\nMPTcpExt: 5 13 7\n"
	if n, err := netstatField(text, "MPTcpExt", "NoDSSInWindow"); err != nil || n != 13 {
		t.Errorf("netstatField = %d, %v; want 13", n, err)
	}
	if _, err := netstatField("TcpExt: A\nTcpExt: 1\n", "MPTcpExt", "NoDSSInWindow"); err == nil || !strings.Contains(err.Error(), "no MPTcpExt") {
		t.Errorf("without the group: %v", err)
	}
	if _, err := netstatField(text, "MPTcpExt", "Nope"); err == nil || !strings.Contains(err.Error(), "no Nope") {
		t.Errorf("without the field: %v", err)
	}
}
