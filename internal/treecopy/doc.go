// Package treecopy gives tests a clean checkout of the tree they run in: the
// files git tracks or would track (modified and new ones included, ignored
// ones not), committed to a fresh git repository in a temporary directory,
// so builds there carry VCS data and nothing left over in the working copy
// (build outputs, demo reports) leaks in.
package treecopy
