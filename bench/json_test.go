package bench

import (
	"encoding/json"
	"testing"
)

// TestResultJSON pins the JSON of a Result (what `mptcpkit bench -j`
// prints and what the server sends in its report) byte for byte, and checks
// that it reads back into the same JSON.
func TestResultJSON(t *testing.T) {
	r := sampleResult(ModeMPTCP, 179858020)
	r.Streams = append(r.Streams, sampleResult(ModeTCP, 94e6).Streams[0])
	r.Streams[1].ID, r.Streams[1].Subflows = 1, nil
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "result.json.golden", string(b)+"\n")

	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, err := json.MarshalIndent(&back, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if string(b2) != string(b) {
		t.Errorf("JSON does not survive a round trip:\n%s\nbecame\n%s", b, b2)
	}

	rep := msg{Type: "result", Report: []streamReport{{State: "mptcp", Subflows: r.Streams[0].Subflows}, {State: "tcp"}}}
	b, err = json.Marshal(&rep)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json.golden", string(b)+"\n")
}
