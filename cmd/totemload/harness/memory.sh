#!/usr/bin/env bash
# memory.sh: resident memory of a daemon serving 10 clients under full load.
#
# Three totemd on 127.0.0.1 (multicast on lo, TTL 0 by default for loopback), ten
# `totemctl bench` clients on node 1 sending SIZE-byte agreed messages as fast as the
# ring takes them for SECS seconds, one listener on each other node. Every STEP seconds
# it prints node 1's VmRSS; at the end VmHWM (the peak) and whether every bench passed.
#
#   TOTEMD=... TOTEMCTL=... SECS=60 SIZE=1024 ./memory.sh
set -euo pipefail
SECS=${SECS:-60} SIZE=${SIZE:-1024} STEP=${STEP:-5} CLIENTS=${CLIENTS:-10}
TOTEMD=${TOTEMD:-totemd} TOTEMCTL=${TOTEMCTL:-totemctl}
dir=$(mktemp -d /tmp/totem-memory.XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] && cp -r "$dir" "$KEEP"; rm -rf "$dir"; }
trap cleanup EXIT INT TERM

base=$((20000 + RANDOM % 20000))
for i in 1 2 3; do
	"$TOTEMD" --node-id "$i" --listen "127.0.0.1:$((base + i))" --mcast "239.192.99.1:$((base + 10))" \
		--socket "$dir/n$i.sock" --state-dir "$dir/s$i" --log-level warn 2>"$dir/d$i.log" &
	pids+=($!)
done
daemon=${pids[0]}
for i in 1 2 3; do
	for _ in $(seq 100); do [ -S "$dir/n$i.sock" ] && break; sleep 0.1; done
done
for _ in $(seq 100); do
	"$TOTEMCTL" --socket "$dir/n1.sock" members 2>/dev/null | grep -q 3 && break
	sleep 0.1
done
rss() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$daemon/status"; }
echo "idle, 3-node ring: VmRSS $(rss VmRSS) kB"

for i in 2 3; do
	"$TOTEMCTL" --socket "$dir/n$i.sock" listen --group mem --timeout "$((SECS + 15))s" >/dev/null 2>&1 &
	pids+=($!)
done
benches=()
for c in $(seq "$CLIENTS"); do
	"$TOTEMCTL" --socket "$dir/n1.sock" bench --group mem --size "$SIZE" --count 10000000 \
		--duration "${SECS}s" --json >"$dir/b$c.json" 2>"$dir/b$c.err" &
	benches+=($!)
done
echo "$CLIENTS clients sending $SIZE-byte messages for ${SECS}s"
for t in $(seq "$STEP" "$STEP" "$SECS"); do
	sleep "$STEP"
	echo "t=${t}s VmRSS $(rss VmRSS) kB"
done
fail=0
for b in "${benches[@]}"; do wait "$b" || fail=$((fail + 1)); done
echo "peak VmHWM $(rss VmHWM) kB; after the run VmRSS $(rss VmRSS) kB"
total=0
for c in $(seq "$CLIENTS"); do
	n=$(grep -o '"msgs_per_sec": *[0-9.]*' "$dir/b$c.json" | cut -d: -f2 | tr -d " " || echo 0)
	total=$(awk -v a="$total" -v b="${n:-0}" 'BEGIN { print a + b }')
done
echo "benches failed: $fail of $CLIENTS; sum of their rates: $total msgs/s"
[ "$fail" -eq 0 ]
