package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateEnable = flag.Bool("update-enable", false, "rewrite testdata/enable golden files")

// TestEnableDisable runs mptcpkit enable/disable on a fake unit tree (--root)
// and compares the drop-in with testdata/enable/redis-server.conf.
func TestEnableDisable(t *testing.T) {
	root := t.TempDir()
	vendor := filepath.Join(root, "lib/systemd/system/redis-server.service")
	os.MkdirAll(filepath.Dir(vendor), 0o755)
	unit := "[Unit]\nDescription=Advanced key-value store\n\n[Service]\nType=notify\nExecStart=/usr/bin/redis-server /etc/redis/redis.conf --supervised systemd --daemonize no\n"
	if err := os.WriteFile(vendor, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Run(context.Background(), args, &out, &out)
		return out.String(), err
	}
	out, err := run("enable", "--root", root, "redis-server")
	if err != nil {
		t.Fatalf("enable: %v\n%s", err, out)
	}
	dropIn := filepath.Join(root, "etc/systemd/system/redis-server.service.d/mptcpkit.conf")
	if !strings.Contains(out, "wrote "+dropIn) {
		t.Errorf("enable said %q", out)
	}
	got, err := os.ReadFile(dropIn)
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	norm := strings.ReplaceAll(string(got), exe, "/usr/bin/mptcpkit")
	golden := "testdata/enable/redis-server.conf"
	if *updateEnable {
		os.WriteFile(golden, []byte(norm), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), norm); d != "" {
		t.Errorf("drop-in (-want +got)\n%s", d)
	}
	if b, _ := os.ReadFile(vendor); string(b) != unit {
		t.Errorf("vendor unit changed: %q", b)
	}
	if out, err := run("disable", "--root", root, "redis-server.service"); err != nil || !strings.Contains(out, "removed "+dropIn) {
		t.Errorf("disable: %v %q", err, out)
	}
	if _, err := os.Stat(dropIn); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("drop-in still there: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"disable", "--root", root, "redis-server"}, "not enabled"},
		{[]string{"enable", "--root", root, "no-such-unit"}, "unknown unit"},
		{[]string{"enable", "--root", root, "a.socket"}, "not a service"},
	} {
		if _, err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	var ue *UsageError
	if _, err := run("enable", "--root", root); !errors.As(err, &ue) {
		t.Errorf("enable without a unit: %v, want a usage error", err)
	}
}
