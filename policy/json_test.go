package policy_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mptcpkit/mptcpkit/policy"
)

// TestJSON: `mptcpkit -j daemon --check-config` prints a policy with the
// policy file's own key names, flags as names and limits as in the file.
func TestJSON(t *testing.T) {
	p, err := policy.Parse("p.toml", []byte(`version = 1
[limits]
add_addr_accepted = 3
[[rule]]
name = "lte"
interface = "wwan*"
flags = ["subflow", "backup"]
ports = [443]
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"source":"p.toml","owner":"created","remove_on_exit":true,"coexist":false,` +
		`"limits":{"subflows":null,"add_addr_accepted":3},` +
		`"addresses":{"skip_loopback":true,"skip_link_local":true,"skip_ula":false,"skip_temporary":false,"require_default_route":false},` +
		`"rule":[{"name":"lte","interface":"wwan*","flags":["subflow","backup"],"ports":[443],"line":4}],` +
		`"damping":{"hold_down":"1s","max_hold_down":"1m0s","decay":"15s"},` +
		`"quality":{"backup_when":"","restore_after":"10s","max_restore_after":"2m0s","prefer":"rtt","interval":"500ms"}}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
	d, err := json.Marshal(policy.Default().Limits)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"subflows":"auto","add_addr_accepted":null}`; string(d) != want {
		t.Errorf("default limits JSON = %s, want %s", d, want)
	}
}
