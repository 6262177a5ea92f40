package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// writeCert makes a certificate signed by parent (self-signed CA when parent
// is nil) and writes NAME.pem and NAME.key under dir.
func writeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, ca bool, ips ...string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: ca, BasicConstraintsValid: ca,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// TestProxyCLITLS runs both ends with the TLS flags (PEM files as a user
// would make them) and JSON logs.
func TestProxyCLITLS(t *testing.T) {
	cli, srv := nstest.New(t, "cli"), nstest.New(t, "srv")
	dst := nstest.New(t, "dst")
	nstest.Link(t, cli, "c1", "10.0.1.1/24", srv, "s1", "10.0.1.2/24")
	nstest.Link(t, srv, "sd", "10.9.0.1/24", dst, "d0", "10.9.0.2/24")
	dst.Run(t, "ip", "route", "add", "default", "via", "10.9.0.1")
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", nil, nil, true)
	writeCert(t, dir, "server", ca, caKey, false, "10.0.1.2")
	writeCert(t, dir, "laptop", ca, caKey, false)
	p := func(f string) string { return filepath.Join(dir, f) }

	var ln net.Listener
	dst.Do(t, func() (err error) { ln, err = net.Listen("tcp4", "10.9.0.2:5001"); return err })
	defer ln.Close()
	nstest.Echo(ln)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan string, 2)
	start := func(args ...string) {
		go func() {
			var out, errb syncWriter
			err := Run(ctx, args, &out, &errb)
			done <- errString(err) + "\n" + errb.String()
		}()
	}
	start("-j", "-n", srv.Name, "proxy", "server", "--listen", "10.0.1.2:7000",
		"--tls-cert", p("server.pem"), "--tls-key", p("server.key"), "--client-ca", p("ca.pem"))
	time.Sleep(300 * time.Millisecond)
	start("-n", cli.Name, "proxy", "client", "--server", "10.0.1.2:7000", "--listen", "127.0.0.1:6000", "--to", "10.9.0.2:5001",
		"--tls-cert", p("laptop.pem"), "--tls-key", p("laptop.key"), "--server-ca", p("ca.pem"))
	var c net.Conn
	for i := 0; i < 50 && c == nil; i++ {
		cli.NetNS.Do(func() (err error) { c, err = net.Dial("tcp", "127.0.0.1:6000"); return err })
		time.Sleep(50 * time.Millisecond)
	}
	if c == nil {
		t.Fatal("client listener never came up")
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("hello over TLS"))
	buf := make([]byte, 14)
	_, err := io.ReadFull(c, buf)
	c.Close()
	time.Sleep(100 * time.Millisecond)
	cancel()
	logs := <-done + <-done
	if err != nil || string(buf) != "hello over TLS" {
		t.Fatalf("echo through the TLS proxy: %q, %v\n%s", buf, err, logs)
	}
	for _, w := range []string{`"msg":"relaying"`, `"client":"CN=laptop"`, `"auth":"tls"`, `"up_bytes":14`} {
		if !strings.Contains(logs, w) {
			t.Errorf("JSON logs lack %s:\n%s", w, logs)
		}
	}
	// A bad PEM is a clear error.
	_, errs, code := runCLI(context.Background(), "proxy", "server", "--listen", "127.0.0.1:0",
		"--tls-cert", p("server.pem"), "--tls-key", p("server.key"), "--client-ca", p("server.key"))
	if code != 1 || !strings.Contains(errs, "no PEM certificate") {
		t.Errorf("client CA file without a certificate: exit %d, %q", code, errs)
	}
}
