// Package buildinfo says which mptcpkit this is: the version a packager
// stamped with -ldflags, else the module version `go install ...@vX` records,
// else the git revision, time and dirty flag `go build` records in a checkout.
package buildinfo
