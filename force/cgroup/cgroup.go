package cgroup

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoV2 is wrapped when no cgroup v2 hierarchy is mounted.
var ErrNoV2 = errors.New("no cgroup v2 hierarchy is mounted (mount -t cgroup2 none /sys/fs/cgroup)")

// Root returns the mount point of the cgroup v2 hierarchy, read from
// /proc/self/mountinfo (e.g. /sys/fs/cgroup, or /sys/fs/cgroup/unified on a
// hybrid system).
func Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	return parseMountinfo(f)
}

func parseMountinfo(f interface{ Read([]byte) (int, error) }) (string, error) {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - cgroup2 none rw
		line := sc.Text()
		left, right, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		rf := strings.Fields(right)
		lf := strings.Fields(left)
		if len(rf) < 1 || len(lf) < 5 || rf[0] != "cgroup2" {
			continue
		}
		return unescape(lf[4]), nil
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", ErrNoV2
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ID returns the cgroup id of the cgroup directory dir.
func ID(dir string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	if sfs.Type != unix.CGROUP2_SUPER_MAGIC {
		return 0, fmt.Errorf("%s is not in a cgroup v2 file system", dir)
	}
	return st.Ino, nil
}

// Resolve turns a cgroup path as systemd and /proc/PID/cgroup show it
// (e.g. /system.slice/redis-server.service), or a path under the mount
// point, into a directory in the cgroup v2 file system.
func Resolve(root, path string) (string, error) {
	if path == "" {
		return "", errors.New("empty cgroup path")
	}
	clean := filepath.Clean("/" + path)
	dir := clean
	if !strings.HasPrefix(clean+"/", root+"/") {
		dir = filepath.Join(root, clean)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("cgroup %s: %w (paths are relative to the cgroup v2 mount %s, as in /proc/PID/cgroup)", path, err, root)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("cgroup %s: %s is not a directory", path, dir)
	}
	return dir, nil
}

// Of returns the cgroup v2 path of process pid as /proc/PID/cgroup shows it
// ("/" for the root); pid 0 means the calling process.
func Of(pid int) (string, error) {
	p := "/proc/self/cgroup"
	if pid != 0 {
		p = fmt.Sprintf("/proc/%d/cgroup", pid)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest, nil
		}
	}
	return "", fmt.Errorf("%s has no cgroup v2 entry: %w", p, ErrNoV2)
}

// Procs returns the pids of the processes in the cgroup directory dir.
func Procs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// Move writes pid (0 = the calling process) into dir's cgroup.procs.
func Move(dir string, pid int) error {
	if pid == 0 {
		pid = os.Getpid()
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("move process %d into cgroup %s: %w", pid, dir, err)
	}
	return nil
}

// Kill kills every process in dir and its descendants with cgroup.kill
// (where the kernel has it), or by SIGKILLing the listed pids where that is missing.
func Kill(dir string) error {
	err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	if err == nil {
		return nil
	}
	pids, perr := Procs(dir)
	if perr != nil {
		return errors.Join(err, perr)
	}
	for _, p := range pids {
		unix.Kill(p, unix.SIGKILL)
	}
	return nil
}

// Remove removes dir and its child cgroups (deepest first), retrying
// briefly while the last processes are being reaped (rmdir says EBUSY).
func Remove(dir string) error {
	entries, _ := os.ReadDir(dir)
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			errs = append(errs, Remove(filepath.Join(dir, e.Name())))
		}
	}
	var err error
	for i := 0; i < 50; i++ {
		err = unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return errors.Join(errs...)
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.Join(append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))...)
}

// Exists reports whether a cgroup with id lives in the cgroup v2 hierarchy
// mounted at root, by opening it by file handle (the handle of a cgroup2
// directory is its 64-bit id).
func Exists(root string, id uint64) (bool, error) {
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, root, 0)
	if err != nil {
		return false, fmt.Errorf("name_to_handle_at %s: %w", root, err)
	}
	mnt, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(mnt)
	b := make([]byte, 8)
	binary.NativeEndian.PutUint64(b, id)
	fd, err := unix.OpenByHandleAt(mnt, unix.NewFileHandle(h.Type(), b), unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.ESTALE) || errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("open_by_handle_at cgroup %d: %w", id, err)
	}
	unix.Close(fd)
	return true, nil
}
