// Package policy is the daemon's policy file: which interfaces and addresses
// get in-kernel MPTCP endpoints, with which flags, and which limits to set.
//
// A policy is TOML with a required `version = 1`. It is decoded strictly:
// an unknown key, a value of the wrong type or an invalid combination is an
// error that names the line and says how to fix it. Rules are matched in
// order; the first rule whose interface glob and kind match a link decides
// for that link's addresses. Without a policy file the daemon uses Default:
// every up, non-loopback, non-link-local address gets a subflow endpoint.
package policy
