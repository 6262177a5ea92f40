package lab

import (
	"os/exec"
	"testing"
)

// startIn starts a program inside namespace ns; the test fails if it
// cannot start.
func startIn(t *testing.T, ns string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd
}
