package daemon

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseListening(t *testing.T) {
	in := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0101540A:C350 0201540A:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0
`
	want := map[uint16]bool{8080: true, 22: true}
	if diff := cmp.Diff(want, parseListening([]byte(in))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
