package sockdiag

import (
	"math"
	"sort"

	"github.com/mptcpkit/mptcpkit/internal/proc"
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
	pids, err := proc.PIDs()
	if err != nil {
		return nil, err
	}
	out := map[uint32][]Process{}
	for _, pid := range pids {
		fds, err := proc.FDs(pid)
		if err != nil {
			continue
		}
		comm := ""
		for _, fd := range fds {
			ino, ok := fd.Inode("socket")
			if !ok || ino > math.MaxUint32 {
				continue
			}
			if comm == "" {
				if comm, err = proc.Comm(pid); err != nil {
					comm = "?"
				}
			}
			out[uint32(ino)] = append(out[uint32(ino)], Process{PID: pid, Comm: comm, FD: fd.Num})
		}
	}
	for _, ps := range out {
		sort.Slice(ps, func(i, j int) bool { return ps[i].PID < ps[j].PID || ps[i].PID == ps[j].PID && ps[i].FD < ps[j].FD })
	}
	return out, nil
}
