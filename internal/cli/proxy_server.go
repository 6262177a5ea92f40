package cli

import (
	"errors"
	"fmt"
	"net"
	"time"

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
own addresses are always refused. Logs (stderr; JSON with -j) say who
connected, where to, the bytes each way, the duration and how it ended.
SIGTERM stops accepting and lets live connections finish (--drain-timeout).

Options:
  --listen ADDR:PORT     MPTCP listening address (e.g. 0.0.0.0:7000, [::]:7000)
  --psk-file PATH        pre-shared key (text, at least 16 bytes; same file on the client)
  --tls-cert FILE        TLS 1.3 instead: this server's certificate (PEM) ...
  --tls-key FILE         ... its private key (PEM) ...
  --client-ca FILE       ... and the CA(s) whose client certificates are accepted
  --allow CIDR,...       only these destinations (default: any not always refused)
  --deny CIDR,...        never these destinations
  --max-conns N          concurrent connections; more are refused at once (default 4096)
  --idle-timeout D       close a connection idle for D (default 10m; 0 = default)
  --handshake-timeout D  drop clients that do not finish the handshake in D (default 10s)
  --drain-timeout D      on SIGTERM, wait D for live connections (default 30s)

Examples:
  mptcpkit proxy server --listen 0.0.0.0:7000 --psk-file /etc/mptcpkit/proxy.key
  mptcpkit proxy server --listen [::]:7000 --psk-file key --allow 203.0.113.0/24,2001:db8::/32
  mptcpkit proxy server --listen 0.0.0.0:7000 --tls-cert server.pem --tls-key server.key \
      --client-ca clients-ca.pem --deny 10.0.0.0/8
  mptcpkit -n lab1-server proxy server --listen 10.0.1.2:7000 --psk-file key
`

func cmdProxyServer(e *env, args []string) error {
	const cmd = "proxy server"
	fs := newFlags(e, cmd, proxyServerHelp)
	listen := fs.String("listen", "", "")
	pskFile := fs.String("psk-file", "", "")
	certFile := fs.String("tls-cert", "", "")
	keyFile := fs.String("tls-key", "", "")
	caFile := fs.String("client-ca", "", "")
	allow := fs.String("allow", "", "")
	deny := fs.String("deny", "", "")
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
	if *listen == "" {
		return usagef(cmd, "--listen ADDR:PORT is required (e.g. --listen 0.0.0.0:7000)")
	}
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return usagef(cmd, "--listen %q: %v (want ADDR:PORT)", *listen, err)
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
	s := &proxy.Server{
		MaxConns: *maxConns, IdleTimeout: *idle, HandshakeTimeout: *hsTimeout, DrainTimeout: *drainTimeout,
		Logger: log,
	}
	var err error
	switch {
	case *pskFile != "" && (*certFile != "" || *keyFile != "" || *caFile != ""):
		return usagef(cmd, "use either --psk-file or the TLS options, not both")
	case *pskFile != "":
		if s.PSK, err = readKey(log, cmd, *pskFile); err != nil {
			return err
		}
	case *certFile != "" || *keyFile != "" || *caFile != "":
		cert, pool, err := loadTLS(cmd, *certFile, *keyFile, "--client-ca", *caFile)
		if err != nil {
			return err
		}
		s.TLS = proxy.ServerTLSConfig(cert, pool)
	default:
		return usagef(cmd, "clients must authenticate: give --psk-file PATH, or --tls-cert, --tls-key and --client-ca")
	}
	pol := &proxy.Policy{}
	if pol.Allow, err = proxy.ParsePrefixes(*allow); err != nil {
		return usagef(cmd, "--allow: %v", err)
	}
	if pol.Deny, err = proxy.ParsePrefixes(*deny); err != nil {
		return usagef(cmd, "--deny: %v", err)
	}
	ns, err := e.openNetNS()
	if err != nil {
		return err
	}
	if ns != nil {
		defer ns.Close()
	}
	pol.LocalAddrs = localAddrs(ns)
	s.Policy = pol
	s.Dial = nsDialer(ns, false)
	var ln net.Listener
	if err := inNS(ns, func() (err error) { ln, err = proxy.Listen(e.ctx, *listen); return err }); err != nil {
		if errors.Is(err, proxy.ErrNoMPTCP) {
			return fmt.Errorf("listen on %s: %w; `mptcpkit check` says what to fix", *listen, err)
		}
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	return s.Serve(e.ctx, ln)
}
