package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"36 35 98:0 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup", nil},
		{"22 21 0:20 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
			"30 22 0:26 / /sys/fs/cgroup/unified rw shared:4 - cgroup2 cgroup2 rw,nsdelegate\n", "/sys/fs/cgroup/unified", nil},
		{"30 22 0:26 / /mnt/with\\040space rw - cgroup2 none rw\n", "/mnt/with space", nil},
		{"22 21 0:20 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", "", ErrNoV2},
		{"garbage\n\n", "", ErrNoV2},
	} {
		got, err := parseMountinfo(strings.NewReader(tc.in))
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("parseMountinfo(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestResolve(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "system.slice/redis.service"), 0o755)
	for _, in := range []string{"/system.slice/redis.service", "system.slice/redis.service", root + "/system.slice/redis.service"} {
		got, err := Resolve(root, in)
		if err != nil || got != filepath.Join(root, "system.slice/redis.service") {
			t.Errorf("Resolve(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "/nope", "/../../etc"} {
		if got, err := Resolve(root, in); err == nil {
			t.Errorf("Resolve(%q) = %q, want an error", in, got)
		}
	}
}

func TestRoot(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Skipf("no cgroup v2 here: %v", err)
	}
	id, err := ID(root)
	if err != nil || id == 0 {
		t.Errorf("ID(%s) = %d, %v", root, id, err)
	}
	if _, err := ID(t.TempDir()); err == nil {
		t.Error("ID of a non-cgroup directory: no error")
	}
}

func TestExists(t *testing.T) {
	nstest.Require(t)
	root, err := Root()
	if err != nil {
		t.Skipf("no cgroup v2 here: %v", err)
	}
	dir := filepath.Join(root, "mptcpkit-test-exists-"+strings.ReplaceAll(t.Name(), "/", "-"))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer Remove(dir)
	id, err := ID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := Exists(root, id); !ok || err != nil {
		t.Errorf("Exists(live cgroup %d) = %v, %v", id, ok, err)
	}
	if err := Remove(dir); err != nil {
		t.Fatal(err)
	}
	if ok, err := Exists(root, id); ok || err != nil {
		t.Errorf("Exists(removed cgroup %d) = %v, %v; want false", id, ok, err)
	}
}
