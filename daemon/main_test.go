package daemon_test

import (
	"os"
	"testing"

	"github.com/mptcpkit/mptcpkit/lab"
)

func TestMain(m *testing.M) {
	// lab.Up starts its delay line by running this binary again.
	if os.Getenv(lab.DelayLineEnv) != "" {
		os.Exit(lab.DelayLineMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}
