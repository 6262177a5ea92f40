//go:build !mptcpkit_slim

package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"

	"github.com/mptcpkit/mptcpkit/mptcp"

	"github.com/mptcpkit/mptcpkit/proxy"
	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

const proxyClientHelp = `Usage: mptcpkit proxy client --server HOST:PORT
         (--to HOST:PORT | --socks5 | --transparent [--tproxy]) [--listen ADDR:PORT]
         (--psk-file PATH | --tls-cert FILE --tls-key FILE --server-ca FILE [--server-name NAME])
         [--max-conns N] [--idle-timeout D] [--handshake-timeout D] [--drain-timeout D]

Accept plain TCP connections and carry each one as one MPTCP connection to
'mptcpkit proxy server' at --server, which connects to the destination. The
destination comes from:
  --to HOST:PORT   every connection goes there (a fixed forward)
  --socks5         the application asks with SOCKS5 CONNECT (no authentication
                   on the local side: keep --listen on loopback, the default;
                   any other address needs --socks-allow-from or
                   --allow-remote-socks, or it would be an open relay)
  --transparent    connections redirected here by nftables/iptables: REDIRECT
                   (destination from SO_ORIGINAL_DST) or TPROXY (add --tproxy:
                   the listener gets IP_TRANSPARENT); rules in docs/proxy.md
A refused destination resets the application's connection (SOCKS5: the
matching SOCKS5 error code). At start the client runs one real handshake
with the server and says the result: a wrong key or certificate stops it; a
server that does not answer yet is reported and every connection retries it.

Options:
  --server HOST:PORT     the proxy server
  --listen ADDR:PORT     where applications connect (default 127.0.0.1:1080)
  --psk-file PATH        pre-shared key (the server's file); it authenticates but
                         does not encrypt the relayed bytes
  --tls-cert FILE        TLS 1.3 instead (authenticates and encrypts): this client's certificate (PEM) ...
  --tls-key FILE         ... its private key ...
  --server-ca FILE       ... and the CA that signed the server's certificate
  --server-name NAME     name in the server's certificate (default: the --server host)
  --socks-allow-from CIDR,...
                         --socks5 on a non-loopback --listen: serve only these
                         application addresses (loopback is always served)
  --allow-remote-socks   --socks5 on a non-loopback --listen: serve everyone who
                         can reach it (an open relay into the tunnel)
  --max-conns N          concurrent connections (default 4096, fewer when the
                         open-file limit is lower; the soft limit is raised to the hard one)
  --idle-timeout D       close a connection idle for D (default 10m)
  --handshake-timeout D  connecting + handshake with the server (default 10s; keep it
                         above the server's 5s dial timeout so its answer arrives)
  --drain-timeout D      on SIGTERM, wait D for live connections (default 30s)

Examples:
  mptcpkit proxy client --server 203.0.113.7:7000 --socks5 --psk-file proxy.key
  curl --socks5-hostname 127.0.0.1:1080 https://example.com/
  mptcpkit proxy client --server 203.0.113.7:7000 --listen 127.0.0.1:8080 \
      --to www.example.com:80 --psk-file proxy.key
  mptcpkit proxy client --server 203.0.113.7:7000 --listen 0.0.0.0:7001 --transparent \
      --tls-cert laptop.pem --tls-key laptop.key --server-ca proxy-ca.pem
`

