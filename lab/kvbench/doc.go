// Package kvbench reproduces the key-value experiment behind the claim that
// MPTCP lowers Valkey's latency by about 25% at 1% loss: Debian's
// redis-server and redis-benchmark (Valkey's ancestor), both forced onto
// MPTCP with `mptcpkit run`, in a lab of two 100 Mbit/s paths, against the
// same programs over plain TCP; GET and SET with 1K, 4K and 16K values from
// 50 clients, on clean paths and with 1% loss on each path, plus pipelined
// (-P 16) rows. Each row records requests per second, p50/p99 latency, the
// bytes each path carried, and the server's MPCapable SYN counter (the
// proof the connections were MPTCP, or were not).
package kvbench
