package lab

import (
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// TestImpair: a live lab path's delay goes up and back down (the delay
// line reloads it) and its loss is switched on and off; a path built
// without a delay line refuses a delay change with a fix.
func TestImpair(t *testing.T) {
	nstest.Require(t)
	st := up(t, Config{Name: testName(t, "im"), Paths: 1, Delay: []time.Duration{time.Millisecond}})
	t.Logf("delay method %s", st.Delay) // tun here (no netem); netem on Debian's 6.1 and 6.12 (kernel matrix)
	base := connectRTT(t, st, 3)
	if err := Impair(st, 1, 0, 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the delay line got SIGHUP (or netem was replaced)
	slow := connectRTT(t, st, 3)
	if err := Impair(st, 1, 0, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	back := connectRTT(t, st, 3)
	t.Logf("RTT %v -> %v (30 ms each way) -> %v", base, slow, back)
	if slow < 60*time.Millisecond || slow > 90*time.Millisecond || back > 20*time.Millisecond {
		t.Errorf("RTT %v -> %v -> %v; want about 62 ms with 30 ms each way, and back", base, slow, back)
	}
	if err := Impair(st, 1, 100, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	drops, err := Drops(st)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := drops[st.Paths[0].ServerIf]; !ok {
		t.Errorf("no loss rule after Impair(100%%): %v", drops)
	}
	if err := Impair(st, 1, 0, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// With the loss still on, the SYN is dropped and resent after 1 s;
	// anything well under that proves it is off (emulated guests take
	// 20-30 ms for a 2 ms RTT connect).
	if rtt := connectRTT(t, st, 1); rtt > 300*time.Millisecond {
		t.Errorf("after loss off: connect took %v, want well under the 1 s of a resent SYN", rtt)
	}
	if l, _ := Load(st.Name); l == nil || l.Paths[0].Loss != 0 || l.Paths[0].Delay != time.Millisecond {
		t.Errorf("state file not updated: %+v", l)
	}

	plain := up(t, Config{Name: testName(t, "ip"), Paths: 1})
	err = Impair(plain, 1, 5, 10*time.Millisecond)
	if plain.Delay == "netem" {
		// With netem any path's delay changes (the leaf becomes netem).
		if err != nil {
			t.Errorf("a delay on a plain path with netem: %v", err)
		}
	} else if err == nil {
		t.Error("a path without a delay line accepted a delay")
	}
	if err := Impair(plain, 1, 5, 0); err != nil {
		t.Errorf("loss on a plain path: %v", err)
	}
	if err := Impair(plain, 2, 0, 0); err == nil {
		t.Error("path 2 of a 1-path lab accepted")
	}
}
