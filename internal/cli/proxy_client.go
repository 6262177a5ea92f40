package cli

import (
	"fmt"
	"net"
	"time"

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
	fs := newFlags(e, cmd, proxyClientHelp)
	server := fs.String("server", "", "")
	listen := fs.String("listen", "127.0.0.1:1080", "")
	to := fs.String("to", "", "")
	socks := fs.Bool("socks5", false, "")
	transparent := fs.Bool("transparent", false, "")
	tproxy := fs.Bool("tproxy", false, "")
	pskFile := fs.String("psk-file", "", "")
	certFile := fs.String("tls-cert", "", "")
	keyFile := fs.String("tls-key", "", "")
	caFile := fs.String("server-ca", "", "")
	serverName := fs.String("server-name", "", "")
	maxConns := fs.Int("max-conns", proxy.DefaultMaxConns, "")
	idle := fs.Duration("idle-timeout", 0, "")
	hsTimeout := fs.Duration("handshake-timeout", 0, "")
	drainTimeout := fs.Duration("drain-timeout", 0, "")
	if err := parseFlags(fs, cmd, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(cmd, "unexpected argument %q", fs.Arg(0))
	}
	if *server == "" {
		return usagef(cmd, "--server HOST:PORT is required (the address of 'mptcpkit proxy server')")
	}
	if _, _, err := net.SplitHostPort(*server); err != nil {
		return usagef(cmd, "--server %q: %v (want HOST:PORT)", *server, err)
	}
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return usagef(cmd, "--listen %q: %v (want ADDR:PORT)", *listen, err)
	}
	c := &proxy.Client{Server: *server, MaxConns: *maxConns, IdleTimeout: *idle,
		HandshakeTimeout: *hsTimeout, DrainTimeout: *drainTimeout}
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
	if *maxConns < 1 {
		return usagef(cmd, "--max-conns must be at least 1")
	}
	for name, d := range map[string]time.Duration{"idle-timeout": *idle, "handshake-timeout": *hsTimeout, "drain-timeout": *drainTimeout} {
		if err := checkDuration(cmd, name, d); err != nil {
			return err
		}
	}
	log := proxyLogger(e)
	c.Logger = log
	var err error
	switch {
	case *pskFile != "" && (*certFile != "" || *keyFile != "" || *caFile != ""):
		return usagef(cmd, "use either --psk-file or the TLS options, not both")
	case *pskFile != "":
		if c.PSK, err = readKey(log, cmd, *pskFile); err != nil {
			return err
		}
	case *certFile != "" || *keyFile != "" || *caFile != "":
		cert, pool, err := loadTLS(cmd, *certFile, *keyFile, "--server-ca", *caFile)
		if err != nil {
			return err
		}
		c.TLS = proxy.ClientTLSConfig(cert, pool, *serverName)
	default:
		return usagef(cmd, "the server wants proof: give --psk-file PATH, or --tls-cert, --tls-key and --server-ca")
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
	if err := inNS(ns, func() (err error) { ln, err = proxy.ListenTCP(e.ctx, *listen, *tproxy); return err }); err != nil {
		if *tproxy {
			return fmt.Errorf("listen on %s with IP_TRANSPARENT: %w (needs CAP_NET_ADMIN)", *listen, err)
		}
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	return c.Serve(e.ctx, ln)
}
