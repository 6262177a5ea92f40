package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mptcpkit/mptcpkit/pm"
)

// StateDir holds the daemons' default state files.
const StateDir = "/run/mptcpkit"

// DefaultStatePath describes the default state file for help texts.
const DefaultStatePath = StateDir + "/daemon-<netns inode>.json"

// StatePathFor is the default state file of the daemon managing the
// network namespace open at nsFD: one per namespace
// (/run/mptcpkit/daemon-<inode>.json), so daemons in two namespaces never
// share one.
func StatePathFor(nsFD int) (string, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(nsFD, &st); err != nil {
		return "", fmt.Errorf("state file: identify the network namespace: %w", err)
	}
	return filepath.Join(StateDir, fmt.Sprintf("daemon-%d.json", st.Ino)), nil
}

// OwnedEndpoint is an endpoint the daemon added.
type OwnedEndpoint struct {
	ID      uint8      `json:"id"`
	Addr    netip.Addr `json:"address"`
	Flags   string     `json:"flags"`
	IfIndex int        `json:"ifindex,omitempty"`
	Link    string     `json:"link,omitempty"`
	flags   pm.Flags
}

// KernelEndpoint is an entry of the kernel's table, as `daemon status`
// shows it.
type KernelEndpoint struct {
	ID      uint8      `json:"id"`
	Addr    netip.Addr `json:"address"`
	Flags   string     `json:"flags"`
	IfIndex int        `json:"ifindex,omitempty"`
	Ours    bool       `json:"ours"`
}

// StateFile is the daemon's state file: what it owns and, for `mptcpkit
// daemon status`, why each address is in or out.
type StateFile struct {
	Version   int             `json:"version"`
	PID       int             `json:"pid"`
	NetNS     string          `json:"netns"`  // "net:[inode]" of the namespace managed
	Mode      string          `json:"mode"`   // "kernel" or "userspace"
	Policy    string          `json:"policy"` // file or "(default)"
	Updated   time.Time       `json:"updated"`
	Endpoints []OwnedEndpoint `json:"endpoints"`
	Decisions []Decision      `json:"decisions"`
	// Kernel is the whole endpoint table as last read, ours and foreign.
	Kernel    []KernelEndpoint `json:"kernel,omitempty"`
	LeftOut   []string         `json:"left_out,omitempty"`
	Limits    *pm.Limits       `json:"limits,omitempty"`
	LastError string           `json:"last_error,omitempty"`
	// Damping lists links with remembered flaps (policy [damping]).
	Damping []LinkDamping `json:"damping,omitempty"`
	// Paths are the paths as last measured (policy [quality] or the
	// status page on), with path selection's decisions.
	Paths []PathQuality `json:"paths,omitempty"`
}

// ReadState reads a state file.
func ReadState(path string) (*StateFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s StateFile
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt (%v); remove it and restart the daemon", path, err)
	}
	if s.Version != 1 {
		return nil, fmt.Errorf("state file %s has version %d; this mptcpkit reads version 1", path, s.Version)
	}
	for i := range s.Endpoints {
		e := &s.Endpoints[i]
		e.flags = parseFlags(e.Flags)
	}
	return &s, nil
}

func parseFlags(s string) pm.Flags {
	// Word by word: a word this build does not know is left out, not fatal.
	var f pm.Flags
	for w := range strings.SplitSeq(s, ",") {
		var x pm.Flags
		if x.UnmarshalText([]byte(w)) == nil {
			f |= x
		}
	}
	return f
}

// writeState writes s atomically (temporary file and rename).
func writeState(path string, s *StateFile) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readStateIfAny(path string) (*StateFile, error) {
	s, err := ReadState(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return s, err
}
