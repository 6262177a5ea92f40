#!/usr/bin/env bash
# Builds the slim mptcpkit (only endpoint, limits, monitor, version: the
# build tag mptcpkit_slim, see internal/cli/tree_slim.go) and prints its path:
#   scripts/bench-cli.sh "$(scripts/build-slim-cli.sh)"
set -euo pipefail
out=${1:-$(mktemp -d)/mptcpkit-slim}
CGO_ENABLED=0 go build -tags mptcpkit_slim -o "$out" ./cmd/mptcpkit && echo "$out"
