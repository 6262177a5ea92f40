package doctor_test

import (
	"testing"

	"github.com/mptcpkit/mptcpkit/doctor"
)

func TestNetworkManagerConfig(t *testing.T) {
	tests := []struct {
		conf     string
		want     string
		found    bool
		disabled bool
	}{
		{"[main]\nplugins=keyfile\n", "", false, false},
		{"[connection]\nconnection.mptcp-flags=0x1\n", "0x1", true, true},
		{"[connection-mptcp]\n# comment\nconnection.mptcp-flags = disabled\n", "disabled", true, true},
		{"[connection]\nconnection.mptcp-flags=0x22\n", "0x22", true, false},
		{"[connection]\nconnection.mptcp-flags=enabled,subflow\n", "enabled,subflow", true, false},
		{"[device]\nconnection.mptcp-flags=0x1\n", "", false, false}, // wrong section
		{"[connection]\nconnection.mptcp-flags=0x1\n[connection]\nconnection.mptcp-flags=0x2\n", "0x2", true, false},
	}
	for _, tt := range tests {
		got, found := doctor.NMMPTCPFlags([]byte(tt.conf))
		if got != tt.want || found != tt.found {
			t.Errorf("nmMPTCPFlags(%q) = %q, %v; want %q, %v", tt.conf, got, found, tt.want, tt.found)
		}
		if d := doctor.NMDisabled(got); d != tt.disabled {
			t.Errorf("nmDisabled(%q) = %v, want %v", got, d, tt.disabled)
		}
		if d := (doctor.NetworkManagerConfig{MPTCPFlags: got}).Disabled(); d != tt.disabled {
			t.Errorf("NetworkManagerConfig{MPTCPFlags: %q}.Disabled() = %v, want %v", got, d, tt.disabled)
		}
	}
}
