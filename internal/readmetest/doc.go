// Package readmetest holds the newcomer test: README.md's commands, run top
// to bottom in a clean copy of the tree the way a new user would paste them.
//
// The rule that picks the commands (so that README edits need no test edit):
// every fenced block whose info string is exactly "sh" is run, line by line,
// in order, by one bash (so `export` carries over), with `set -e -o
// pipefail`. A line whose comment starts with "# elsewhere:" is skipped
// (it needs another host, the published module, or is the test suite
// itself). A line ending in "&" starts a background process and gets a
// second to come up, as it would while a person types the next line. Blocks
// fenced "console" are commands to adapt to one's own hosts and are not run.
//
// The run happens as root inside fresh network, mount and pid namespaces,
// with tmpfs on /run/netns and /run/mptcpkit and an overlay on /etc, HOME
// and GOPATH in a temporary directory: labs, endpoints, limits and files the
// README makes never touch the host, and every process dies with the pid
// namespace.
package readmetest
