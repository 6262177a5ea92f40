package systemd_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mptcpkit/mptcpkit/force/systemd"
)

func write(t *testing.T, root, path, content string) {
	t.Helper()
	p := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRead(t *testing.T) {
	root := t.TempDir()
	write(t, root, "/lib/systemd/system/redis-server.service", `[Unit]
Description=Advanced key-value store
ExecStart=/not/in/service/section

[Service]
Type=notify
ExecStart=/usr/bin/redis-server /etc/redis/redis.conf \
    --supervised systemd --daemonize no
# ExecStart=/commented/out
`)
	write(t, root, "/usr/lib/systemd/system/web.service", "[Service]\nType=forking\nExecStart=-/usr/sbin/web -d\nExecStart=/usr/sbin/web-helper\n")
	// a vendor drop-in replaces the command; our own drop-in is ignored
	write(t, root, "/usr/lib/systemd/system/web.service.d/10-args.conf", "[Service]\nExecStart=\nExecStart=-/usr/sbin/web -d --fast\n")
	write(t, root, "/etc/systemd/system/web.service.d/mptcpkit.conf", "[Service]\nExecStart=\nExecStart=/bin/false\n")
	write(t, root, "/lib/systemd/system/getty@.service", "[Service]\nExecStart=/sbin/agetty %I\n")
	write(t, root, "/lib/systemd/system/noexec.service", "[Service]\nType=oneshot\n")

	for _, tc := range []struct {
		name string
		want *systemd.Unit
	}{
		{"redis-server", &systemd.Unit{Name: "redis-server.service", Path: root + "/lib/systemd/system/redis-server.service", Type: "notify",
			ExecStart: []string{"/usr/bin/redis-server /etc/redis/redis.conf      --supervised systemd --daemonize no"}}},
		{"web.service", &systemd.Unit{Name: "web.service", Path: root + "/usr/lib/systemd/system/web.service", Type: "forking",
			ExecStart: []string{"-/usr/sbin/web -d --fast"}}},
		{"getty@tty1", &systemd.Unit{Name: "getty@tty1.service", Path: root + "/lib/systemd/system/getty@.service",
			ExecStart: []string{"/sbin/agetty %I"}}},
	} {
		got, err := systemd.Read(root, tc.name)
		if err != nil {
			t.Errorf("Read(%s): %v", tc.name, err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("Read(%s) (-want +got)\n%s", tc.name, d)
		}
	}
	for _, tc := range []struct {
		name string
		is   error
	}{
		{"nosuch", systemd.ErrUnknownUnit},
		{"noexec", nil},
		{"foo.socket", nil},
		{"../etc", nil},
	} {
		_, err := systemd.Read(root, tc.name)
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("Read(%s): %v, want an error (%v)", tc.name, err, tc.is)
		}
	}
}

func TestWrap(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/usr/bin/x a b", "/m run -- /usr/bin/x a b"},
		{"-/usr/bin/x", "-/m run -- /usr/bin/x"},
		{"+!/usr/bin/x", "+!/m run -- /usr/bin/x"},
	} {
		got, err := systemd.Wrap("/m", tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Wrap(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"@/usr/bin/x x-name", "/usr/bin/mptcpkit run -- /usr/bin/x"} {
		if got, err := systemd.Wrap("/m", in); err == nil {
			t.Errorf("Wrap(%q) = %q, want an error", in, got)
		}
	}
}

func TestEnableDisable(t *testing.T) {
	root := t.TempDir()
	vendor := "[Service]\nType=forking\nExecStart=/usr/sbin/web -d\n"
	write(t, root, "/lib/systemd/system/web.service", vendor)
	p, _, err := systemd.Enable(root, "web", "/usr/bin/mptcpkit")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	want := "# Written by `mptcpkit enable web.service`: runs the service with its TCP sockets\n" +
		"# turned into MPTCP. Remove with `mptcpkit disable web.service`.\n" +
		"[Service]\n# mptcpkit run stays in the foreground and waits for the daemon it forks.\nType=exec\n" +
		"ExecStart=\nExecStart=/usr/bin/mptcpkit run -- /usr/sbin/web -d\n"
	if d := cmp.Diff(want, string(got)); d != "" {
		t.Errorf("drop-in (-want +got)\n%s", d)
	}
	// Enabling again reads the vendor file, not our drop-in: same result.
	if _, _, err := systemd.Enable(root, "web", "/usr/bin/mptcpkit"); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(p)
	if string(again) != string(got) {
		t.Errorf("second enable changed the drop-in:\n%s", again)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "/lib/systemd/system/web.service")); string(b) != vendor {
		t.Errorf("vendor unit file changed: %q", b)
	}
	// A later drop-in setting ExecStart would override ours: refuse.
	write(t, root, "/etc/systemd/system/web.service.d/override.conf", "[Service]\nExecStart=\nExecStart=/x\n")
	if _, _, err := systemd.Enable(root, "web", "/usr/bin/mptcpkit"); err == nil {
		t.Error("enable with a later override.conf setting ExecStart: no error")
	}
	os.Remove(filepath.Join(root, "/etc/systemd/system/web.service.d/override.conf"))

	if _, err := systemd.Disable(root, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(p)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("drop-in directory left behind: %v", err)
	}
	if _, err := systemd.Disable(root, "web"); !errors.Is(err, systemd.ErrNotEnabled) {
		t.Errorf("second disable: %v, want ErrNotEnabled", err)
	}
}
