package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
	"github.com/mptcpkit/mptcpkit/lab"
)

// TestLabDestProxyRecipe (issue 13 point 11): `lab up --dest` adds a
// destination host behind the server, and the proxy commands its Try lines
// print work as printed: bench through proxy client -> MPTCP over both
// paths -> proxy server -> plain TCP to the destination.
func TestLabDestProxyRecipe(t *testing.T) {
	nstest.Require(t)
	name := labTestName("x")
	cleanLab(t, name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errs, code := runCLI(ctx, "lab", "up", "--name", name, "--dest")
	if code != 0 {
		t.Fatalf("lab up --dest: exit %d: %s%s", code, out, errs)
	}
	st, err := lab.Load(name)
	if err != nil || st.Dest != "mk-"+name+"-dest" || !st.DestAddr.IsValid() {
		t.Fatalf("lab state after --dest: %+v, %v", st, err)
	}
	_, recipe, ok := strings.Cut(out, "Try the proxy")
	if !ok {
		t.Fatalf("lab up --dest prints no proxy recipe:\n%s", out)
	}
	key := filepath.Join(t.TempDir(), "proxy.key")
	if err := os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var cmds [][]string
	for _, line := range strings.Split(recipe, "\n") {
		f := strings.Fields(strings.ReplaceAll(line, "/etc/mptcpkit/proxy.key", key))
		if len(f) < 2 || f[0] != "mptcpkit" {
			continue // prose, or the key-making line (done above)
		}
		cmds = append(cmds, f[1:])
	}
	if len(cmds) != 4 {
		t.Fatalf("recipe has %d mptcpkit commands, want 4:\n%s", len(cmds), recipe)
	}
	done := make(chan struct{}, 3)
	for _, c := range cmds[:3] {
		if c[len(c)-1] != "&" {
			t.Fatalf("recipe command %q should run in the background", c)
		}
		go func(args []string) {
			defer func() { done <- struct{}{} }()
			if o, e, code := runCLI(ctx, args...); code != 0 && ctx.Err() == nil {
				t.Errorf("mptcpkit %s: exit %d: %s%s", strings.Join(args, " "), code, o, e)
			}
		}(c[:len(c)-1])
		time.Sleep(300 * time.Millisecond)
	}
	defer func() {
		cancel()
		for range 3 {
			<-done
		}
	}()
	time.Sleep(500 * time.Millisecond)
	client := append([]string{"-j"}, cmds[3]...)
	client = append(client[:len(client)-2], "-t", "2")
	out, errs, code = runCLI(ctx, client...)
	if code != 0 || !json.Valid([]byte(out)) {
		t.Fatalf("mptcpkit %s: exit %d: %s%s", strings.Join(client, " "), code, out, errs)
	}
	// The bench upload went through the proxy, whose connection to the
	// server is MPTCP: the client sent data on both paths.
	cs, err := lab.Counters(st)
	if err != nil || len(cs) != 2 || cs[0].TxBytes < 1<<20 || cs[1].TxBytes < 1<<20 {
		t.Errorf("path 2 counters %+v, %v: want over 1 MiB sent on each path (the proxy's MPTCP connection uses both)", cs, err)
	}
}
