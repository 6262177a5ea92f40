package lab_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/mptcpkit/mptcpkit/bench"
	"github.com/mptcpkit/mptcpkit/lab"
)

// Build a 2-path lab, measure TCP and MPTCP over it, remove it.
func ExampleUp() {
	ctx := context.Background()
	st, err := lab.Up(ctx, lab.Config{Name: "ex", Paths: 2, Rate: []uint64{100e6}})
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Down(st.Name, nil)

	b, err := lab.StartBench(ctx, st, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	for _, mode := range []bench.Mode{bench.ModeTCP, bench.ModeMPTCP} {
		m, err := b.Run(ctx, mode, 3*time.Second, nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%v: %.0f Mbit/s\n", mode, m.Mbps)
	}
}

func ExampleParseList() {
	rates, err := lab.ParseList("100mbit,20mbit", lab.ParseRate)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rates {
		fmt.Println(r, lab.FormatRate(r))
	}
	// Output:
	// 100000000 100Mbit
	// 20000000 20Mbit
}
