//go:build !mptcpkit_slim

package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/netns"
	"github.com/mptcpkit/mptcpkit/proxy"
	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

const proxyHelp = `Usage:
  mptcpkit proxy server --listen ADDR:PORT (--psk-file PATH | --tls-cert F --tls-key F --client-ca F)
                        [--allow CIDR,...] [--deny CIDR,...] [--max-conns N] [--idle-timeout D]
  mptcpkit proxy client --server HOST:PORT (--to HOST:PORT | --socks5 | --transparent [--tproxy])
                        [--listen ADDR:PORT] (--psk-file PATH | --tls-cert F --tls-key F --server-ca F)
  mptcpkit proxy convert --listen ADDR:PORT --allow-from CIDR,...   (RFC 8803 converter)

A TCP<->MPTCP converter, for applications and servers that do not speak
Multipath TCP. Near the user, 'proxy client' accepts plain TCP and carries
each connection as ONE MPTCP connection (its own subflows over every path, no
multiplexing) to 'proxy server', which authenticates it, checks the
destination against its policy and connects to it over plain TCP.

Clients authenticate before any byte is relayed: a pre-shared key with a
challenge-response (the same --psk-file on both sides), or TLS 1.3 with client
certificates. The pre-shared key authenticates but does not encrypt: relayed
bytes cross the network as the application sent them; use TLS (or an
encrypted application protocol) when that matters. The server never connects
to loopback, link-local, multicast or its own addresses (local routes too);
--allow narrows what it may reach further.

'proxy convert' is an RFC 8803 Transport Converter for clients that send a
Convert message in their SYN (no authentication: it serves --allow-from only).

Run 'mptcpkit proxy server --help', 'mptcpkit proxy client --help' or
'mptcpkit proxy convert --help' for the options; docs/proxy.md has the firewall
rules for --transparent.

Examples:
  head -c 32 /dev/urandom | base64 > /etc/mptcpkit/proxy.key   # copy it to both hosts
  mptcpkit proxy server --listen 0.0.0.0:7000 --psk-file /etc/mptcpkit/proxy.key
  mptcpkit proxy client --server vps.example.net:7000 --socks5 --psk-file /etc/mptcpkit/proxy.key
  mptcpkit proxy client --server 203.0.113.7:7000 --listen 127.0.0.1:2222 --to git.example.com:22 \
      --psk-file /etc/mptcpkit/proxy.key
`

// proxyCommand is `mptcpkit proxy server|client|convert`.
func proxyCommand() *Command {
	return &Command{
		Name:     "proxy",
		Summary:  "TCP<->MPTCP converter: carry plain TCP over every path",
		Help:     proxyHelp,
		NoVerb:   "proxy needs a verb: server, client or convert",
		VerbHint: "want server, client or convert",
		Sub: []*Command{
			{Name: "server", Help: proxyServerHelp, Run: cmdProxyServer},
			{Name: "client", Help: proxyClientHelp, Run: cmdProxyClient},
			{Name: "convert", Help: proxyConvertHelp, Run: cmdProxyConvert},
		},
	}
}

