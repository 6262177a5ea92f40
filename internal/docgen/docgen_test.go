package docgen

import (
	"reflect"
	"strings"
	"testing"
)

const endpointHelp = `Usage:
  mptcpkit [-n NETNS] [-j] endpoint COMMAND ...

Manage endpoints:

  endpoint add ADDR [dev IFNAME] [signal|subflow]
  endpoint delete|del id ID

Options:
  --force      do it
  -j, --json   JSON

Examples:
  mptcpkit endpoint add 10.0.2.1 dev eth1 subflow
`

const enableHelp = `Usage: mptcpkit enable [--root DIR] UNIT

Examples:
  mptcpkit enable redis-server
`

const labHelp = `Usage: mptcpkit lab VERB [OPTIONS]

Verbs:
  demo       build a lab
  kv         key-value experiment

Examples:
  mptcpkit lab demo
`

func TestVerbsAndFlags(t *testing.T) {
	for _, tt := range []struct {
		name, help string
		want       []string
	}{
		{"endpoint", endpointHelp, []string{"add", "del", "delete"}},
		{"enable", enableHelp, []string{}},       // "redis-server" is an example argument, not a verb
		{"lab", labHelp, []string{"demo", "kv"}}, // from the Verbs: section
		{"limits", "Usage:\n  mptcpkit [-j] limits [show]\n  mptcpkit limits set [subflows N]\n", []string{"set", "show"}},
	} {
		if got := Verbs(tt.name, tt.help); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Verbs(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got, want := Flags(endpointHelp), []string{"--force", "--json", "-j"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Flags = %q, want %q", got, want)
	}
}

func TestManPageRoff(t *testing.T) {
	pages := ManPages("mptcpkit", "v1.0.0", "mptcpkit top\n\nUsage:\n  mptcpkit COMMAND\n", []Command{{Name: "lab", Summary: "labs", Help: labHelp + ".dangerous line\nback\\slash\n"}})
	if len(pages) != 2 || pages[1].File != "mptcpkit-lab.1" {
		t.Fatalf("pages %+v", pages)
	}
	r := pages[1].Roff
	for _, want := range []string{".TH MPTCPKIT-LAB 1 \"\" \"mptcpkit v1.0.0\"", ".SH NAME\nmptcpkit-lab \\- labs", ".SH SYNOPSIS\n.nf\nmptcpkit lab VERB [OPTIONS]", ".SH VERBS", ".SH EXAMPLES", "\\&.dangerous line", "back\\eslash", ".SH SEE ALSO"} {
		if !strings.Contains(r, want) {
			t.Errorf("roff lacks %q:\n%s", want, r)
		}
	}
}
