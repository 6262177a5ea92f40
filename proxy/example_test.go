package proxy_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"

	"github.com/mptcpkit/mptcpkit/proxy"
)

// The far end: an MPTCP listener that relays authenticated clients to
// destinations in 203.0.113.0/24.
func ExampleServer() {
	allow, _ := proxy.ParsePrefixes("203.0.113.0/24")
	s := &proxy.Server{
		PSK:    []byte("the key from --psk-file, 16+ bytes"),
		Policy: &proxy.Policy{Allow: allow},
	}
	ln, err := proxy.Listen(context.Background(), "0.0.0.0:7000")
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(s.Serve(context.Background(), ln))
}

// The near end: a SOCKS5 front on loopback; every application connection
// becomes one MPTCP connection to the server.
func ExampleClient() {
	c := &proxy.Client{
		Server: "vps.example.net:7000",
		PSK:    []byte("the key from --psk-file, 16+ bytes"),
		Mode:   proxy.ModeSOCKS5,
	}
	ln, err := proxy.ListenTCP(context.Background(), "127.0.0.1:1080", false)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(c.Serve(context.Background(), ln))
}

func ExamplePolicy_Check() {
	p := &proxy.Policy{LocalAddrs: func() ([]netip.Addr, error) { return nil, nil }}
	for _, ip := range []string{"203.0.113.7", "127.0.0.1", "169.254.169.254"} {
		fmt.Println(ip, p.Check(netip.MustParseAddr(ip)))
	}
	// Output:
	// 203.0.113.7 <nil>
	// 127.0.0.1 destination 127.0.0.1 denied: loopback (always denied)
	// 169.254.169.254 destination 169.254.169.254 denied: link-local (always denied)
}
