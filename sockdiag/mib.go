package sockdiag

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// fallbackWords explains the MPTcpExt counters that count fallbacks to
// TCP (include/net/mptcp.h, net/mptcp/mib.c).
var fallbackWords = map[string]string{
	"MPCapableFallbackACK":    "server side: the client's third ACK had no MP_CAPABLE (a middlebox stripped it?)",
	"MPCapableFallbackSYNACK": "client side: the SYN-ACK had no MP_CAPABLE (the server does not use MPTCP, or a middlebox stripped it)",
	"MPFallbackTokenInit":     "no token could be allocated",
	"DSSCorruptionFallback":   "data corruption (a middlebox changed the payload or the DSS option)",
	"SimultConnectFallback":   "simultaneous connect",
	"FallbackFailed":          "a fallback that was not possible any more (the connection was reset)",
	"MPCapableSYNTXDisabled":  "client side: MPTCP disabled for SYNs after blackhole detection (net.mptcp.blackhole_timeout)",
	"MPCapableSYNTXDrop":      "client side: SYNs with MP_CAPABLE were dropped, retried as plain TCP (net.mptcp.syn_retrans_before_tcp_fallback)",
	"InfiniteMapRx":           "the peer fell back mid-connection (infinite mapping received)",
	"InfiniteMapTx":           "fell back mid-connection (infinite mapping sent)",
	"DSSNoMatchTCP":           "a DSS mapping did not match the TCP sequence (middlebox?)",
}

// Counter is a non-zero MPTCP MIB counter that counts fallbacks.
type Counter struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
	What  string `json:"what"`
}

// FallbackCounters reads the fallback counters of /proc/thread-self/net/netstat
// (MPTcpExt: the calling thread's network namespace) that are not zero.
// Counters are namespace-wide since the namespace was created; they show
// which kind of fallback happens here, not which connection it was.
func FallbackCounters() ([]Counter, error) {
	f, err := os.Open("/proc/thread-self/net/netstat")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseFallbackCounters(f)
}

func parseFallbackCounters(r io.Reader) ([]Counter, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var names []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "MPTcpExt:" {
			continue
		}
		if names == nil {
			names = fields[1:]
			continue
		}
		vals := fields[1:]
		if len(vals) != len(names) {
			return nil, fmt.Errorf("sockdiag: MPTcpExt: %d names, %d values", len(names), len(vals))
		}
		out := []Counter{}
		for i, n := range names {
			what, ok := fallbackWords[n]
			if !ok && !strings.Contains(n, "Fallback") {
				continue
			}
			v, err := strconv.ParseUint(vals[i], 10, 64)
			if err != nil || v == 0 {
				continue
			}
			out = append(out, Counter{Name: n, Value: v, What: what})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	}
	return []Counter{}, sc.Err()
}
