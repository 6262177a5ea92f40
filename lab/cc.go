package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

const allowedCCKey = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"

// allowedCCOrig keeps the host's allowed list from before the first lab
// widened it.
var allowedCCOrig = filepath.Join(StateDir, "host-allowed-cc.orig")

// allowCC makes cc usable in namespaces: a namespace may only pick an
// algorithm on the host's allowed list. It widens the list when needed and
// reports whether it did (Down restores it once no lab needs it).
func allowCC(cc string) (bool, error) {
	avail := strings.Fields(hostSysctl("net.ipv4.tcp_available_congestion_control"))
	if !slices.Contains(avail, cc) {
		return false, fmt.Errorf("congestion control %q is not available in this kernel (available: %s)", cc, strings.Join(avail, " "))
	}
	b, err := os.ReadFile(allowedCCKey)
	if err != nil {
		return false, err
	}
	allowed := strings.Fields(string(b))
	if slices.Contains(allowed, cc) {
		return false, nil
	}
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return false, err
	}
	if _, err := os.Stat(allowedCCOrig); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(allowedCCOrig, b, 0o644); err != nil {
			return false, err
		}
	}
	if err := os.WriteFile(allowedCCKey, []byte(strings.Join(append(allowed, cc), " ")), 0o644); err != nil {
		return false, fmt.Errorf("widen the host's net.ipv4.tcp_allowed_congestion_control to allow %s: %w", cc, err)
	}
	return true, nil
}

// restoreCC puts the host's allowed list back if no lab but except needs
// it widened.
func restoreCC(except string) error {
	orig, err := os.ReadFile(allowedCCOrig)
	if err != nil {
		return nil // nothing to restore
	}
	labs, _ := List()
	for _, s := range labs {
		if s.Name != except && s.HostAllowedCC {
			return nil
		}
	}
	if err := os.WriteFile(allowedCCKey, []byte(strings.TrimSpace(string(orig))), 0o644); err != nil {
		return fmt.Errorf("restore the host's net.ipv4.tcp_allowed_congestion_control to %q: %w", strings.TrimSpace(string(orig)), err)
	}
	return os.Remove(allowedCCOrig)
}
