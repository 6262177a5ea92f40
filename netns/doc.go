// Package netns opens, creates and enters Linux network namespaces without
// changing the network namespace of any thread other than the one it locks
// for the duration of a call.
//
// Named namespaces live in /run/netns, the directory iproute2 uses, so a
// namespace made here is visible to `ip netns list` and `ip -n NAME`, and the
// other way round.
//
// # How mptcpkit's packages take a namespace
//
// A package that only hands the namespace to the kernel (a netlink socket
// made inside it, a stat of its inode) takes an open descriptor, an int
// named NetNS or nsFD, as netlink.Config.NetNS does: 0 means the caller's
// namespace and the package keeps its own reference (pm.Config,
// netmon.Config, sockdiag.Config, daemon.Config). A package that runs code
// inside the namespace (Do) takes a *NetNS (force.Config, doctor.System,
// bench.NetNSDialer). (*NetNS).FD bridges the two. A namespace's name, a
// string, is only for people: flags, reports, state files.
//
// "The same namespace" means the same nsfs device and inode; Same compares
// a descriptor with the calling thread's namespace.
package netns
