package sockdiag

import (
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
)

// Process is a process holding a socket.
type Process struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
	FD   int    `json:"fd"`
}

// Owners walks /proc/*/fd (like ss -p) and maps socket inodes to the
// processes that hold them. Processes that vanish or cannot be read (other
// users' without CAP_SYS_PTRACE) are skipped. Inodes are global, so this
// works for sockets of any network namespace.
func Owners() (map[uint32][]Process, error) {
	fs, err := procfs.NewFS("/proc")
	if err != nil {
		return nil, err
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return nil, err
	}
	out := map[uint32][]Process{}
	for _, p := range procs {
		targets, err := p.FileDescriptorTargets()
		if err != nil {
			continue
		}
		fds, err := p.FileDescriptors()
		if err != nil || len(fds) != len(targets) {
			fds = nil
		}
		comm := ""
		for i, t := range targets {
			rest, ok := strings.CutPrefix(t, "socket:[")
			if !ok {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 32)
			if err != nil {
				continue
			}
			if comm == "" {
				if comm, err = p.Comm(); err != nil {
					comm = "?"
				}
			}
			fd := -1
			if fds != nil {
				fd = int(fds[i])
			}
			out[uint32(ino)] = append(out[uint32(ino)], Process{PID: p.PID, Comm: comm, FD: fd})
		}
	}
	for _, ps := range out {
		sort.Slice(ps, func(i, j int) bool { return ps[i].PID < ps[j].PID || ps[i].PID == ps[j].PID && ps[i].FD < ps[j].FD })
	}
	return out, nil
}
