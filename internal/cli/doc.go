// Package cli implements the mptcpkit command line: one file per subcommand,
// each a thin layer that parses arguments and calls into the importable
// packages (pm, mptcp, lab, bench, ...).
//
// The commands form one tree declared as data (Command, command.go): each
// file declares its command's node (name, aliases, summary, help, verbs,
// what runs it), Run dispatches through the tree, and the top-level help,
// the completion scripts and the man pages are made from it. Processes
// mptcpkit starts of itself (the `run` shim and keeper, the lab's delay
// line) are entry points (reexec.go) that Main runs before the tree.
package cli
