// Package cli implements the mptcpkit command line: one file per subcommand,
// each a thin layer that parses arguments and calls into the importable
// packages (pm, mptcp, lab, bench, ...).
package cli
