#!/usr/bin/env bash
# Side-by-side KV throughput of a 3-server Meridian datacenter and a
# 3-member etcd cluster on this machine, with the same load generator
# (the shared kvbench: consul/api client for Meridian, etcd's gRPC client
# for etcd). Prints one line per workload.
#
# Usage: scripts/compare-etcd.sh [duration [rounds]]   (default 3s, 5 rounds)
# The load generator sends all of Meridian's load to the first server, so
# its per-client connection limit (200, as Consul's) is raised.
# Environment: LOGSTORE=wal|boltdb picks Meridian's Raft log store (default:
# the agent's default); WORKLOADS=puts or WORKLOADS=gets runs only those.
# THROUGH=first|leader|follower picks the Meridian server the load goes
# through (see below). WATCH_ONLY=1 runs only the watch fan-out rows. HTTPS=1
# serves Meridian's API (and the floor's) over HTTPS too, from certificates
# made by `meridian tls`, and points the load generator at it
# (https://..., CONSUL_CACERT): consul/api then speaks HTTP/2, as it does to
# Consul's HTTPS port, and one connection carries many requests. Each watch row has a
# floor too: the same watchers against plainkv's server
# (internal/plainkv), which does nothing but keep one answer per key.
# Needs: etcd-server and etcd-client from Debian, and the load generator
# built from the shared bench directory:
#   apt-get install -y etcd-server etcd-client
#   (cd ../shared/bench && go build -o /tmp/kvbench .)
set -euo pipefail
dur=${1:-3s}
rounds=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
bench=${KVBENCH:-/tmp/kvbench}
etcd3=${ETCD3:-$root/../shared/bench/etcd3.sh}
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; "$etcd3" stop "$work/etcd" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

(cd "$root" && go build -o "$work/meridian" ./cmd/meridian && go build -o "$work/plainkv" ./internal/plainkv/server)
# The watch rows hold 1,000 connections and the 256-client puts 256 from one
# address (the default cap is 200).
echo '{"limits": {"http_max_conns_per_client": 5000}}' >"$work/limits.json"
scheme=http
if [ -n "${HTTPS:-}" ]; then
	(cd "$work" && ./meridian tls ca create >/dev/null && ./meridian tls cert create -server >/dev/null)
	cat >"$work/tls.json" <<-EOF
		{"tls": {"defaults": {"ca_file": "$work/consul-agent-ca.pem",
		 "cert_file": "$work/dc1-server-consul-0.pem", "key_file": "$work/dc1-server-consul-0-key.pem"}}}
	EOF
	scheme=https
	export CONSUL_CACERT=$work/consul-agent-ca.pem
fi
for i in 1 2 3; do
	"$work/meridian" agent -server -bootstrap-expect 3 -node "s$i" -data-dir "$work/s$i" -config-file "$work/limits.json" \
		-bind 127.0.0.1 -client 127.0.0.1 -http-port "1850$i" -server-port "1830$i" \
		-serf-lan-port "1831$i" -serf-wan-port -1 -dns-port -1 \
		-retry-join 127.0.0.1:18311 -retry-join 127.0.0.1:18312 -retry-join 127.0.0.1:18313 \
		-retry-interval 200ms -log-level warn ${LOGSTORE:+-hcl "raft_logstore { backend = \"$LOGSTORE\" }"} \
		${HTTPS:+-config-file "$work/tls.json" -https-port "1852$i"} \
		>"$work/s$i.log" 2>&1 &
	echo $! >"$work/s$i.pid"
