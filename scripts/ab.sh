#!/usr/bin/env bash
# Side-by-side throughput of two builds of Meridian on this machine: A is
# the commit REV, B the working tree (or the same build twice, with
# GOGC_A / GOGC_B setting the servers' GOGC). Each runs as a 3-server
# datacenter; the shared load generator sends every workload through a
# follower of each, in alternating rounds, and the script prints B's rate
# divided by A's for each round and their median.
#
# Usage: scripts/ab.sh REV [rounds [duration]]   (default 5 rounds of 3s)
# Environment: WORKLOADS, workload:clients pairs (default
# "put:1 put:64 put:256 get-stale:64 get-default:64"); GOGC_A, GOGC_B.
# Needs the load generator built from the shared bench directory:
#   (cd ../shared/bench && go build -o /tmp/kvbench .)
set -euo pipefail
rev=${1:?usage: scripts/ab.sh REV [rounds [duration]]}
rounds=${2:-5}
dur=${3:-3s}
workloads=${WORKLOADS:-"put:1 put:64 put:256 get-stale:64 get-default:64"}
root=$(cd "$(dirname "$0")/.." && pwd)
bench=${KVBENCH:-/tmp/kvbench}
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; git -C "$root" worktree remove --force "$work/src" 2>/dev/null || true; rm -rf "$work"' EXIT

git -C "$root" worktree add -q --detach "$work/src" "$rev"
(cd "$work/src" && go build -o "$work/A" ./cmd/meridian)
git -C "$root" worktree remove --force "$work/src"
(cd "$root" && go build -o "$work/B" ./cmd/meridian)
echo '{"limits": {"http_max_conns_per_client": 5000}}' >"$work/limits.json"

start() { # build base-port gogc
	local b=$1 base=$2 gogc=$3 i
	# A server left on these ports (another run) would be measured instead.
	if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$((base + 1))/v1/status/leader"; then
		echo "something already serves 127.0.0.1:$((base + 1)); stop it first" >&2
		exit 1
	fi
	for i in 1 2 3; do
		env ${gogc:+GOGC=$gogc} "$work/$b" agent -server -bootstrap-expect 3 -node "$b$i" -data-dir "$work/$b-data$i" \
			-config-file "$work/limits.json" -bind 127.0.0.1 -client 127.0.0.1 -http-port $((base + i)) \
			-server-port $((base + 10 + i)) -serf-lan-port $((base + 20 + i)) -serf-wan-port -1 -dns-port -1 \
			-retry-join 127.0.0.1:$((base + 21)) -retry-join 127.0.0.1:$((base + 22)) -retry-join 127.0.0.1:$((base + 23)) \
			-retry-interval 200ms -log-level warn >"$work/$b$i.log" 2>&1 &
		echo $! >"$work/$b$i.pid"
	done
	for _ in $(seq 1 100); do
		leader=$(curl -s "http://127.0.0.1:$((base + 1))/v1/status/leader" || true)
		[ -n "$leader" ] && [ "$leader" != '""' ] && return
		sleep 0.2
	done
	echo "build $b elected no leader" >&2
	exit 1
}
follower() { # base-port -> the HTTP address of a follower
	local base=$1 i leader
	leader=$(curl -s "http://127.0.0.1:$((base + 1))/v1/status/leader" | tr -d '"')
	for i in 1 2 3; do
		if [ "$leader" != "127.0.0.1:$((base + 10 + i))" ]; then
			echo "127.0.0.1:$((base + i))"
			return
		fi
	done
}
start A 19500 "${GOGC_A:-}"
start B 19600 "${GOGC_B:-}"
fa=$(follower 19500)
fb=$(follower 19600)
echo "A: $rev${GOGC_A:+ GOGC=$GOGC_A} through $fa; B: working tree${GOGC_B:+ GOGC=$GOGC_B} through $fb; load $(cut -d' ' -f1-3 /proc/loadavg)"

one() { # address workload clients -> ops/s
	local work=${2%%-*} mode=default
	[ "$work" != "$2" ] && mode=${2#*-}
	"$bench" -target consul -addrs "$1" -work "$work" -mode "$mode" -clients "$3" -d "$dur" | tail -1 | awk '{print $(NF-7)}'
}
for wl in $workloads; do
	kind=${wl%%:*} clients=${wl##*:} ratios=""
	for r in $(seq 1 "$rounds"); do
		if [ $((r % 2)) = 1 ]; then
			a=$(one "$fa" "$kind" "$clients"); b=$(one "$fb" "$kind" "$clients")
		else
			b=$(one "$fb" "$kind" "$clients"); a=$(one "$fa" "$kind" "$clients")
		fi
		ratios="$ratios $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b/a}')"
	done
	printf '%-16s B/A median %s (rounds:%s)\n' "$wl" \
		"$(echo $ratios | tr ' ' '\n' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')" "$ratios"
done
