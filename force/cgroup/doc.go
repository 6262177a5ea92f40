// Package cgroup finds the cgroup v2 hierarchy and makes, fills, watches and
// removes the cgroups `mptcpkit run` scopes its programs with.
//
// A cgroup v2 id (what bpf_get_current_cgroup_id returns) is the inode
// number of the cgroup's directory in the cgroup2 file system.
package cgroup
