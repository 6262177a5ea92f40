package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mptcpkit/mptcpkit/lab"
	"github.com/mptcpkit/mptcpkit/netns"
)

// DefaultRcvBuf is the initial TCP receive buffer (the middle value of
// net.ipv4.tcp_rmem) Run sets in both lab namespaces, for the TCP and the
// MPTCP rows alike. With the kernel's 128 KiB the MPTCP client sockets
// drop data their subflows have already acknowledged (the receive stall
// of docs/BENCHMARKS.md). A job's connection has up to 1 MiB (4k row:
// 256 x 4 KiB) or 4 MiB (128k row: 32 x 128 KiB) of replies in flight,
// and the window a buffer allows is only part of it (skb overhead): 4 MiB
// cured the 4k row but once let a 128k row stall; 16 MiB covers both.
const DefaultRcvBuf = 16 << 20

// rmemKey is the sysctl Run tunes.
const rmemKey = "net.ipv4.tcp_rmem"

// setRcvBuf sets the middle value of net.ipv4.tcp_rmem to def in each
// namespace (raising the maximum to def if it is lower) and returns a
// function that puts the old values back.
func setRcvBuf(namespaces []string, def int) (restore func() error, err error) {
	var undo []func() error
	restore = func() error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			if err := undo[i](); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("restore %s: %v", rmemKey, errs)
		}
		return nil
	}
	for _, name := range namespaces {
		old, err := nsSysctl(name, rmemKey, "")
		if err != nil {
			return restore, err
		}
		f := strings.Fields(old)
		if len(f) != 3 {
			return restore, fmt.Errorf("%s in %s is %q: want 3 numbers", rmemKey, name, old)
		}
		maxv, err := strconv.Atoi(f[2])
		if err != nil {
			return restore, fmt.Errorf("%s in %s is %q: %w", rmemKey, name, old, err)
		}
		val := fmt.Sprintf("%s %d %d", f[0], def, max(maxv, def))
		if _, err := nsSysctl(name, rmemKey, val); err != nil {
			return restore, err
		}
		undo = append(undo, func() error { _, err := nsSysctl(name, rmemKey, old); return err })
	}
	return restore, nil
}

// nsSysctl reads key in namespace name, or writes value if it is not "".
func nsSysctl(name, key, value string) (string, error) {
	ns, err := netns.Open(name)
	if err != nil {
		return "", err
	}
	defer ns.Close()
	p := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	var b []byte
	err = ns.Do(func() (err error) {
		if value != "" {
			return os.WriteFile(p, []byte(value), 0o644)
		}
		b, err = os.ReadFile(p)
		return err
	})
	if err != nil {
		if value != "" {
			return "", fmt.Errorf("sysctl %s=%q in %s: %w", key, value, name, err)
		}
		return "", fmt.Errorf("sysctl %s in %s: %w", key, name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// windowDrops reads MPTcpExtNoDSSInWindow in namespace name: data that
// reached an MPTCP socket through a subflow - so the subflow had
// acknowledged it - but lay beyond the MPTCP-level receive window and was
// dropped. Only an MPTCP-level retransmission brings it back.
func windowDrops(name string) (uint64, error) {
	ns, err := netns.Open(name)
	if err != nil {
		return 0, err
	}
	defer ns.Close()
	var b []byte
	// /proc/thread-self/net is the calling thread's namespace (Do runs fn
	// on a thread locked into ns).
	if err := ns.Do(func() (err error) { b, err = os.ReadFile("/proc/thread-self/net/netstat"); return err }); err != nil {
		return 0, fmt.Errorf("counters in %s: %w", name, err)
	}
	return netstatField(string(b), "MPTcpExt", "NoDSSInWindow")
}

// netstatField finds field in group of a /proc/net/netstat text (a line
// of names followed by a line of values per group).
func netstatField(text, group, field string) (uint64, error) {
	lines := strings.Split(text, "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != group+":" || len(values) != len(names) || values[0] != group+":" {
			continue
		}
		for j := 1; j < len(names); j++ {
			if names[j] == field {
				return strconv.ParseUint(values[j], 10, 64)
			}
		}
		return 0, fmt.Errorf("netstat: %s has no %s (kernel without MPTCP?)", group, field)
	}
	return 0, fmt.Errorf("netstat: no %s counters (kernel without MPTCP?)", group)
}

// labNamespaces are the namespaces whose receive buffers Run tunes.
func labNamespaces(st *lab.Testbed) []string { return []string{st.Client, st.Server} }
