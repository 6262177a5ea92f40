package daemon

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/mptcpkit/mptcpkit/sockdiag"
)

// adopt learns the namespace's open client-side MPTCP connections over
// sock_diag, for connections opened before the daemon started or while
// path-manager events were lost, and gives them their subflows.
func (u *userspacePM) adopt() {
	sd, err := sockdiag.Dial(&sockdiag.Config{NetNS: u.d.cfg.NetNS})
	if err != nil {
		u.d.log.Warn("userspace path manager: cannot list existing connections", "err", err)
		return
	}
	defer sd.Close()
	conns, err := sd.Connections()
	if err != nil {
		u.d.log.Warn("userspace path manager: cannot list existing connections", "err", err)
		return
	}
	listening, err := u.d.listeningPorts()
	if err != nil {
		u.d.log.Warn("userspace path manager: cannot list listening ports", "err", err)
		return
	}
	var adopted []*usConn
	u.mu.Lock()
	for i := range conns {
		c := &conns[i]
		tok := c.Token()
		// Server side (its local port listens) or not MPTCP any more:
		// not ours to extend.
		if tok == 0 || c.Fallback() || c.State != 1 || listening[c.Local.Port()] {
			continue
		}
		if _, known := u.conns[tok]; known {
			continue
		}
		uc := &usConn{token: tok, local: c.Local, remote: c.Remote, est: true, subflows: map[netip.Addr]netip.AddrPort{}}
		for _, sf := range c.Subflows {
			uc.subflows[sf.Local.Addr()] = sf.Local
		}
		uc.subflows[c.Local.Addr()] = c.Local
		u.conns[tok] = uc
		adopted = append(adopted, uc)
	}
	u.mu.Unlock()
	if len(adopted) > 0 {
		u.d.log.Info("userspace path manager: adopted open connections", "count", len(adopted))
	}
	for _, c := range adopted {
		u.sync(c)
	}
}

// listeningPorts reads the TCP ports in LISTEN state in the managed
// namespace (/proc/net/tcp and tcp6).
func (d *daemon) listeningPorts() (map[uint16]bool, error) {
	ports := map[uint16]bool{}
	err := d.inNS(func() error {
		for _, f := range []string{"/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"} {
			b, err := os.ReadFile(f)
			if err != nil {
				if os.IsNotExist(err) {
					continue
				}
				return err
			}
			for port := range parseListening(b) {
				ports[port] = true
			}
		}
		return nil
	})
	return ports, err
}

// parseListening returns the local ports of sockets in state 0A (LISTEN) of
// a /proc/net/tcp file.
func parseListening(b []byte) map[uint16]bool {
	out := map[uint16]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil {
			out[uint16(p)] = true
		}
	}
	return out
}
