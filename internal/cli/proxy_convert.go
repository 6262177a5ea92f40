//go:build !mptcpkit_slim

package cli

import (
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/mptcpkit/mptcpkit/proxy"
)

const proxyConvertHelp = `Usage: mptcpkit proxy convert --listen ADDR:PORT --allow-from CIDR,...
         [--allow CIDR,...] [--deny CIDR,...] [--tfo-queue N] [--max-conns N]
         [--idle-timeout D] [--handshake-timeout D] [--drain-timeout D]

An RFC 8803 (0-RTT TCP Convert Protocol) Transport Converter, server side:
clients put a Convert message with a Connect TLV at the start of their MPTCP
connection — in the SYN, with TCP Fast Open — and the converter connects to
that destination over plain TCP, answers with a Convert message and relays.
Refusals and unsupported TLVs (Cookie, Extended TCP Header, TCP options in
Connect) are answered with an Error TLV. The Convert protocol has no
authentication: only clients from --allow-from are served, and the
destination policy is the same as 'proxy server' (loopback, link-local,
multicast and this host's addresses always refused).

TCP Fast Open must be enabled for servers: sysctl net.ipv4.tcp_fastopen with
bit 0x2 (0x202 also accepts data without a cookie). Within the namespace given
with -n, the sysctl of that namespace counts.

Options:
  --listen ADDR:PORT     MPTCP listening address
  --allow-from CIDR,...  client source prefixes to serve (required)
  --allow, --deny        destination policy, as for 'proxy server'
  --tfo-queue N          TCP Fast Open queue length (default 256)
  --max-conns N          concurrent connections (default 4096; over it: Error TLV 64)
  --idle-timeout D, --handshake-timeout D, --drain-timeout D   as for 'proxy server'

Examples:
  sysctl -w net.ipv4.tcp_fastopen=0x203
  mptcpkit proxy convert --listen 0.0.0.0:5124 --allow-from 192.0.2.0/24
  mptcpkit -n lab:l1:server proxy convert --listen 10.1.1.2:5124 --allow-from 10.0.0.0/8 --deny 10.9.9.0/24
`

func cmdProxyConvert(e *env, args []string) error {
	const cmd = "proxy convert"
	fs, o := newProxyFlags(e, cmd, proxyConvertHelp, "", "", true)
	allowFrom := fs.String("allow-from", "", "")
	tfoQueue := fs.Int("tfo-queue", 256, "")
	if err := o.parse(fs, args); err != nil {
		return err
	}
	if *tfoQueue < 1 {
		return usagef(cmd, "--tfo-queue must be at least 1")
	}
	log := proxyLogger(e)
	o.sizeMaxConns(log)
	cv := &proxy.Converter{MaxConns: o.maxConns, IdleTimeout: o.idle, HandshakeTimeout: o.handshake, DrainTimeout: o.drain}
	var err error
	if cv.AllowFrom, err = proxy.ParsePrefixes(*allowFrom); err != nil {
		return usagef(cmd, "--allow-from: %v", err)
	}
	if len(cv.AllowFrom) == 0 {
		return usagef(cmd, "--allow-from CIDR,... is required: the Convert protocol has no authentication, so name the clients to serve")
	}
	pol, err := o.policy()
	if err != nil {
		return err
	}
	cv.Logger = log
	ns, err := e.openNetNS()
	if err != nil {
		return err
	}
	if ns != nil {
		defer ns.Close()
	}
	pol.LocalAddrs = localAddrs(ns)
	pol.IsLocal = localRoute(ns)
	cv.Policy = pol
	cv.Dial = nsDialer(ns, false)
	var ln net.Listener
	if err := inNS(ns, func() (err error) {
		if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_fastopen"); err == nil {
			if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 0, 32); err == nil && v&0x2 == 0 {
				log.Warn("TCP Fast Open is off for servers: Convert messages will wait for the handshake (0-RTT lost); sysctl -w net.ipv4.tcp_fastopen=0x203", "tcp_fastopen", v)
			}
		}
		ln, err = proxy.ListenConvert(e.ctx, o.listen, *tfoQueue)
		return err
	}); err != nil {
		return listenError(o.listen, err)
	}
	return cv.Serve(e.ctx, ln)
}
