// Package nstest builds throw-away network namespaces and veth links for tests
// that run against the real kernel. Everything it makes is named after the
// test that made it ("mkt-..." namespaces) and is removed by t.Cleanup, also
// when the test fails. Namespaces left by a test binary that was killed are
// swept by the next New once their owning process is gone.
//
// Tests come in two tiers. Those that need nothing from the kernel run
// anywhere. Those that need root and MPTCP call Require (New and Pair call
// it for them): without root, without MPTCP in the kernel or with
// net.mptcp.enabled=0 they are skipped with the reason; with
// MPTCPKIT_CI=1, as in CI, they fail instead, so nothing is skipped there.
// Examples cannot skip themselves: a TestMain calls SkipExamples for them.
//
// Pair makes the usual fixture, a client and a server namespace joined by
// veth paths; NS.Listen, NS.Dial and Sink make MPTCP connections between
// them, WaitSubflows waits for a connection's subflows. Unprivileged runs
// the test binary again as nobody.
package nstest
