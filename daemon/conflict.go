package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/mptcpkit/mptcpkit/doctor"
	"github.com/mptcpkit/mptcpkit/internal/proc"
)

// Conflict is another program managing MPTCP endpoints in the namespace.
type Conflict struct {
	Manager    string   // "mptcpd" or "NetworkManager"
	Detail     string   // pid and what was found
	Interfaces []string // interfaces it manages (coexist: the daemon stays off them); nil = unknown
}

func (d *daemon) conflicts() ([]Conflict, error) {
	if d.cfg.Conflicts != nil {
		return d.cfg.Conflicts()
	}
	return DetectConflicts(d.ns.FD())
}

// DetectConflicts looks for mptcpd and NetworkManager processes living in
// the same network namespace as nsFD (a manager in another namespace does
// not touch this one's endpoints).
func DetectConflicts(nsFD int) ([]Conflict, error) {
	var target syscall.Stat_t
	if err := syscall.Fstat(nsFD, &target); err != nil {
		return nil, err
	}
	pids, err := proc.PIDs()
	if err != nil {
		return nil, err
	}
	var out []Conflict
	for _, pid := range pids {
		comm, err := proc.Comm(pid)
		if err != nil {
			continue
		}
		if comm != "mptcpd" && comm != "NetworkManager" {
			continue
		}
		if ns, err := proc.NetNSOf(pid); err != nil || ns != (proc.NetNS{Dev: uint64(target.Dev), Ino: target.Ino}) {
			continue
		}
		switch comm {
		case "mptcpd":
			// mptcpd's addr_adv plugin handles every address: it has no
			// per-interface setting, so coexisting means leaving it all
			// interfaces that already carry its endpoints (owner = created
			// does that).
			out = append(out, Conflict{Manager: "mptcpd", Detail: fmt.Sprintf("pid %d", pid)})
		case "NetworkManager":
			// With connection.mptcp-flags=disabled (0x1) set globally it
			// leaves endpoints alone: no conflict.
			if nm, err := doctor.System(nil).NetworkManager(); err == nil && nm.Disabled() {
				continue
			}
			ifs := nmManagedDevices()
			out = append(out, Conflict{Manager: "NetworkManager", Detail: fmt.Sprintf("pid %d; since 1.40 it adds MPTCP endpoints per connection.mptcp-flags", pid), Interfaces: ifs})
		}
	}
	return out, nil
}

// nmManagedDevices asks nmcli which devices NetworkManager manages.
func nmManagedDevices() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nmcli", "-t", "-f", "DEVICE,STATE", "device").Output()
	if err != nil {
		return nil
	}
	var ifs []string
	for _, line := range bytes.Split(out, []byte("\n")) {
		dev, state, ok := strings.Cut(string(line), ":")
		if ok && dev != "" && !strings.HasPrefix(state, "unmanaged") {
			ifs = append(ifs, dev)
		}
	}
	return ifs
}
