// Package storage is `mptcpkit lab storage`: remote block storage over
// MPTCP with NBD (Network Block Device), the stock-kernel stand-in for the
// NVMe/TCP run behind the figure "2 links: TCP 28.0k IOPS, MPTCP 54.7k IOPS
// (1.95x)" (fio 4k random reads, 4 jobs, iodepth 256, 2 x 1 Gbit/s).
//
// The server is nbdkit (memory plugin) in a lab's server namespace, the
// client fio in the client namespace: either fio's nbd engine (libnbd, all
// in user space, one NBD connection per job) or, where the kernel has the
// nbd module, the kernel's /dev/nbdX connected by nbd-client and fio with
// libaio on the device. Neither nbdkit nor fio can ask for MPTCP itself, so
// for the MPTCP runs both run under `mptcpkit run`, which turns their TCP
// sockets into MPTCP ones; the TCP runs start the same programs directly
// and use path 1 only.
//
// The kernel's nbd driver refuses MPTCP sockets ("Unsupported socket:
// should be TCP or UNIX": a check added in 2025 and backported to the
// stable kernels, Debian's 6.1 and 6.12 included), so a forced nbd-client
// cannot work. With the kernel client nbd-client connects instead to a
// relay (this process, over loopback), which opens one connection per nbd
// connection to nbdkit from the client namespace over TCP or MPTCP and
// copies both ways: the kernel block device over MPTCP paths, at the cost of one
// user-space copy on the client.
//
// Each row records what fio reports (IOPS, bandwidth, completion latency
// p50/p99, errors; parsed strictly from fio's JSON) and the proof of what
// carried it: the bytes each path's client interface moved, and the NBD
// connections seen by socket diagnostics (package sockdiag) while fio ran:
// whether they were MPTCP, their subflows, whether they fell back to TCP,
// and the payload each subflow carried, by path.
//
// For the run Run sets the initial TCP receive buffer (net.ipv4.tcp_rmem)
// to DefaultRcvBuf in both namespaces, for TCP and MPTCP alike: with the
// kernel's 128 KiB the client's MPTCP sockets drop data beyond their
// MPTCP-level window that their subflows have already acknowledged
// (MPTcpExtNoDSSInWindow), and reads then wait for MPTCP-level
// retransmissions. Each row counts those drops (Row.WindowDrops) and is
// marked stalled when fio overran its runtime or when such drops came
// with a clat p99 over StallP99.
//
// Verify runs a write-then-verify fio job while a path goes down and comes
// back: the I/O must complete with no error and no verify failure.
package storage
