package systemd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mptcpkit/mptcpkit/force/systemd"
)

// FuzzDropInRoundTrip: whatever a unit file holds, Read never panics, and
// when enabling succeeds, the drop-in read back as a unit file yields
// exactly the wrapped command lines.
func FuzzDropInRoundTrip(f *testing.F) {
	f.Add("[Service]\nExecStart=/usr/bin/x -a\n")
	f.Add("[Service]\nType=forking\nExecStart=-/usr/sbin/d \\\n  --flag\nExecStart=/bin/y\n")
	f.Add("[Unit]\nExecStart=/no\n[Service]\nExecStart=\nExecStart=+!/bin/z %i\n")
	f.Fuzz(func(t *testing.T, unit string) {
		root := t.TempDir()
		p := filepath.Join(root, "lib/systemd/system/f.service")
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
		u, err := systemd.Read(root, "f")
		if err != nil {
			return
		}
		drop, err := systemd.DropIn(u, "/m")
		if err != nil {
			return
		}
		var want []string
		for _, c := range u.ExecStart {
			w, _ := systemd.Wrap("/m", c)
			want = append(want, w)
		}
		root2 := t.TempDir()
		p2 := filepath.Join(root2, "lib/systemd/system/f.service")
		os.MkdirAll(filepath.Dir(p2), 0o755)
		os.WriteFile(p2, []byte(drop), 0o644)
		u2, err := systemd.Read(root2, "f")
		if err != nil {
			t.Fatalf("drop-in does not read back: %v\n%s", err, drop)
		}
		if d := cmp.Diff(want, u2.ExecStart); d != "" {
			t.Errorf("round trip (-want +got)\n%s\ndrop-in:\n%s", d, drop)
		}
		for _, l := range u2.ExecStart {
			if strings.ContainsAny(l, "\n") {
				t.Errorf("newline in ExecStart %q", l)
			}
		}
	})
}
