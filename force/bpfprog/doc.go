// Package bpfprog builds and attaches the BPF program that turns TCP stream
// sockets into MPTCP sockets: a BPF_MODIFY_RETURN (fmod_ret) program on the
// kernel function update_socket_protocol(family, type, protocol) (added in
// Linux 6.6: the kernel matrix runs the program on Debian's 6.12 and sees
// the function missing on 6.1; BTF needed), written instruction by instruction with github.com/cilium/ebpf's
// asm package, so building mptcpkit needs no C toolchain.
//
// The program returns IPPROTO_MPTCP (262) for AF_INET/AF_INET6 sockets whose
// type, masked with 0xf, is SOCK_STREAM (so SOCK_NONBLOCK|SOCK_CLOEXEC, as Go
// passes them, are matched too) and whose protocol is 0 or IPPROTO_TCP, when
// the calling task is in scope; otherwise it returns 0, which tells the
// trampoline to run the kernel function unchanged.
//
// Scope is two hash maps, shared by every user of one attachment:
//
//   - cgroups: cgroup v2 ids (u64) → reference count (u32). A task is in
//     scope when its cgroup or any ancestor of it (up to MaxCgroupLevels
//     levels deep) is in the map, so processes in child cgroups that a
//     forced program creates are matched too.
//   - comms: task names as the kernel stores them (16 bytes, NUL padded) →
//     reference count (u32).
//
// # One program for many users
//
// The kernel allows few trampoline links per function, so concurrent
// `mptcpkit run` and `mptcpkit force` invocations share ONE program and link
// ([Shared]). Nothing is pinned: every user holds descriptors on the link and
// the maps; a newcomer finds the attached link by enumerating the kernel's
// links (BPF_LINK_GET_NEXT_ID; the program is named mptcpkit_force) and opens
// it and its maps by id. Changes happen under an exclusive flock on
// /run/mptcpkit/bpf.lock; users add their scope entries (incrementing their
// reference counts) and decrement them on release. When the last user exits
// — normally or killed with SIGKILL — the kernel releases the link, which
// detaches the program (the kernel matrix's TestForceSIGKILL checks it on
// 6.12). A user killed while others still run leaves its entries behind
// until they all leave; the entry of a cgroup that no longer exists matches
// nobody and is pruned by the next user (cgroup.Exists).
//
// # Testing the decisions where attaching is refused
//
// [NewRawTracepointProgram] loads the SAME instructions as a raw tracepoint
// program, whose context is the same array of u64 arguments the fmod_ret
// trampoline passes; raw tracepoint programs can be run with
// BPF_PROG_TEST_RUN, so every decision is checked by the real verifier and
// interpreter even on kernels that refuse trampolines (some configurations
// refuse fentry/fmod_ret loads with EPERM; [Probe] reports that as an error
// wrapping [ErrNotSupported]).
package bpfprog
