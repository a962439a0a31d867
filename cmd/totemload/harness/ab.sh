#!/usr/bin/env bash
# ab.sh - totemd before and after a change, on the shared benchmark harness, alternated
# so that a busy machine weighs on both sides alike:
#
#   OLD=cd96430 bash cmd/totemload/harness/ab.sh          # ~6 min: 3 nodes, 2 rounds
#   OLD=v1 ROUNDS=3 SIZES="100 1024 8192" bash cmd/totemload/harness/ab.sh
#
# OLD is any commit of this repository (checked out in a temporary worktree); the new
# side is the working tree. Results: $W/{old,new}-ROUND/summary.md (W default
# /tmp/totem-ab); compare the rows as ratios new/old, and the spread between rounds of
# one side is the noise. Root, for the harness's network namespaces (no uplink).
set -euo pipefail
: "${OLD:?set OLD to the commit to compare against}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BENCH_SRC=${BENCH_SRC:-$ROOT/../shared/bench}
W=${W:-/tmp/totem-ab}
ROUNDS=${ROUNDS:-2}
export PATH=/usr/local/go/bin:$PATH
[ "$(id -u)" = 0 ] || { echo "ab.sh: run as root (network namespaces)" >&2; exit 2; }
rm -rf "$W" && mkdir -p "$W"
git -C "$ROOT" worktree add -q --detach "$W/old-src" "$OLD"
trap 'git -C "$ROOT" worktree remove --force "$W/old-src"' EXIT
cp -r "$BENCH_SRC" "$W/bench" && chmod -R u+w "$W/bench"
cp "$ROOT/cmd/totemload/harness/totemd.sh" "$W/bench/systems/"
sed -i 's/^SYS_DEFAULT_VARIANTS=.*/SYS_DEFAULT_VARIANTS="udp"/' "$W/bench/systems/totemd.sh"
for round in $(seq "$ROUNDS"); do
    for side in old new; do
        src=$W/old-src; [ "$side" = new ] && src=$ROOT
        env TOTEM_SRC="$src" BENCH_STATE="$W/state-$side" SYSTEMS=totemd MODES="${MODES:-tput lat}" \
            NODES="${NODES:-3}" SIZES="${SIZES:-100 1024}" SENDERS="${SENDERS:-1 all}" REPS=1 \
            TPUT_SECS="${TPUT_SECS:-3}" LAT_SECS="${LAT_SECS:-3}" OUT="$W/$side-$round" \
            "$W/bench/run_all.sh" > "$W/$side-$round.log" 2>&1 || echo "ab.sh: $side-$round failed, see $W/$side-$round.log" >&2
    done
done
for f in "$W"/{old,new}-*/summary.md; do echo "== $f"; grep '^| totemd' "$f"; done
