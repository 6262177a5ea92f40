// Package systemd makes a systemd unit start its ExecStart under `mptcpkit
// run`, with a drop-in file (/etc/systemd/system/UNIT.d/mptcpkit.conf) that
// clears ExecStart and sets it again with the original command wrapped. The
// vendor unit file is never edited; removing the drop-in undoes everything.
//
// The original ExecStart is read from the unit file found on the usual unit
// search path and the drop-ins that apply to it (later assignments win; an
// empty assignment resets the list), all under a root directory so tests can
// use a fake tree.
package systemd
