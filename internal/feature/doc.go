// Package feature is the vocabulary mptcpkit's packages share for "the
// running kernel cannot do this": one sentinel, ErrNotSupported, one error
// naming the missing feature and the first kernel that has it, and kernel
// probes that run once.
//
// pm, mptcp, force/bpfprog and force/seccomp re-export ErrNotSupported and
// UnsupportedFeatureError, so errors.Is(err, mptcp.ErrNotSupported) and
// errors.Is(err, pm.ErrNotSupported) test the same thing. The pattern is
// cilium/ebpf's internal/feature.go.
package feature
