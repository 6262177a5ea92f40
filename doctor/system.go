package doctor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/mptcpkit/mptcpkit/force/bpfprog"
	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/internal/proc"
	"github.com/mptcpkit/mptcpkit/netns"
	"github.com/mptcpkit/mptcpkit/pm"
)

// System returns the facts of the running host, as seen from network
// namespace ns (nil: the caller's). Namespace-scoped facts (sockets,
// sysctls, path manager, interfaces) are read inside ns on a locked thread;
// the caller's threads stay where they are. ns must stay open while the
// facts are used.
func System(ns *netns.NetNS) Facts { return &system{ns: ns} }

type system struct {
	ns *netns.NetNS
}

func (s *system) do(fn func() error) error {
	if s.ns == nil {
		return fn()
	}
	return s.ns.Do(fn)
}

func (s *system) KernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

func (s *system) MPTCPSocket(family int) error {
	return s.do(func() error {
		fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	})
}

func (s *system) Sysctls() (map[string]string, error) {
	m := map[string]string{}
	err := s.do(func() error {
		const dir = "/proc/sys/net/mptcp"
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				continue // write-only or vanished
			}
			m["net.mptcp."+e.Name()] = strings.TrimSpace(string(b))
		}
		return nil
	})
	return m, err
}

func (s *system) client() (*pm.Client, error) {
	cfg := &pm.Config{}
	if s.ns != nil {
		cfg.NetNS = s.ns.FD()
	}
	return pm.Dial(cfg)
}

func (s *system) Limits() (pm.Limits, error) {
	c, err := s.client()
	if err != nil {
		return pm.Limits{}, err
	}
	defer c.Close()
	return c.Limits()
}

func (s *system) Endpoints() ([]pm.Endpoint, error) {
	c, err := s.client()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Endpoints()
}

func (s *system) Interfaces() ([]Interface, error) {
	var out []Interface
	err := s.do(func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, i := range ifs {
			up := i.Flags&net.FlagUp != 0
			ifc := Interface{Index: i.Index, Name: i.Name, Up: up, NoCarrier: up && i.Flags&net.FlagRunning == 0}
			addrs, err := i.Addrs()
			if err != nil {
				return fmt.Errorf("addresses of %s: %w", i.Name, err)
			}
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(n.IP); ok {
						ifc.Addrs = append(ifc.Addrs, ip.Unmap())
					}
				}
			}
			out = append(out, ifc)
		}
		return nil
	})
	return out, err
}

// nsInode returns the inode of the checked network namespace.
func (s *system) nsInode() (uint64, error) {
	var st unix.Stat_t
	if s.ns != nil {
		if err := unix.Fstat(s.ns.FD(), &st); err != nil {
			return 0, err
		}
		return st.Ino, nil
	}
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

func (s *system) Processes() ([]Process, error) {
	ino, err := s.nsInode()
	if err != nil {
		return nil, fmt.Errorf("network namespace inode: %w", err)
	}
	pids, err := proc.PIDs()
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, pid := range pids {
		comm, err := proc.Comm(pid)
		if err != nil {
			continue // gone
		}
		p := Process{PID: pid, Comm: comm}
		p.Args, _ = proc.Cmdline(pid)
		if ns, err := proc.NetNSOf(pid); err == nil {
			p.SameNetNS = ns.Ino == ino
		}
		out = append(out, p)
	}
	return out, nil
}

// nmConfigFiles are read in NetworkManager's order: later settings win.
func nmConfigFiles() []string {
	files := []string{}
	for _, d := range []string{"/usr/lib/NetworkManager/conf.d", "/run/NetworkManager/conf.d", "/etc/NetworkManager/conf.d"} {
		m, _ := filepath.Glob(filepath.Join(d, "*.conf"))
		slices.Sort(m)
		if d == "/etc/NetworkManager/conf.d" {
			files = append(files, "/etc/NetworkManager/NetworkManager.conf")
		}
		files = append(files, m...)
	}
	return files
}

func (s *system) NetworkManager() (NetworkManagerConfig, error) {
	var nm NetworkManagerConfig
	for _, f := range nmConfigFiles() {
		b, err := os.ReadFile(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nm, err
		}
		if v, ok := nmMPTCPFlags(b); ok {
			nm = NetworkManagerConfig{MPTCPFlags: v, File: f}
		}
	}
	return nm, nil
}

// nmMPTCPFlags finds connection.mptcp-flags in a [connection*] section of a
// NetworkManager.conf-style file.
func nmMPTCPFlags(b []byte) (string, bool) {
	var val string
	var found, inConn bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
		case l[0] == '[':
			inConn = strings.HasPrefix(l, "[connection")
		case inConn:
			k, v, ok := strings.Cut(l, "=")
			if ok && strings.TrimSpace(k) == "connection.mptcp-flags" {
				val, found = strings.TrimSpace(v), true
			}
		}
	}
	return val, found
}

func (s *system) KernelBTF() (BTF, error) {
	var b BTF
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return b, nil
		}
		return b, err
	}
	b.VMLinux = true
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return b, err
	}
	var fn *btf.Func
	if err := spec.TypeByName("update_socket_protocol", &fn); err == nil {
		b.UpdateSocketProtocol = true
	} else if !errors.Is(err, btf.ErrNotFound) {
		return b, err
	}
	if b.UpdateSocketProtocol {
		// Having the hook is not enough: load the real program once.
		if err := bpfprog.Probe(); err != nil {
			b.LoadError = err.Error()
		}
	}
	return b, nil
}
