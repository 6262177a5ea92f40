#!/usr/bin/env bash
# Start-up cost of one mptcpkit CLI call next to iproute2's `ip mptcp`
# (issue 12 point 5). Run as root from the repository root:
#
#   scripts/bench-cli.sh [BINARY] [RUNS]
#
# BINARY defaults to a fresh build of ./cmd/mptcpkit as the README installs it
# (CGO_ENABLED=0, static); for the slim build (only the ip mptcp commands),
#
#   CGO_ENABLED=0 go build -tags mptcpkit_slim -o /tmp/mptcpkit-slim ./cmd/mptcpkit
#   scripts/bench-cli.sh /tmp/mptcpkit-slim
#
# (or scripts/bench-cli.sh "$(scripts/build-slim-cli.sh)"). Each command runs
# RUNS times (default 100) in a throw-away namespace under `perf stat`, which
# gives the mean wall time, the CPU time (task-clock) and the page faults per
# call; CPU time is the steadier time on a shared machine, and the page faults
# (each ~25-30 us on this VM) barely move with the load. The 246-round add/delete loop
# of the kernel's pm_netlink.sh (ids 10..255) runs once per tool under
# /usr/bin/time (wall and user+system seconds). Prints a Markdown table.
set -euo pipefail

bin=${1:-}
runs=${2:-100}
if [ -z "$bin" ]; then
	bin=$(mktemp -d)/mptcpkit
	CGO_ENABLED=0 go build -o "$bin" ./cmd/mptcpkit
fi
ns=mkbench-cli-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
ip -n "$ns" link set lo up

# "CPU ms / page faults" per call of "$@".
per_call() {
	perf stat -x, -e task-clock,page-faults -r "$runs" "$@" 2>&1 >/dev/null | awk -F, '
		/task-clock/ { cpu = $1 }
		/page-faults/ { faults = $1 }
		END { printf "%.1f / %d", cpu, faults }'
}
wall_call() {
	local start end
	start=$(date +%s%N)
	for ((i = 0; i < runs; i++)); do "$@" >/dev/null 2>&1 || true; done
	end=$(date +%s%N)
	echo "scale=1; ($end - $start) / 1000000 / $runs" | bc
}

# "wall s / CPU s" of the selftest's loop: add 10.0.0.9 with id i, delete id i.
loop() {
	/usr/bin/time -f "%e / %U+%S" bash -c '
		for ((i = 10; i <= 255; i++)); do
			"$@" endpoint add 10.0.0.9 id "$i" >/dev/null 2>&1
			"$@" endpoint delete id "$i" >/dev/null 2>&1
		done' loop "$@" 2>&1 | awk -F'[ /+]+' '{printf "%s / %.2f", $1, $2 + $3}'
}

mk=("$bin" -n "$ns")
ipm=(ip -n "$ns" mptcp)
"${mk[@]}" endpoint add 10.0.0.8 id 8 subflow >/dev/null 2>&1

echo "| command | mptcpkit wall ms / CPU ms / faults | ip wall ms / CPU ms / faults | CPU ratio |"
echo "|---|---|---|---|"
row() {
	local what=$1 a b
	shift
	a=$(per_call "${mk[@]}" "$@") || true # perf stat fails with a refused command
	b=$(per_call "${ipm[@]}" "$@") || true
	echo "| $what | $(wall_call "${mk[@]}" "$@") / $a | $(wall_call "${ipm[@]}" "$@") / $b | $(awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { printf "%.1fx", a / b }') |"
}
row "limits show" limits show
row "endpoint show" endpoint show
row "endpoint add (refused: exists)" endpoint add 10.0.0.8 id 8 subflow
echo "| 246-round add/delete loop, s | $(loop "${mk[@]}") | $(loop "${ipm[@]}") | |"
