package netmontest_test

import (
	"net/netip"
	"testing"

	"github.com/mptcpkit/mptcpkit/netmon"
	"github.com/mptcpkit/mptcpkit/netmon/netmontest"
)

func TestFake(t *testing.T) {
	f := netmontest.New(netmon.State{})
	f.Update(func(s *netmon.State) {
		s.Links = append(s.Links, netmon.Link{Index: 3, Name: "eth1", AdminUp: true, Carrier: true},
			netmon.Link{Index: 2, Name: "eth0", AdminUp: true, Carrier: true})
		s.Addrs = append(s.Addrs, netmon.Addr{Prefix: netip.MustParsePrefix("10.0.0.1/24"), LinkIndex: 2})
	})
	select {
	case <-f.Changes():
	default:
		t.Fatal("no change signalled")
	}
	st, _ := f.State()
	if len(st.Addrs) != 1 || st.Addrs[0].Prefix.Addr() != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("state %v", st)
	}
	if st.Links[0].Index != 2 {
		t.Errorf("State is not sorted by link index: %v", st)
	}
	// The snapshot is a copy: changing it leaves the fake alone.
	st.Addrs[0].LinkIndex = 9
	if again, _ := f.State(); again.Addrs[0].LinkIndex != 2 {
		t.Errorf("State shares memory with the fake: %v", again)
	}
	f.Set(netmon.State{DefaultRoute4: true})
	if st, _ := f.State(); len(st.Links) != 0 || !st.DefaultRoute4 {
		t.Errorf("after Set: %v", st)
	}
	f.Close()
	f.Update(func(*netmon.State) {}) // no panic after Close
	<-f.Changes()                    // a change still queued from Set
	if _, ok := <-f.Changes(); ok {
		t.Error("Changes is not closed after Close")
	}
}
