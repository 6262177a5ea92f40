// Package netmon watches a network namespace's links, addresses and routes
// over rtnetlink and tells its user when something changed; the user then
// reads a consistent State snapshot. It follows tailscale's netmon: the
// watcher is a small interface (Monitor) with an in-memory fake for tests in
// package netmontest, the kernel implementation is Netlink
// (github.com/vishvananda/netlink subscriptions inside the namespace), and
// there is no package-level state.
package netmon