done
for _ in $(seq 1 100); do
	leader=$(curl -s http://127.0.0.1:18501/v1/status/leader || true)
	[ -n "$leader" ] && [ "$leader" != '""' ] && break
	sleep 0.2
done
"$etcd3" start "$work/etcd" >/dev/null
# The watch rows' floor: plainkv's server, the least work a server can do
# to answer consul/api's blocking KV reads (one encoded answer per value,
# watchers woken once the put is answered).
"$work/plainkv" -addr 127.0.0.1:18601 \
	${HTTPS:+-cert-file "$work/dc1-server-consul-0.pem" -key-file "$work/dc1-server-consul-0-key.pem"} >"$work/plainkv.log" 2>&1 &
echo $! >"$work/plainkv.pid"

# Meridian's load generator talks to one server (consul/api takes one
# address). THROUGH picks it: first (the default: server 1, leader or not),
# leader, or follower. Through the leader a write saves a hop to it.
leader_http=$(echo "$leader" | sed -n 's/^"127\.0\.0\.1:183\(0[123]\)"$/185\1/p')
case ${THROUGH:-first} in
first) via=18501 ;;
leader) via=$leader_http ;;
follower) via=$(for p in 18501 18502 18503; do [ "$p" != "$leader_http" ] && echo $p && break; done) ;;
*) echo "THROUGH is first, leader or follower" >&2; exit 2 ;;
esac
[ -n "$via" ] || { echo "no leader found" >&2; exit 1; }
addrs=127.0.0.1:$via
[ "$scheme" = https ] && addrs=https://127.0.0.1:$(echo "$via" | sed 's/^1850/1852/')
# The machine's speed drifts within seconds, so each workload runs in
# $rounds rounds, etcd and Meridian back to back (alternating which goes
# first); the summary is the median of each and the median of the
# per-round ratios.
one() { # target workload-args... -> ops/s
	local target=$1
	shift
	if [ "$target" = etcd ]; then
		"$bench" -target etcd "$@" -d "$dur" | tail -1 | awk '{print $(NF-7)}'
	else
		"$bench" -target consul -addrs "$addrs" "$@" -d "$dur" | tail -1 | awk '{print $(NF-7)}'
	fi
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
run() { # label workload-args...
	local label=$1 e m ratios="" es="" ms=""
	shift
	for r in $(seq 1 "$rounds"); do
		if [ $((r % 2)) = 1 ]; then
			e=$(one etcd "$@"); m=$(one meridian "$@")
		else
			m=$(one meridian "$@"); e=$(one etcd "$@")
		fi
		es="$es $e"; ms="$ms $m"
		ratios="$ratios $(awk -v m="$m" -v e="$e" 'BEGIN {printf "%.2f", m/e}')"
	done
	printf '%-20s etcd %7s ops/s  meridian %7s ops/s  meridian/etcd %s (rounds:%s)\n' "$label" \
		"$(echo $es | tr ' ' '\n' | median)" "$(echo $ms | tr ' ' '\n' | median)" \
		"$(echo $ratios | tr ' ' '\n' | median)" "$ratios"
}
# Watch fan-out: N watchers of one key through the first server (etcd:
# the first member); the time from a put's acknowledgement to the last
# watcher's answer, p50 over 5 puts per round, rounds alternating.
p50ms() { # kvbench watch line -> p50 in ms
	awk '{for (i = 1; i < NF; i++) if ($i == "p50") v = $(i+1)} END {
		if (v ~ /µs$/) {sub(/µs$/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v *= 1000}
		printf "%.2f", v}'
}
watch_one() { # target watchers -> p50 ms
	case $1 in
	etcd) "$bench" -target etcd -work watch -watchers "$2" -rounds 5 | tail -1 | p50ms ;;
	plain) "$bench" -target consul -addrs "$(test "$scheme" = https && echo https://)127.0.0.1:18601" -work watch -watchers "$2" -rounds 5 | tail -1 | p50ms ;;
	*) "$bench" -target consul -addrs "$addrs" -work watch -watchers "$2" -rounds 5 | tail -1 | p50ms ;;
	esac
}
watch_run() { # watchers
	# etcd may answer its watchers before the put's own answer arrives,
	# so a round's p50 can be 0 or below and a per-round ratio mean
	# nothing: the line gives each system's median p50 over the rounds,
	# their ratio, and the rounds' p50s (etcd/meridian/floor).
	local e m p es="" ms="" ps="" rs=""
	for r in $(seq 1 "$rounds"); do
		if [ $((r % 2)) = 1 ]; then
			e=$(watch_one etcd "$1"); m=$(watch_one meridian "$1"); p=$(watch_one plain "$1")
		else
			p=$(watch_one plain "$1"); m=$(watch_one meridian "$1"); e=$(watch_one etcd "$1")
		fi
		es="$es $e"; ms="$ms $m"; ps="$ps $p"; rs="$rs $e/$m/$p"
	done
	e=$(echo $es | tr ' ' '\n' | median); m=$(echo $ms | tr ' ' '\n' | median); p=$(echo $ps | tr ' ' '\n' | median)
	printf '%-14s p50 etcd %6s ms  meridian %6s ms  floor (plainkv) %6s ms  meridian/etcd %s  floor/etcd %s (rounds:%s)\n' \
		"watch w=$1" "$e" "$m" "$p" \
		"$(awk -v a="$m" -v b="$e" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print "-"}')" \
		"$(awk -v a="$p" -v b="$e" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print "-"}')" "$rs"
}
watch_run 100
watch_run 1000
[ -n "${WATCH_ONLY:-}" ] && exit 0

echo "meridian log store: ${LOGSTORE:-default}; load through $addrs, $([ "$via" = "$leader_http" ] && echo the leader || echo a follower); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${WORKLOADS:-all}" != gets ]; then
	run "put c=1" -work put -clients 1
	run "put c=64" -work put -clients 64
	run "put c=256" -work put -clients 256
fi
if [ "${WORKLOADS:-all}" != puts ]; then
	for mode in default consistent stale; do
		run "get $mode c=64" -work get -mode "$mode" -clients 64
	done
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
