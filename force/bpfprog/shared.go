package bpfprog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/mptcpkit/mptcpkit/force/cgroup"
	"golang.org/x/sys/unix"
)

// LockDir holds the lock file every user of the shared program takes.
const LockDir = "/run/mptcpkit"

// PinDir is where mptcpkit versions before the kernel matrix pinned the
// program's link and maps. Nothing is pinned any more: a user killed with
// SIGKILL could not unpin, and the program stayed attached for ever.
const PinDir = "/sys/fs/bpf/mptcpkit"

// progName is the fmod_ret program's name as the kernel shows it.
const progName = "mptcpkit_force"

// Shared is one user's handle on the program and link shared by every
// concurrent `mptcpkit run --method bpf` and `mptcpkit force`. Nothing is
// pinned: each user holds file descriptors on the link and the maps, and a
// newcomer finds the attached link by enumerating the kernel's links (its
// program is named mptcpkit_force) and opens it and its maps by id. When
// the last user exits — normally or killed with SIGKILL — the kernel
// releases the link, which detaches the program. Scope entries are
// reference counted, and all changes happen under an exclusive flock on
// LockDir/bpf.lock.
type Shared struct {
	lock    string
	Maps    *Maps
	link    link.Link
	cgroups []uint64
	comms   [][CommLen]byte
}

// OpenShared attaches the program, or joins the attachment another mptcpkit
// process made, taking the lock in dir (LockDir when empty). It first loads
// the program on its own, so that a kernel that cannot run it is reported
// (wrapping ErrNotSupported) before anything is created.
func OpenShared(dir string) (*Shared, error) {
	if dir == "" {
		dir = LockDir
	}
	if err := Probe(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Shared{lock: filepath.Join(dir, "bpf.lock")}
	err := s.locked(func() error {
		l, m, err := findAttached()
		if err != nil {
			return err
		}
		if l != nil {
			s.link, s.Maps = l, m
			pruneCgroups(m.Cgroups)
			return nil
		}
		if m, err = NewMaps(); err != nil {
			return err
		}
		a, err := Attach(m)
		if err != nil {
			m.Close()
			return err
		}
		a.Program.Close() // the link holds it
		s.link, s.Maps = a.Link, m
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// findAttached returns the attached link of our program and its maps, or
// nil when there is none.
func findAttached() (link.Link, *Maps, error) {
	var found link.Link
	var maps *Maps
	err := eachLink(func(l link.Link, pi *ebpf.ProgramInfo) bool {
		ids, _ := pi.MapIDs()
		m := &Maps{}
		for _, id := range ids {
			mp, err := ebpf.NewMapFromID(id)
			if err != nil {
				continue
			}
			mi, err := mp.Info()
			switch {
			case err == nil && mi.KeySize == 8 && m.Cgroups == nil:
				m.Cgroups = mp
			case err == nil && mi.KeySize == CommLen && m.Comms == nil:
				m.Comms = mp
			default:
				mp.Close()
			}
		}
		if m.Cgroups == nil || m.Comms == nil {
			if m.Cgroups != nil {
				m.Cgroups.Close()
			}
			if m.Comms != nil {
				m.Comms.Close()
			}
			return false // being released by its last user
		}
		found, maps = l, m
		return true
	})
	return found, maps, err
}

// Links returns how many links to our program the kernel has: 1 while
// anyone uses it, 0 once the last user has gone.
func Links() (int, error) {
	n := 0
	err := eachLink(func(l link.Link, _ *ebpf.ProgramInfo) bool {
		l.Close()
		n++
		return false
	})
	return n, err
}

// eachLink calls fn with every tracing link to a program named progName
// (fn owns the link) until fn returns true. Links that vanish or are being
// released while we look (ENOENT, EAGAIN) are skipped.
func eachLink(fn func(link.Link, *ebpf.ProgramInfo) bool) error {
	var id uint32
	for {
		attr := struct{ start, next, flags uint32 }{start: id}
		_, _, errno := unix.Syscall(unix.SYS_BPF, bpfLinkGetNextID, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if errno == unix.ENOENT {
			return nil
		}
		if errno != 0 {
			return fmt.Errorf("list BPF links: %w", errno)
		}
		id = attr.next
		l, err := link.NewFromID(link.ID(id))
		if err != nil {
			continue
		}
		mine, pi := isOurs(l)
		if !mine {
			l.Close()
			continue
		}
		if fn(l, pi) {
			return nil
		}
	}
}

// bpfLinkGetNextID is the bpf(2) command BPF_LINK_GET_NEXT_ID.
const bpfLinkGetNextID = 31

func isOurs(l link.Link) (bool, *ebpf.ProgramInfo) {
	info, err := l.Info()
	if err != nil || info.Type != link.TracingType {
		return false, nil
	}
	p, err := ebpf.NewProgramFromID(info.Program)
	if err != nil {
		return false, nil
	}
	defer p.Close()
	pi, err := p.Info()
	if err != nil || pi.Name != progName {
		return false, nil
	}
	return true, pi
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

func (s *Shared) locked(fn func() error) error {
	fd, err := unix.Open(s.lock, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("open lock %s: %w", s.lock, err)
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", s.lock, err)
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

// Close removes this user's scope entries and closes its descriptors: the
// last user's close releases the link, which detaches the program.
func (s *Shared) Close() error {
	return s.locked(func() error {
		var errs []error
		for _, id := range s.cgroups {
			errs = append(errs, adjust(s.Maps.Cgroups, id, -1))
		}
		for _, k := range s.comms {
			errs = append(errs, adjust(s.Maps.Comms, k, -1))
		}
		errs = append(errs, s.link.Close(), s.Maps.Close())
		return errors.Join(errs...)
	})
}

// pruneCgroups deletes the entries of cgroups that no longer exist: a
// `run --method bpf` killed with SIGKILL while others use the program
// cannot remove its own.
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
