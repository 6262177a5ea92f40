// Package lab builds multipath testbeds out of network namespaces: a client
// and a server namespace joined by N veth paths, each shaped in both
// directions with HTB to its own rate, optionally with random loss (netem
// where the kernel has it, otherwise nftables at the receiving end) and delay (netem where the kernel has it, otherwise a
// router namespace whose forwarding passes through a TUN device and a Go
// delay line). The client gets one MPTCP "subflow" endpoint per extra path,
// so one MPTCP connection uses every path.
//
// Every object a lab makes carries its name: namespaces mk-NAME-client,
// mk-NAME-server and mk-NAME-rP (routers), veths mkNAMEcP/mkNAMEsP, the
// nftables table mptcpkit_lab_NAME, the delay-line process (command line
// "lab delayline --name NAME"), and the state file StateDir/NAME.json. Down
// finds them all by name, also without a state file, so two labs coexist
// and an interrupted Up leaves nothing behind.
//
// On top of Up and Down: StartBench runs package bench between the two
// namespaces in-process (Bencher.Run reports goodput and what each path
// carried), Demo is `mptcpkit lab demo` (TCP vs MPTCP, JSON report, SVG
// chart, always cleaned up), Transfer is a checked MPTCP transfer (SHA-256
// at both ends, longest stall, per-path subflow bytes from package mptcp)
// with link events for fault injection, Failover builds a lab around it,
// and Aggregate is the N-path efficiency benchmark.
//
// Addressing: lab number L (1..254, the smallest free one), path P:
// client 10.L.P.1/24, server 10.L.P.2/24 on a direct path; on a delayed
// path the server side moves to 10.L.(100+P).2/24 and the router holds
// 10.L.P.254 and 10.L.(100+P).254.
//
// Limits of the TUN delay line (used only where the kernel lacks netem):
// every delayed packet crosses user space twice, so it costs CPU (about one
// core at ~600 Mbit/s for one flow on our 2-core machine) and it is no
// faithful model of a link beyond that rate; the delay is constant (no
// jitter) and packets are never reordered or dropped by it unless its
// queue (DelayLineQueue packets per direction) overflows.
package lab
