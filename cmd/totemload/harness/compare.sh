#!/usr/bin/env bash
# compare.sh - the whole side-by-side comparison of totemd with Corosync on the shared
# benchmark harness, in one command, from the repository root:
#
#   bash cmd/totemload/harness/compare.sh            # NODES="3 5", 3 repetitions, ~1 h
#   NODES=3 REPS=1 TPUT_SECS=3 LAT_SECS=3 bash cmd/totemload/harness/compare.sh   # ~10 min
#
# It installs what the harness needs (Debian packages; root), copies the read-only
# harness (BENCH_SRC, default ../shared/bench) to a scratch directory, plugs totemd in
# (harness/totemd.sh) and runs, on the same namespaced LAN and in one invocation per
# network condition:
#   - Corosync 3.1.7 with knet (its default transport, netmtu 65536) and udp;
#   - totemd with its defaults (udp multicast, agreed), and with safe delivery;
#   - the equal-parameter pass (EQUAL=1, the default): Corosync knet with netmtu 1500
#     (knet1500) and totemd with 1500-byte datagrams (--datagram-size 0): window 50,
#     17 messages per visit, no crypto on both sides;
#   - the raw multicast limit of the LAN (MODES with raw);
#   - LOSS (default "1% 5%"): latency runs of both systems under that frame loss.
# The raw results (results.log, logs, configs) stay under OUT (default
# docs/bench/<date>); OUT/comparison.md has the tables (compare.py), OUT/summary-*.md the
# harness's own.
#
# Network safety: everything runs inside the namespaces netns.sh creates (no uplink);
# every load client is bounded by the harness's timeouts.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BENCH_SRC=${BENCH_SRC:-$ROOT/../shared/bench}
WORK=${WORK:-/tmp/totem-compare}
OUT=${OUT:-$ROOT/docs/bench/$(date +%Y%m%d-%H%M)}
export NODES=${NODES:-"3 5"} SIZES=${SIZES:-"100 1024 8192"} SENDERS=${SENDERS:-"1 all"}
export REPS=${REPS:-3} TPUT_SECS=${TPUT_SECS:-5} LAT_SECS=${LAT_SECS:-5} RAW_SECS=${RAW_SECS:-3}
LOSS=${LOSS-"1% 5%"}
EQUAL=${EQUAL:-1}
export PATH=/usr/local/go/bin:$PATH

[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root (network namespaces)" >&2; exit 2; }
need=()
for p in corosync libcpg-dev libcorosync-common-dev libqb-dev libcmap-dev build-essential iproute2 nftables python3; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

rm -rf "$WORK" && mkdir -p "$WORK" "$OUT"
cp -r "$BENCH_SRC" "$WORK/bench" && chmod -R u+w "$WORK/bench"
cp "$ROOT/cmd/totemload/harness/totemd.sh" "$WORK/bench/systems/"
# Corosync with its default transport first, udp beside it (run_all's VARIANTS applies to
# every system, so the variants are set in each driver of the copy).
sed -i 's/^SYS_DEFAULT_VARIANTS=.*/SYS_DEFAULT_VARIANTS="knet udp"/' "$WORK/bench/systems/corosync.sh"
sed -i 's/^SYS_DEFAULT_VARIANTS=.*/SYS_DEFAULT_VARIANTS="udp udp-safe"/' "$WORK/bench/systems/totemd.sh"
export TOTEM_SRC=$ROOT BENCH_STATE=$WORK/state

run() { # NAME [VAR=VALUE...]: one run_all.sh invocation into OUT/NAME
    local name=$1; shift
    echo "== $name ($*)" >&2
    env "$@" OUT="$OUT/$name" SYSTEMS="corosync totemd" "$WORK/bench/run_all.sh" > "$OUT/$name.log" 2>&1 \
        || { echo "compare.sh: run $name failed, see $OUT/$name.log" >&2; return 1; }
    cp "$OUT/$name/summary.md" "$OUT/summary-$name.md"
}

git -C "$ROOT" rev-parse --short HEAD > "$OUT/commit.txt" 2>/dev/null || true
run defaults MODES="${MODES:-raw tput lat}"
if [ "$EQUAL" = 1 ]; then
    sed -i 's/^SYS_DEFAULT_VARIANTS=.*/SYS_DEFAULT_VARIANTS="knet1500"/' "$WORK/bench/systems/corosync.sh"
    sed -i 's/^SYS_DEFAULT_VARIANTS=.*/SYS_DEFAULT_VARIANTS="udp"/' "$WORK/bench/systems/totemd.sh"
    run equal MODES="tput" TOTEM_FLAGS="--datagram-size 0"
    sed -i 's/^SYS_DEFAULT_VARIANTS=.*/SYS_DEFAULT_VARIANTS="knet udp"/' "$WORK/bench/systems/corosync.sh"
    sed -i 's/^SYS_DEFAULT_VARIANTS=.*/SYS_DEFAULT_VARIANTS="udp udp-safe"/' "$WORK/bench/systems/totemd.sh"
fi
# Loss runs: totemd sends frame by frame (--gso=false). With UDP GSO its frames cross the
# harness's veth and bridge as one packet, which the nftables loss rule then drops or
# passes as a whole: the emulated loss would hit totemd less than a real wire does.
for l in $LOSS; do
    run "loss${l%\%}" MODES="tput lat" NODES="${LOSS_NODES:-3}" SIZES="${LOSS_SIZES:-1024}" SENDERS="all" \
        NETEM="loss $l" TOTEM_FLAGS="--gso=false"
done
python3 "$ROOT/cmd/totemload/harness/compare.py" "$OUT" > "$OUT/comparison.md"
cat "$OUT/comparison.md"
echo "results in $OUT" >&2
