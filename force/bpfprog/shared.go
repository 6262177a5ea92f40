package bpfprog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/mptcpkit/mptcpkit/force/cgroup"
	"golang.org/x/sys/unix"
)

// PinDir is where the shared program's maps and link are pinned.
const PinDir = "/sys/fs/bpf/mptcpkit"

// Shared is one user's handle on the program and link shared by every
// concurrent `mptcpkit run --method bpf` and `mptcpkit force`: the maps and
// the link are pinned under a directory in bpffs, scope entries are
// reference counted, and all changes happen under an exclusive flock on that
// directory. The last user to leave both maps empty unpins the link, which
// detaches the program.
type Shared struct {
	dir     string
	Maps    *Maps
	link    link.Link
	cgroups []uint64
	comms   [][CommLen]byte
}

func (s *Shared) pin(name string) string { return filepath.Join(s.dir, name) }

// OpenShared attaches the program, or joins the attachment another mptcpkit
// process made, pinned under dir (PinDir when empty). It first loads the
// program on its own, so that a kernel that refuses trampolines is reported
// (wrapping ErrNotSupported) before anything is created.
func OpenShared(dir string) (*Shared, error) {
	if dir == "" {
		dir = PinDir
	}
	if err := Probe(); err != nil {
		return nil, err
	}
	if err := ensureBPFFS(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Shared{dir: dir}
	err := s.locked(func() error {
		if l, err := link.LoadPinnedLink(s.pin("link"), nil); err == nil {
			cg, err1 := ebpf.LoadPinnedMap(s.pin(CgroupsMap), nil)
			co, err2 := ebpf.LoadPinnedMap(s.pin(CommsMap), nil)
			if err := errors.Join(err1, err2); err != nil {
				l.Close()
				return fmt.Errorf("load pinned maps from %s: %w (remove %s if it is stale)", dir, err, dir)
			}
			s.link, s.Maps = l, &Maps{Cgroups: cg, Comms: co}
			pruneCgroups(cg)
			return nil
		}
		m, err := NewMaps()
		if err != nil {
			return err
		}
		a, err := Attach(m)
		if err != nil {
			m.Close()
			return err
		}
		a.Program.Close() // the link holds it
		for _, e := range []struct {
			p interface{ Pin(string) error }
			n string
		}{{m.Cgroups, CgroupsMap}, {m.Comms, CommsMap}, {a.Link, "link"}} {
			os.Remove(s.pin(e.n))
			if err := e.p.Pin(s.pin(e.n)); err != nil {
				a.Link.Unpin()
				a.Link.Close()
				m.Close()
				return fmt.Errorf("pin %s: %w", e.n, err)
			}
		}
		s.link, s.Maps = a.Link, m
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Probe loads the fmod_ret program (with empty maps) and unloads it: an
// error wrapping ErrNotSupported means the kernel cannot run it.
func Probe() error {
	m, err := NewMaps()
	if err != nil {
		return err
	}
	defer m.Close()
	p, err := NewProgram(m)
	if err != nil {
		return err
	}
	return p.Close()
}

func ensureBPFFS(mnt string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err == nil && st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := unix.Mount("bpf", mnt, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs on %s: %w (mount it with: mount -t bpf bpf %s)", mnt, err, mnt)
	}
	return nil
}

func (s *Shared) locked(fn func() error) error {
	fd, err := unix.Open(s.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", s.dir, err)
	}
	defer unix.Flock(fd, unix.LOCK_UN)
	return fn()
}

func adjust(m *ebpf.Map, key any, delta int) error {
	var n uint32
	if err := m.Lookup(key, &n); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	v := int(n) + delta
	if v <= 0 {
		if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
		return nil
	}
	return m.Put(key, uint32(v))
}

// AddCgroup puts cgroup id (and so its descendants) in scope.
func (s *Shared) AddCgroup(id uint64) error {
	return s.locked(func() error {
		if err := adjust(s.Maps.Cgroups, id, +1); err != nil {
			return fmt.Errorf("add cgroup %d to %s: %w", id, CgroupsMap, err)
		}
		s.cgroups = append(s.cgroups, id)
		return nil
	})
}

// AddComm puts tasks named name (as the kernel stores it, truncated to
// CommLen-1 bytes) in scope.
func (s *Shared) AddComm(name string) error {
	var k [CommLen]byte
	copy(k[:CommLen-1], name)
	return s.locked(func() error {
		if err := adjust(s.Maps.Comms, k, +1); err != nil {
			return fmt.Errorf("add name %q to %s: %w", name, CommsMap, err)
		}
		s.comms = append(s.comms, k)
		return nil
	})
}

// Close removes this user's scope entries; if the maps are then empty it
// unpins the link and maps, detaching the program.
func (s *Shared) Close() error {
	return s.locked(func() error {
		var errs []error
		for _, id := range s.cgroups {
			errs = append(errs, adjust(s.Maps.Cgroups, id, -1))
		}
		for _, k := range s.comms {
			errs = append(errs, adjust(s.Maps.Comms, k, -1))
		}
		if empty(s.Maps.Cgroups) && empty(s.Maps.Comms) {
			errs = append(errs, s.link.Unpin(), s.Maps.Cgroups.Unpin(), s.Maps.Comms.Unpin())
		}
		errs = append(errs, s.link.Close(), s.Maps.Close())
		return errors.Join(errs...)
	})
}

func empty(m *ebpf.Map) bool {
	var k []byte
	var v uint32
	it := m.Iterate()
	return !it.Next(&k, &v)
}

// pruneCgroups deletes the entries of cgroups that no longer exist: a
// `run --method bpf` killed with SIGKILL cannot remove its own, and they
// would keep the program attached for ever.
func pruneCgroups(m *ebpf.Map) {
	root, err := cgroup.Root()
	if err != nil {
		return
	}
	var id uint64
	var n uint32
	var gone []uint64
	it := m.Iterate()
	for it.Next(&id, &n) {
		if ok, err := cgroup.Exists(root, id); err == nil && !ok {
			gone = append(gone, id)
		}
	}
	for _, id := range gone {
		m.Delete(id)
	}
}
