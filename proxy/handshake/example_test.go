package handshake_test

import (
	"fmt"

	"github.com/mptcpkit/mptcpkit/proxy/handshake"
)

func ExampleClientMAC() {
	key := []byte("a key of at least sixteen bytes")
	dest, _ := handshake.ParseDestination("example.com:443")
	var serverNonce, clientNonce [handshake.NonceSize]byte // crypto/rand in real use
	mac, _ := handshake.ClientMAC(key, serverNonce, clientNonce, dest)
	req := handshake.Request{Nonce: clientNonce, Dest: dest, MAC: mac}
	b, _ := req.MarshalBinary()
	fmt.Println(dest, len(b), "bytes")
	// Output: example.com:443 84 bytes
}
