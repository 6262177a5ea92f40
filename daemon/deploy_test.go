package daemon_test

import (
	"os"
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/policy"
)

// TestDeployFiles: the DaemonSet's policy is valid, metrics are scraped,
// and the systemd unit grants CAP_NET_ADMIN only and keeps the state file
// across restarts.
func TestDeployFiles(t *testing.T) {
	b, err := os.ReadFile("../deploy/kubernetes/daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ds := string(b)
	_, after, ok := strings.Cut(ds, "daemon.toml: |\n")
	if !ok {
		t.Fatal("no daemon.toml in the ConfigMap")
	}
	var lines []string
	for _, l := range strings.Split(after, "\n") {
		if !strings.HasPrefix(l, "    ") && strings.TrimSpace(l) != "" {
			break
		}
		lines = append(lines, strings.TrimPrefix(l, "    "))
	}
	if _, err := policy.Parse("daemonset.yaml:daemon.toml", []byte(strings.Join(lines, "\n"))); err != nil {
		t.Errorf("the DaemonSet's policy: %v", err)
	}
	for _, want := range []string{"hostNetwork: true", `prometheus.io/scrape: "true"`, `prometheus.io/port: "9808"`, `add: ["NET_ADMIN"]`, `drop: ["ALL"]`, "--metrics=0.0.0.0:9808"} {
		if !strings.Contains(ds, want) {
			t.Errorf("daemonset.yaml lacks %q", want)
		}
	}
	u, err := os.ReadFile("../deploy/systemd/mptcpkit-daemon.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CapabilityBoundingSet=CAP_NET_ADMIN\n", "AmbientCapabilities=CAP_NET_ADMIN\n", "RuntimeDirectoryPreserve=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP $MAINPID", "Conflicts=mptcp.service"} {
		if !strings.Contains(string(u), want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
}
