//go:build !mptcpkit_slim

package cli

import (
	"errors"
	"fmt"
	"net"

	"github.com/mptcpkit/mptcpkit/proxy"
)

const proxyServerHelp = `Usage: mptcpkit proxy server --listen ADDR:PORT
         (--psk-file PATH | --tls-cert FILE --tls-key FILE --client-ca FILE)
         [--allow CIDR,...] [--deny CIDR,...] [--max-conns N] [--idle-timeout D]
         [--handshake-timeout D] [--drain-timeout D]

Accept MPTCP connections from 'mptcpkit proxy client', authenticate each,
and connect to the destination it asks for over plain TCP. Names are resolved
here; every address a name resolves to is checked, and the checked address is
the one dialled. Loopback, link-local, unspecified, multicast and this host's
own addresses (interface addresses and local routes, e.g. AnyIP) are always
refused; IPv4-mapped prefixes (::ffff:10.0.0.0/104) mean their IPv4 prefix. Logs (stderr; JSON with -j) say who
connected, where to, the bytes each way, the duration and how it ended.
SIGTERM stops accepting and lets live connections finish (--drain-timeout).

Options:
  --listen ADDR:PORT     MPTCP listening address (e.g. 0.0.0.0:7000, [::]:7000)
  --psk-file PATH        pre-shared key (text, at least 16 bytes; same file on the client);
                         it authenticates but does not encrypt the relayed bytes
  --tls-cert FILE        TLS 1.3 instead (authenticates and encrypts): this server's certificate (PEM) ...
  --tls-key FILE         ... its private key (PEM) ...
  --client-ca FILE       ... and the CA(s) whose client certificates are accepted
  --allow CIDR,...       only these destinations (default: any not always refused)
  --deny CIDR,...        never these destinations
  --max-conns N          concurrent connections; more are refused at once (default 4096,
                         fewer when the open-file limit is lower; its soft value is raised
                         to the hard one). Clients still in their handshake have their
                         own limits: 256 at once, 32 per source address
  --idle-timeout D       close a connection idle for D (default 10m; 0 = default)
  --handshake-timeout D  drop clients that do not finish the handshake in D (default 10s)
  --drain-timeout D      on SIGTERM, wait D for live connections (default 30s)

Examples:
  mptcpkit proxy server --listen 0.0.0.0:7000 --psk-file /etc/mptcpkit/proxy.key
  mptcpkit proxy server --listen [::]:7000 --psk-file key --allow 203.0.113.0/24,2001:db8::/32
  mptcpkit proxy server --listen 0.0.0.0:7000 --tls-cert server.pem --tls-key server.key \
      --client-ca clients-ca.pem --deny 10.0.0.0/8
  mptcpkit -n lab:l1:server proxy server --listen 10.1.1.2:7000 --psk-file key
`

func cmdProxyServer(e *env, args []string) error {
	const cmd = "proxy server"
	fs, o := newProxyFlags(e, cmd, proxyServerHelp, "", "--client-ca", true)
	if err := o.parse(fs, args); err != nil {
		return err
	}
	log := proxyLogger(e)
	o.sizeMaxConns(log)
	s := &proxy.Server{
		MaxConns: o.maxConns, IdleTimeout: o.idle, HandshakeTimeout: o.handshake, DrainTimeout: o.drain,
		Logger: log,
	}
	var err error
	if s.PSK, s.TLS, err = o.auth(log, "clients must authenticate", proxy.ServerTLSConfig); err != nil {
		return err
	}
	pol, err := o.policy()
	if err != nil {
		return err
	}
	ns, err := e.openNetNS()
	if err != nil {
		return err
	}
	if ns != nil {
		defer ns.Close()
	}
	pol.LocalAddrs = localAddrs(ns)
	pol.IsLocal = localRoute(ns)
	s.Policy = pol
	s.Dial = nsDialer(ns, false)
	var ln net.Listener
	if err := inNS(ns, func() (err error) { ln, err = proxy.Listen(e.ctx, o.listen); return err }); err != nil {
		if errors.Is(err, proxy.ErrNoMPTCP) {
			return fmt.Errorf("listen on %s: %w; `mptcpkit check` says what to fix", o.listen, err)
		}
		return listenError(o.listen, err)
	}
	return s.Serve(e.ctx, ln)
}
