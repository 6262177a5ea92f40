package nstest

import (
	"fmt"
	"testing"
	"time"
)

// Path is one veth link of a Pair: ClientIf in the client namespace with
// address ClientCIDR, ServerIf in the server namespace with ServerCIDR
// (either address may be empty, as for Link).
type Path struct {
	ClientIf, ClientCIDR string
	ServerIf, ServerCIDR string
}

// Paths returns n paths numbered from 1: path i joins clientIf+i, address
// PREFIX.i.1/24, to serverIf+i, address PREFIX.i.2/24, where prefix is the
// first two octets ("10.0" gives 10.0.1.1/24 ↔ 10.0.1.2/24, 10.0.2.1/24 ↔
// 10.0.2.2/24, ...).
func Paths(n int, prefix, clientIf, serverIf string) []Path {
	ps := make([]Path, n)
	for i := range ps {
		ps[i] = Path{
			ClientIf: fmt.Sprintf("%s%d", clientIf, i+1), ClientCIDR: fmt.Sprintf("%s.%d.1/24", prefix, i+1),
			ServerIf: fmt.Sprintf("%s%d", serverIf, i+1), ServerCIDR: fmt.Sprintf("%s.%d.2/24", prefix, i+1),
		}
	}
	return ps
}

// Pair makes a client and a server namespace for t, joined by one veth
// pair per path, with net.mptcp.enabled=1 in both. The namespaces are
// named after t (as New names them, labels "client" and "server"); the
// links are made inside them and never appear in the caller's namespace.
// All of it goes away when t ends. Pair calls Require: without root or
// MPTCP the test is skipped (failed under MPTCPKIT_CI=1). Limits and
// endpoints are left as a new namespace has them.
func Pair(t testing.TB, paths []Path) (client, server *NS) {
	t.Helper()
	client, server = New(t, "client"), New(t, "server")
	for _, ns := range []*NS{client, server} {
		ns.Sysctl(t, "net.mptcp.enabled", "1")
	}
	for _, p := range paths {
		Link(t, client, p.ClientIf, p.ClientCIDR, server, p.ServerIf, p.ServerCIDR)
	}
	return client, server
}

// SubflowTimeout is how long WaitSubflows waits.
const SubflowTimeout = 10 * time.Second

// WaitSubflows polls subflows(conn) until it returns n subflows and returns
// them; after SubflowTimeout, or when subflows fails, it fails t. subflows
// is mptcp.Subflows (a parameter so that package mptcp's own tests can use
// this too; conn is anything it takes).
func WaitSubflows[S any](t testing.TB, conn any, subflows func(any) ([]S, error), n int) []S {
	t.Helper()
	deadline := time.Now().Add(SubflowTimeout)
	for {
		sfs, err := subflows(conn)
		if err != nil {
			t.Fatalf("nstest: subflows: %v", err)
		}
		if len(sfs) == n {
			return sfs
		}
		if time.Now().After(deadline) {
			t.Fatalf("nstest: %d subflows after %v, want %d: %+v", len(sfs), SubflowTimeout, n, sfs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
