#!/usr/bin/env bash
# Side-by-side KV throughput of a 3-server Meridian datacenter and a
# 3-member etcd cluster on this machine, with the same load generator
# (the shared kvbench: consul/api client for Meridian, etcd's gRPC client
# for etcd). Prints one line per workload and target.
#
# Usage: scripts/compare-etcd.sh [duration]      (default 5s per workload)
# Needs: etcd-server and etcd-client from Debian, and the load generator
# built from the shared bench directory:
#   apt-get install -y etcd-server etcd-client
#   (cd ../shared/bench && go build -o /tmp/kvbench .)
set -euo pipefail
dur=${1:-5s}
root=$(cd "$(dirname "$0")/.." && pwd)
bench=${KVBENCH:-/tmp/kvbench}
etcd3=${ETCD3:-$root/../shared/bench/etcd3.sh}
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; "$etcd3" stop "$work/etcd" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

(cd "$root" && go build -o "$work/meridian" ./cmd/meridian)
for i in 1 2 3; do
	"$work/meridian" agent -server -bootstrap-expect 3 -node "s$i" -data-dir "$work/s$i" \
		-bind 127.0.0.1 -client 127.0.0.1 -http-port "1850$i" -server-port "1830$i" \
		-serf-lan-port "1831$i" -serf-wan-port -1 -dns-port -1 \
		-retry-join 127.0.0.1:18311 -retry-join 127.0.0.1:18312 -retry-join 127.0.0.1:18313 \
		-retry-interval 200ms -log-level warn >"$work/s$i.log" 2>&1 &
	echo $! >"$work/s$i.pid"
done
for _ in $(seq 1 100); do
	leader=$(curl -s http://127.0.0.1:18501/v1/status/leader || true)
	[ -n "$leader" ] && [ "$leader" != '""' ] && break
	sleep 0.2
done
"$etcd3" start "$work/etcd" >/dev/null

addrs=127.0.0.1:18501,127.0.0.1:18502,127.0.0.1:18503
run() {
	printf '%-8s %-26s ' "$1" "$2"
	shift 2
	"$bench" "$@" -d "$dur" | tail -1
}
for c in 1 64; do
	run etcd "put c=$c" -target etcd -work put -clients "$c"
	run meridian "put c=$c" -target consul -addrs "$addrs" -work put -clients "$c"
done
for mode in default consistent stale; do
	run etcd "get $mode c=64" -target etcd -work get -mode "$mode" -clients 64
	run meridian "get $mode c=64" -target consul -addrs "$addrs" -work get -mode "$mode" -clients 64
done
