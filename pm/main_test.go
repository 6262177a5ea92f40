//go:build linux

package pm_test

import (
	"os"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// TestMain skips ExampleClient_Endpoints, which makes a namespace, where nstest.Require
// would skip a test (an example cannot skip itself).
func TestMain(m *testing.M) {
	nstest.SkipExamples("ExampleClient_Endpoints")
	os.Exit(m.Run())
}
