package bench_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/mptcpkit/mptcpkit/bench"
)

// A server and a client in one process, over loopback: a one-second MPTCP
// upload whose byte counts both ends agree on.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := bench.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go (&bench.Server{}).Serve(ctx, ln)

	res, err := bench.Run(ctx, bench.Config{
		Addr:     ln.Addr().String(),
		Mode:     bench.ModeMPTCP,
		Duration: time.Second,
	}, func(iv bench.Interval) {
		// One call per second: print bench.FormatInterval("1", iv) here.
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("mode:", res.Mode, "fallback:", res.Fallback)
	fmt.Println("receiver count equals sender count:", res.Bytes == res.SenderBytes && res.Bytes > 0)
	// Output:
	// mode: mptcp fallback: false
	// receiver count equals sender count: true
}
