package lab

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/proc"
	"github.com/mptcpkit/mptcpkit/netns"
)

// Down removes lab name: its delay line, every process still running in
// its namespaces or holding one open, its nftables tables, its namespaces
// (and with them the veths and TUN devices), its state file, and the host's
// congestion-control allowance if it was the last lab needing it. It works by name, without
// the state file too, and removing a lab that does not exist is no error.
func Down(name string, log *slog.Logger) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var errs []error
	st, _ := Load(name)

	pids := delayLinePIDs(name)
	if st != nil && st.DelayPID > 0 && !containsInt(pids, st.DelayPID) && isDelayLine(st.DelayPID, name) {
		pids = append(pids, st.DelayPID)
	}
	nss := labNamespaces(name)
	pids = append(pids, pidsIn(nss)...)
	for _, pid := range pids {
		log.Debug("lab down: kill", "lab", name, "pid", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for proc.Alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if proc.Alive(pid) {
			errs = append(errs, fmt.Errorf("process %d of lab %s does not die", pid, name))
		}
	}

	for _, n := range nss {
		if ns, err := netns.Open(n); err == nil {
			deleteNftTable(ns, name)
			ns.Close()
		}
		log.Debug("lab down: delete namespace", "lab", name, "netns", n)
		if err := netns.Delete(n); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := restoreCC(name); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []string{statePath(name), statePath(name) + ".tmp", logPath(name)} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func isDelayLine(pid int, name string) bool {
	return containsInt(delayLinePIDs(name), pid)
}

// pidsIn lists the processes (other than this one) whose network
// namespace is one of the named ones, or that hold one of them open (as
// `mptcpkit -n mk-NAME-server bench server` does: its sockets live in the
// namespace while the process stays outside, and its descriptor would keep
// the namespace alive after Down).
func pidsIn(names []string) []int {
	if len(names) == 0 {
		return nil
	}
	inodes := map[uint64]bool{}
	for _, n := range names {
		var st syscall.Stat_t
		if err := syscall.Stat(netns.Path(n), &st); err == nil {
			inodes[st.Ino] = true
		}
	}
	pids, _ := proc.Find(func(pid int) bool {
		ns, err := proc.NetNSOf(pid)
		return err == nil && (inodes[ns.Ino] || holdsNetNS(pid, names, inodes)) && proc.Alive(pid)
	})
	return pids
}

// holdsNetNS reports whether process pid has a descriptor open on one of
// the named network namespaces: opened by its /run/netns path (the link
// reads as that path) or otherwise (it reads "net:[INODE]").
func holdsNetNS(pid int, names []string, inodes map[uint64]bool) bool {
	fds, _ := proc.FDs(pid)
	for _, fd := range fds {
		if ino, ok := fd.Inode("net"); ok {
			if inodes[ino] {
				return true
			}
			continue
		}
		for _, n := range names {
			if fd.Target == netns.Path(n) {
				return true
			}
		}
	}
	return false
}

// Exists reports whether anything of lab name exists.
func Exists(name string) bool { return len(leftovers(name)) > 0 }
