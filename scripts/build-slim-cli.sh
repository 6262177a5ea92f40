#!/usr/bin/env bash
# Prototype (issue 12 point 5): an mptcpkit binary with only the `ip mptcp`
# verbs — endpoint, limits, monitor (and version) — built from the same
# sources as cmd/mptcpkit, to measure what a slim build would cost per call.
# Run from the repository root; prints the binary's path:
#
#   scripts/bench-cli.sh "$(scripts/build-slim-cli.sh)"
#
# It does not change the tree: `go build -overlay` leaves out the other
# commands' files of internal/cli, drops their rows from the command table
# in cli.go, and replaces the two things the kept files take from elsewhere
# (lab.ResolveNetNS, which links the whole lab package with nftables and
# vishvananda/netlink, and labJSON from lab.go). A real build tag needs the
# hooks listed in docs/BENCHMARKS.md ("A slim build"); until then this
# script follows internal/cli's layout and fails loudly when it changes.
set -euo pipefail

out=${1:-$(mktemp -d)/mptcpkit-slim}
keep=" cli.go errors.go fix.go signal.go endpoint.go endpoint_pm.go limits.go monitor.go version.go doc.go "
dir=$PWD/internal/cli
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# cli.go: the command table keeps endpoint, limits, monitor and version;
# `-n lab:NAME:SIDE` is refused instead of resolved.
sed -E \
	-e '/^[[:space:]]*\{"[a-z]+",.*cmd[A-Za-z]+\},$/{/^[[:space:]]*\{"(endpoint|limits|monitor|version)"/!d}' \
	-e '/"github.com\/mptcpkit\/mptcpkit\/lab"/d' \
	-e 's/lab\.ResolveNetNS\(/resolveNetNS(/' \
	"$dir/cli.go" >"$tmp/cli.go"
cat >"$tmp/slim.go" <<'EOF'
package cli

import (
	"encoding/json"
	"fmt"
	"strings"
)

// resolveNetNS: the slim build has no lab package.
func resolveNetNS(ref string) (string, error) {
	if strings.HasPrefix(ref, "lab:") {
		return "", fmt.Errorf("namespace %q: lab namespaces need the full mptcpkit", ref)
	}
	return ref, nil
}

func labJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
EOF

{
	echo '{"Replace": {'
	echo "\"$dir/cli.go\": \"$tmp/cli.go\","
	echo "\"$dir/zz_slim.go\": \"$tmp/slim.go\""
	for f in "$dir"/*.go; do
		case "$keep" in *" ${f##*/} "*) continue ;; esac
		echo ", \"$f\": \"\""
	done
	echo '}}'
} >"$tmp/overlay.json"

CGO_ENABLED=0 go build -overlay "$tmp/overlay.json" -o "$out" ./cmd/mptcpkit
if go list -deps -overlay "$tmp/overlay.json" ./cmd/mptcpkit | grep -qE 'cilium/ebpf|google/nftables|vishvananda|^net/http$|^crypto/tls$'; then
	echo "build-slim-cli.sh: the slim build links a heavy package again:" >&2
	go list -deps -overlay "$tmp/overlay.json" ./cmd/mptcpkit | grep -E 'cilium/ebpf|google/nftables|vishvananda|^net/http$|^crypto/tls$' >&2
	exit 1
fi
echo "$out"
