package proxy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/mptcpkit/mptcpkit/proxy"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert, key}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func (ca *testCA) issue(t *testing.T, cn string, client bool, ips ...string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestTLSClientCertificates(t *testing.T) {
	l := newLab(t, false)
	ca, otherCA := newCA(t, "proxy CA"), newCA(t, "some other CA")
	s := l.serverConfig(t)
	s.PSK = nil
	s.TLS = proxy.ServerTLSConfig(ca.issue(t, "proxy server", false, "10.0.1.2"), ca.pool())
	l.startServer(t, s)

	c := l.clientConfig(t, proxy.ModeFixed)
	c.PSK = nil
	c.TLS = proxy.ClientTLSConfig(ca.issue(t, "laptop-1", true), ca.pool(), "")
	l.startClient(t, c, "127.0.0.1:6000", false)
	// Through TLS the relay copies through buffers: check data and half-close.
	upload(t, dialApp(t, l.cli, "127.0.0.1:6000"), 8<<20, 0)
	l.waitLog(t, "side=server", "connection ended", `client="CN=laptop-1"`, "end=closed")
	accepted := l.dest.accepted.Load()

	for _, tt := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"certificate from another CA", proxy.ClientTLSConfig(otherCA.issue(t, "intruder", true), ca.pool(), "")},
		{"no certificate", &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: ca.pool()}},
		{"TLS 1.2", &tls.Config{MaxVersion: tls.VersionTLS12, RootCAs: ca.pool(), Certificates: c.TLS.Certificates}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := *c
			bad.TLS = tt.cfg
			if conn, err := bad.Connect(context.Background(), c.To); err == nil {
				conn.Close()
				t.Fatal("connected")
			}
		})
	}
	t.Run("server certificate from another CA", func(t *testing.T) {
		bad := *c
		bad.TLS = proxy.ClientTLSConfig(ca.issue(t, "laptop-1", true), otherCA.pool(), "")
		if _, err := bad.Connect(context.Background(), c.To); err == nil {
			t.Fatal("client trusted a server it cannot verify")
		}
	})
	if got := l.dest.accepted.Load(); got != accepted {
		t.Errorf("destination saw %d connections from refused clients", got-accepted)
	}
	l.waitLog(t, "side=server", "refused: TLS handshake failed")
}
