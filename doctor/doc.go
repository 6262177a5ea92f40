// Package doctor diagnoses Multipath TCP on a Linux host or inside one network
// namespace: whether the kernel can create MPTCP sockets (and, if not, why),
// the net.mptcp.* sysctls, which path manager is active, the in-kernel path
// manager's limits against its endpoints, endpoints whose interface or
// address has gone, other programs that manage endpoints too
// (NetworkManager, mptcpd), and whether BPF/BTF can force programs onto
// MPTCP.
//
// Every check reads the operating system through the [Facts] interface, so
// programs can run the same diagnosis against recorded or fake facts; [System]
// returns the real ones. [Check] runs all checks and returns a [Report] of
// [Finding] values, each with a severity and, where something is wrong, the
// command that fixes it.
package doctor