// proxyLogger logs as text, or as JSON with -j.
func proxyLogger(e *env) *slog.Logger {
	level := slog.LevelInfo
	if e.verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if e.json {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// readKey reads a --psk-file, warning when others may read it.
func readKey(log *slog.Logger, cmd, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--psk-file: %w", err)
	}
	k, err := handshake.ParseKey(b)
	if err != nil {
		return nil, usagef(cmd, "--psk-file %s: %v", path, err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		log.Warn("key file is readable by other users; run chmod 600", "file", path, "mode", st.Mode().Perm().String())
	}
	return k, nil
}

// loadTLS reads a certificate, its key and a CA bundle.
func loadTLS(cmd, certFile, keyFile, caFlag, caFile string) (tls.Certificate, *x509.CertPool, error) {
	if certFile == "" || keyFile == "" || caFile == "" {
		return tls.Certificate{}, nil, usagef(cmd, "TLS needs --tls-cert, --tls-key and %s together", caFlag)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("%s: %w", caFlag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return tls.Certificate{}, nil, fmt.Errorf("%s %s: no PEM certificate in it", caFlag, caFile)
	}
	return cert, pool, nil
}

// nsDialer returns a dial function acting inside ns (nil ns: the current
// namespace), asking for MPTCP or for plain TCP.
func nsDialer(ns *netns.NetNS, useMPTCP bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return mptcp.DialWith(ctx, network, addr, mptcp.DialOptions{TCP: !useMPTCP, NetNS: ns})
	}
}

func inNS(ns *netns.NetNS, fn func() error) error {
	if ns == nil {
		return fn()
	}
	return ns.Do(fn)
}

func localAddrs(ns *netns.NetNS) func() ([]netip.Addr, error) {
	return func() (as []netip.Addr, err error) {
		err = inNS(ns, func() (err error) { as, err = proxy.InterfaceAddrs(); return err })
		return as, err
	}
}

// localRoute is proxy.IsLocalRoute inside ns.
func localRoute(ns *netns.NetNS) func(netip.Addr) (bool, error) {
	return func(ip netip.Addr) (local bool, err error) {
		err = inNS(ns, func() (err error) { local, err = proxy.IsLocalRoute(ip); return err })
		return local, err
	}
}

// listenError explains a failed listen on --listen addr with the fix.
func listenError(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("listen on %s: the address is in use (another proxy?); stop that or pick another port with --listen", addr)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("listen on %s: no interface has that address here; pick one that does (or 0.0.0.0) with --listen", addr)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("listen on %s: ports below 1024 need root (CAP_NET_BIND_SERVICE); pick another port with --listen", addr)
	}
	return fmt.Errorf("listen on %s: %w", addr, err)
}

// proxyFlags holds the options the proxy verbs share.
type proxyFlags struct {
	cmd                    string
	listen                 string
	maxConns               int
	idle, handshake, drain time.Duration
	psk, cert, key, ca     string // server and client: --psk-file, --tls-cert, --tls-key, caFlag
	caFlag                 string // "--client-ca" or "--server-ca"
	allow, deny            string // server and convert: destination policy
}

// newProxyFlags makes the flag set of a proxy verb with the options it
// shares with the others: --listen (required when listenDefault is ""),
// --max-conns and the --*-timeout options; the key and TLS options when
// caFlag (the name of the CA option) is not ""; --allow and --deny when
// policy is set.
func newProxyFlags(e *env, cmd, help, listenDefault, caFlag string, policy bool) (*flag.FlagSet, *proxyFlags) {
	fs := newFlags(e, cmd, help)
	o := &proxyFlags{cmd: cmd, caFlag: caFlag}
	fs.StringVar(&o.listen, "listen", listenDefault, "")
	fs.IntVar(&o.maxConns, "max-conns", 0, "")
	fs.DurationVar(&o.idle, "idle-timeout", 0, "")
	fs.DurationVar(&o.handshake, "handshake-timeout", 0, "")
	fs.DurationVar(&o.drain, "drain-timeout", 0, "")
	if caFlag != "" {
		fs.StringVar(&o.psk, "psk-file", "", "")
		fs.StringVar(&o.cert, "tls-cert", "", "")
		fs.StringVar(&o.key, "tls-key", "", "")
		fs.StringVar(&o.ca, caFlag[2:], "", "")
	}
	if policy {
		fs.StringVar(&o.allow, "allow", "", "")
		fs.StringVar(&o.deny, "deny", "", "")
	}
	return fs, o
}

// parse parses args into fs and checks the shared options.
func (o *proxyFlags) parse(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, o.cmd, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(o.cmd, "unexpected argument %q", fs.Arg(0))
	}
	if o.listen == "" {
		return usagef(o.cmd, "--listen ADDR:PORT is required (e.g. --listen 0.0.0.0:7000)")
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return usagef(o.cmd, "--listen %q: %v (want ADDR:PORT)", o.listen, err)
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "max-conns" })
	if given && o.maxConns < 1 {
		return usagef(o.cmd, "--max-conns must be at least 1")
	}
	for name, d := range map[string]time.Duration{"idle-timeout": o.idle, "handshake-timeout": o.handshake, "drain-timeout": o.drain} {
		if d < 0 {
			return usagef(o.cmd, "--%s must not be negative (0 means the default)", name)
		}
	}
	return nil
}

// sizeMaxConns raises the open-file limit's soft value to the hard one
// and, unless --max-conns was given, sizes the connection limit to fit it.
func (o *proxyFlags) sizeMaxConns(log *slog.Logger) {
	nofile, err := proxy.RaiseNoFileLimit()
	if err != nil {
		log.Debug("cannot raise the open-file limit", "err", err)
	}
	if o.maxConns == 0 {
		o.maxConns = proxy.DefaultMaxConns
		if err == nil {
			o.maxConns = proxy.MaxConnsFor(nofile)
		}
	}
}

// auth reads the key (--psk-file) or the TLS files, whichever were given,
// and returns the key or the TLS configuration tlsConfig makes of them.
// need starts the error when neither was given.
func (o *proxyFlags) auth(log *slog.Logger, need string, tlsConfig func(tls.Certificate, *x509.CertPool) *tls.Config) ([]byte, *tls.Config, error) {
	switch {
	case o.psk != "" && (o.cert != "" || o.key != "" || o.ca != ""):
		return nil, nil, usagef(o.cmd, "use either --psk-file or the TLS options, not both")
	case o.psk != "":
		k, err := readKey(log, o.cmd, o.psk)
		return k, nil, err
	case o.cert != "" || o.key != "" || o.ca != "":
		cert, pool, err := loadTLS(o.cmd, o.cert, o.key, o.caFlag, o.ca)
		if err != nil {
			return nil, nil, err
		}
		return nil, tlsConfig(cert, pool), nil
	}
	return nil, nil, usagef(o.cmd, "%s: give --psk-file PATH, or --tls-cert, --tls-key and %s", need, o.caFlag)
}

// policy parses --allow and --deny.
func (o *proxyFlags) policy() (*proxy.Policy, error) {
	var err error
	pol := &proxy.Policy{}
	if pol.Allow, err = proxy.ParsePrefixes(o.allow); err != nil {
		return nil, usagef(o.cmd, "--allow: %v", err)
	}
	if pol.Deny, err = proxy.ParsePrefixes(o.deny); err != nil {
		return nil, usagef(o.cmd, "--deny: %v", err)
	}
	return pol, nil
}
