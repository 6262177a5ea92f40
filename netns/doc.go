// Package netns opens, creates and enters Linux network namespaces without
// changing the network namespace of any thread other than the one it locks
// for the duration of a call.
//
// Named namespaces live in /run/netns, the directory iproute2 uses, so a
// namespace made here is visible to `ip netns list` and `ip -n NAME`, and the
// other way round.
package netns
