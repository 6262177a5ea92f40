#!/usr/bin/env bash
# Start-up cost of one mptcpkit CLI call next to iproute2's `ip mptcp`
# (issue 12 point 5). Run as root from the repository root:
#
#   scripts/bench-cli.sh [BINARY] [RUNS]
#
# BINARY defaults to a fresh `go build` of ./cmd/mptcpkit; RUNS (default 200)
# calls of each command are timed in a throw-away namespace, and the
# 246-round add/delete loop of the kernel's pm_netlink.sh (ids 10..255) is
# timed once per tool. Prints a Markdown table (milliseconds per call).
set -euo pipefail

bin=${1:-}
runs=${2:-200}
if [ -z "$bin" ]; then
	bin=$(mktemp -d)/mptcpkit
	go build -o "$bin" ./cmd/mptcpkit
fi
ns=mkbench-cli-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
ip -n "$ns" link set lo up

# ms per call of "$@", run $runs times.
per_call() {
	local start end
	start=$(date +%s%N)
	for ((i = 0; i < runs; i++)); do "$@" >/dev/null 2>&1 || true; done
	end=$(date +%s%N)
	echo "scale=2; ($end - $start) / 1000000 / $runs" | bc
}

# seconds for the selftest's loop: add 10.0.0.9 with id i, delete id i.
loop() {
	local start end
	start=$(date +%s%N)
	for ((i = 10; i <= 255; i++)); do
		"$@" endpoint add 10.0.0.9 id "$i" >/dev/null 2>&1
		"$@" endpoint delete id "$i" >/dev/null 2>&1
	done
	end=$(date +%s%N)
	echo "scale=2; ($end - $start) / 1000000000" | bc
}

mk=("$bin" -n "$ns")
ipm=(ip -n "$ns" mptcp)

echo "| command | mptcpkit ms/call | ip ms/call |"
echo "|---|---|---|"
echo "| limits show | $(per_call "${mk[@]}" limits show) | $(per_call "${ipm[@]}" limits show) |"
# add + delete: one call each; the figure is per call.
add_del() { "$@" endpoint add 10.0.0.9 id 9 subflow; "$@" endpoint delete id 9; }
echo "| endpoint add + delete (per call) | $(echo "scale=2; $(per_call add_del "${mk[@]}") / 2" | bc) | $(echo "scale=2; $(per_call add_del "${ipm[@]}") / 2" | bc) |"
echo "| 246-round add/delete loop (s) | $(loop "${mk[@]}") | $(loop "${ipm[@]}") |"
