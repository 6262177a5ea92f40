// Package nstest builds throw-away network namespaces and veth links for tests
// that run against the real kernel. Everything it makes is named after the
// test that made it ("mkt-..." namespaces) and is removed by t.Cleanup, also
// when the test fails. Namespaces left by a test binary that was killed are
// swept by the next New once their owning process is gone.
package nstest
