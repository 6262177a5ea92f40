package netns_test

import (
	"os"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// TestMain skips Example, which makes a namespace, where nstest.Require
// would skip a test (an example cannot skip itself).
func TestMain(m *testing.M) {
	nstest.SkipExamples("Example")
	os.Exit(m.Run())
}
