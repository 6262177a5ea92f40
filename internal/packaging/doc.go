// Package packaging builds mptcpkit's .deb and .rpm packages with nFPM
// (github.com/goreleaser/nfpm/v2): the binary, the daemon's systemd unit,
// the man pages and the bash/zsh/fish completions, all made from a staged
// tree (see cmd/mkpkg, which builds and stages them).
package packaging
