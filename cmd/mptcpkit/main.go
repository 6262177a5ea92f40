// Command mptcpkit configures, uses and measures Multipath TCP on Linux.
// Everything it does lives in importable packages; see `mptcpkit --help`.
package main

import (
	"os"

	"github.com/mptcpkit/mptcpkit/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