func cmdProxyClient(e *env, args []string) error {
	const cmd = "proxy client"
	fs, o := newProxyFlags(e, cmd, proxyClientHelp, "127.0.0.1:1080", "--server-ca", false)
	server := fs.String("server", "", "")
	to := fs.String("to", "", "")
	socks := fs.Bool("socks5", false, "")
	transparent := fs.Bool("transparent", false, "")
	tproxy := fs.Bool("tproxy", false, "")
	serverName := fs.String("server-name", "", "")
	socksAllowFrom := fs.String("socks-allow-from", "", "")
	allowRemote := fs.Bool("allow-remote-socks", false, "")
	if err := o.parse(fs, args); err != nil {
		return err
	}
	if *server == "" {
		return usagef(cmd, "--server HOST:PORT is required (the address of 'mptcpkit proxy server')")
	}
	if _, _, err := net.SplitHostPort(*server); err != nil {
		return usagef(cmd, "--server %q: %v (want HOST:PORT)", *server, err)
	}
	c := &proxy.Client{Server: *server, IdleTimeout: o.idle,
		HandshakeTimeout: o.handshake, DrainTimeout: o.drain}
	modes := 0
	if *to != "" {
		modes++
		d, err := handshake.ParseDestination(*to)
		if err != nil {
			return usagef(cmd, "--to: %v", err)
		}
		c.Mode, c.To = proxy.ModeFixed, d
	}
	if *socks {
		modes++
		c.Mode = proxy.ModeSOCKS5
	}
	if *transparent {
		modes++
		c.Mode = proxy.ModeTransparent
	}
	if modes != 1 {
		return usagef(cmd, "give exactly one of --to HOST:PORT, --socks5 and --transparent")
	}
	if *tproxy && !*transparent {
		return usagef(cmd, "--tproxy goes with --transparent")
	}
	if (*socksAllowFrom != "" || *allowRemote) && !*socks {
		return usagef(cmd, "--socks-allow-from and --allow-remote-socks go with --socks5")
	}
	if *socksAllowFrom != "" && *allowRemote {
		return usagef(cmd, "give either --socks-allow-from CIDR,... or --allow-remote-socks, not both")
	}
	if *socksAllowFrom != "" {
		pfx, err := proxy.ParsePrefixes(*socksAllowFrom)
		if err != nil {
			return usagef(cmd, "--socks-allow-from: %v", err)
		}
		c.AllowFrom = append(pfx, netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	}
	if *socks && !*allowRemote && *socksAllowFrom == "" && !loopbackListen(o.listen) {
		return usagef(cmd, "--socks5 on --listen %s (not a loopback address) would let anyone who reaches it into the tunnel (local SOCKS5 has no authentication); "+
			"name the clients with --socks-allow-from CIDR,..., or serve everyone with --allow-remote-socks", o.listen)
	}
	log := proxyLogger(e)
	o.sizeMaxConns(log)
	c.MaxConns = o.maxConns
	c.Logger = log
	var err error
	c.PSK, c.TLS, err = o.auth(log, "the server wants proof", func(cert tls.Certificate, pool *x509.CertPool) *tls.Config {
		return proxy.ClientTLSConfig(cert, pool, *serverName)
	})
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
	c.Dial = nsDialer(ns, true)
	var ln net.Listener
	if err := inNS(ns, func() (err error) { ln, err = proxy.ListenTCP(e.ctx, o.listen, *tproxy); return err }); err != nil {
		if *tproxy && !errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen on %s with IP_TRANSPARENT: %w (needs CAP_NET_ADMIN)", o.listen, err)
		}
		return listenError(o.listen, err)
	}
	if err := checkServer(e, log, c); err != nil {
		ln.Close()
		return err
	}
	return c.Serve(e.ctx, ln)
}

// checkServer runs one handshake with the server and says the result: a
// refused key or certificate is an error; a server that does not answer is
// a warning (it may come up later; each connection tries again).
func checkServer(e *env, log *slog.Logger, c *proxy.Client) error {
	st, err := c.Check(e.ctx)
	switch {
	case err == nil:
		log.Info("proxy server check: authenticated", append([]any{"server", c.Server}, mptcpState(st)...)...)
		return nil
	case proxy.IsAuthError(err):
		return fmt.Errorf("proxy server check: %w; give the server's key (--psk-file) or matching certificates (--tls-cert/--tls-key/--server-ca)", err)
	case e.ctx.Err() != nil:
		return nil
	}
	log.Warn("proxy server check failed: connections will be refused until it answers", "server", c.Server, "err", err)
	return nil
}

// mptcpState are log attributes for the MPTCP state of the connection to
// the server.
func mptcpState(st mptcp.State) []any {
	if st == mptcp.Active {
		return []any{"mptcp", st.String()}
	}
	return []any{"mptcp", st.String(), "mptcp_why", st.Reason()}
}

// loopbackListen reports whether the host of addr is a loopback address
// or "localhost".
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
