package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

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
                   on the local side: keep --listen on loopback, the default)
  --transparent    connections redirected here by nftables/iptables: REDIRECT
                   (destination from SO_ORIGINAL_DST) or TPROXY (add --tproxy:
                   the listener gets IP_TRANSPARENT); rules in docs/proxy.md
A refused destination resets the application's connection (SOCKS5: the
matching SOCKS5 error code). Start the server first; the key or certificates
must match the server's.

Options:
  --server HOST:PORT     the proxy server
  --listen ADDR:PORT     where applications connect (default 127.0.0.1:1080)
  --psk-file PATH        pre-shared key (the server's file)
  --tls-cert FILE        TLS 1.3 instead: this client's certificate (PEM) ...
  --tls-key FILE         ... its private key ...
  --server-ca FILE       ... and the CA that signed the server's certificate
  --server-name NAME     name in the server's certificate (default: the --server host)
  --max-conns N          concurrent connections (default 4096)
  --idle-timeout D       close a connection idle for D (default 10m)
  --handshake-timeout D  connecting + handshake with the server (default 10s)
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
	if err := o.parse(fs, args); err != nil {
		return err
	}
	if *server == "" {
		return usagef(cmd, "--server HOST:PORT is required (the address of 'mptcpkit proxy server')")
	}
	if _, _, err := net.SplitHostPort(*server); err != nil {
		return usagef(cmd, "--server %q: %v (want HOST:PORT)", *server, err)
	}
	c := &proxy.Client{Server: *server, MaxConns: o.maxConns, IdleTimeout: o.idle,
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
	log := proxyLogger(e)
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
		if *tproxy {
			return fmt.Errorf("listen on %s with IP_TRANSPARENT: %w (needs CAP_NET_ADMIN)", o.listen, err)
		}
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	return c.Serve(e.ctx, ln)
}
