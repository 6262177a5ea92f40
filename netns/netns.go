package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is where named network namespaces are bind-mounted, as with iproute2.
const Dir = "/run/netns"

// NetNS is an open handle on a network namespace.
type NetNS struct {
	f    *os.File
	name string
}

// Path returns the path of the namespace called name: a name without a slash
// is looked up in Dir; anything with a slash is taken as a path.
func Path(name string) string {
	if strings.ContainsRune(name, '/') {
		return name
	}
	return filepath.Join(Dir, name)
}

// Open opens the namespace called name (see Path) or at a path such as
// /proc/PID/ns/net.
func Open(name string) (*NetNS, error) {
	if name == "" {
		return nil, errors.New("netns: empty namespace name")
	}
	p := Path(name)
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("network namespace %q does not exist (no %s; list them with `ip netns list`, create one with `ip netns add %s`): %w", name, p, filepath.Base(p), os.ErrNotExist)
		}
		return nil, fmt.Errorf("open network namespace %q: %w", name, err)
	}
	if err := checkNetNS(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is not a network namespace: %w", p, err)
	}
	return &NetNS{f: f, name: name}, nil
}

// Current opens the calling thread's network namespace.
func Current() (*NetNS, error) {
	f, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return nil, err
	}
	return &NetNS{f: f, name: "current"}, nil
}

// FromFD wraps an already open namespace file descriptor. The NetNS takes a
// duplicate; the caller keeps ownership of fd.
func FromFD(fd int) (*NetNS, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup namespace fd %d: %w", fd, err)
	}
	f := os.NewFile(uintptr(nfd), fmt.Sprintf("netns-fd-%d", fd))
	if err := checkNetNS(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("fd %d is not a network namespace: %w", fd, err)
	}
	return &NetNS{f: f, name: f.Name()}, nil
}

func checkNetNS(f *os.File) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Type != unix.NSFS_MAGIC && st.Type != unix.PROC_SUPER_MAGIC {
		return errors.New("not an nsfs file")
	}
	return nil
}

// Name returns the name or path the namespace was opened with.
func (n *NetNS) Name() string { return n.name }

// FD returns the namespace's file descriptor, valid until Close. It can be
// passed to netlink.Config.NetNS and similar options.
func (n *NetNS) FD() int { return int(n.f.Fd()) }

// Close releases the handle. The namespace itself lives on while it is named
// or used.
func (n *NetNS) Close() error { return n.f.Close() }

// Same reports whether fd, an open network namespace descriptor, refers to
// the network namespace of the calling OS thread: the one a socket opened
// now would be in. That is the process's namespace on every thread but one
// inside Do, which is in the namespace it entered. Two descriptors are the
// same namespace when their nsfs files have the same device and inode.
//
// By mptcpkit's convention (pm.Config.NetNS, netmon.Config.NetNS) a
// descriptor <= 0 means "the caller's namespace", so Same(0) is true. A
// descriptor that cannot be stat'ed is not the same.
func Same(fd int) bool {
	if fd <= 0 {
		return true
	}
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil {
		return false
	}
	if unix.Stat(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// Do runs fn on a locked OS thread that has entered the namespace. The thread
// returns to its original namespace afterwards; if that fails the thread is
// left locked so that the Go runtime discards it, and no other goroutine ever
// runs in the wrong namespace.
//
// Sockets opened inside fn stay in the namespace after Do returns.
func (n *NetNS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := Current()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Setns(n.FD(), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %s: %w", n.name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig.FD(), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("return from network namespace %s: %w", n.name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Create makes a new named network namespace, bind-mounted at Dir/name as
// `ip netns add` does, and returns it open. The calling goroutine's thread is
// not moved.
func Create(name string) (*NetNS, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return nil, err
	}
	// Make Dir a shared mount point once, as iproute2 does, so that the bind
	// mounts propagate to other mount namespaces.
	if err := ensureSharedDir(); err != nil {
		return nil, err
	}
	p := filepath.Join(Dir, name)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o444)
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("network namespace %q already exists (remove it with `ip netns delete %s`): %w", name, name, os.ErrExist)
		}
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	unix.Close(fd)

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := Current()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		merr := unix.Mount(src, p, "none", unix.MS_BIND, "")
		if merr != nil {
			merr = fmt.Errorf("bind-mount %s on %s: %w", src, p, merr)
		}
		// Go back rather than let the thread die in the new namespace: if
		// this goroutine ran on the main thread, the runtime would park
		// that thread there for good and /proc/self/ns/net would name the
		// wrong namespace for the rest of the process.
		if err := unix.Setns(orig.FD(), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it is discarded with the goroutine.
			errc <- errors.Join(merr, fmt.Errorf("return from the new namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- merr
	}()
	if err := <-errc; err != nil {
		os.Remove(p)
		return nil, err
	}
	return Open(name)
}

// Delete unmounts and removes the named namespace, as `ip netns delete` does.
// The namespace goes away once no process or socket holds it.
func Delete(name string) error {
	if err := validName(name); err != nil {
		return err
	}
	p := filepath.Join(Dir, name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("network namespace %q does not exist: %w", name, os.ErrNotExist)
		}
		return err
	}
	return nil
}

// List returns the names of the namespaces in Dir.
func List() ([]string, error) {
	ents, err := os.ReadDir(Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func validName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') || len(name) > 255 {
		return fmt.Errorf("invalid network namespace name %q: use letters, digits, '-' or '_', no '/'", name)
	}
	return nil
}

func ensureSharedDir() error {
	// Already a mount point? Then leave it as it is. A bind mount of Dir on
	// itself keeps the device number of its parent, so compare mount roots
	// (statx STATX_MNT_ID) rather than devices: re-binding with MS_REC on every
	// Create stacks copies of every mount below until mount-max (ENOSPC).
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, Dir, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &stx); err == nil &&
		stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		if stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0 {
			return nil
		}
	} else {
		var st, pst unix.Stat_t
		if err := unix.Stat(Dir, &st); err != nil {
			return err
		}
		if err := unix.Stat(filepath.Dir(Dir), &pst); err != nil {
			return err
		}
		if st.Dev != pst.Dev {
			return nil
		}
	}
	if err := unix.Mount(Dir, Dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mount %s on itself: %w", Dir, err)
	}
	if err := unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", Dir, err)
	}
	return nil
}
