// Package daemon keeps the kernel's MPTCP endpoint table in line with a
// policy (package policy) and the network as it is right now: it watches
// links, addresses and routes (package netmon), computes the endpoints the
// policy wants, and adds, deletes or changes the endpoints it owns through
// package pm. An address whose link loses carrier loses its endpoint; when
// the link returns the endpoint returns, and the kernel re-creates the
// subflows of live connections.
//
// What it owns is remembered in a state file (address and flags), so a
// restart neither duplicates nor orphans endpoints, and endpoints added by
// someone else are left alone unless the policy says owner = "all". When
// more addresses qualify than the kernel's 8 slots it keeps the first by rule
// order and logs which it left out. It serves Prometheus metrics (its own
// text-format writer, expo.go) and, with net.mptcp.path_manager=userspace,
// creates subflows per connection itself.
//
// Changes are acted on at once; a link that keeps flapping is held down
// with an exponential back-off (policy [damping], damping.go). With a
// policy [quality] it measures each path from its subflows' tcp_info and
// makes a degraded path backup, trying it again later (quality.go). With
// Config.HTTPAddr it serves a live status page embedded in the binary
// (status.go, status/).
package daemon
