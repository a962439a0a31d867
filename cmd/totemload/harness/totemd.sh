# totemd.sh - driver that plugs totemd into the benchmark harness (../shared/bench,
# run_all.sh), next to its corosync driver. Copy it to the harness's systems/ directory
# (the harness in ../shared is read-only, so copy the harness first):
#
#   cp -r ../shared/bench /tmp/bench && chmod -R u+w /tmp/bench
#   cp cmd/totemload/harness/totemd.sh /tmp/bench/systems/
#   TOTEM_SRC=$PWD SYSTEMS="corosync totemd" NODES=3 SIZES=1024 /tmp/bench/run_all.sh
#
# run_all.sh sources it with $BENCH set to the harness root; see the harness README,
# "Plugging in a new daemon". Every daemon binds to its namespace's 10.77.0.I and sends
# only to the LAN the harness built (multicast 239.192.77.2, TTL 1, on lan0; or unicast
# to 10.77.0.0/24): nothing reaches the host's interfaces.
#
# The protocol parameters match the corosync reference runs: token timeout as
# corosync's effective one (3000 ms + 650 ms per node beyond two), window 50, 17
# messages per visit, 1500-byte datagrams, no encryption (a CRC32C checksum only).

SYS_NAME=totemd
SYS_DEFAULT_VARIANTS="udp"          # udp (IPv4 multicast) or udpu (unicast to each member);
                                    # udp-safe, udpu-safe: the same with safe delivery
TOTEM_SRC=${TOTEM_SRC:?TOTEM_SRC must name the totem repository}
TOTEM_BUILD=${BENCH_BUILD:-${BENCH_STATE:-/tmp/totembench}/build}/totem
TOTEM_STATE=${BENCH_STATE:-/tmp/totembench}/totemd
TOTEM_FLAGS=${TOTEM_FLAGS:-}        # more totemd flags for every daemon, e.g. "--mtu 9000"
TOTEM_PROFILE_DIR=${TOTEM_PROFILE_DIR:-} # set: each daemon writes a CPU profile DIR/nodeI.pprof
SYS_CLIENT=$TOTEM_BUILD/totemload

sys_build() {
    command -v go >/dev/null || { echo "go not found in PATH" >&2; return 1; }
    mkdir -p "$TOTEM_BUILD"
    (cd "$TOTEM_SRC" && go build -o "$TOTEM_BUILD/" ./cmd/totemd ./cmd/totemctl ./cmd/totemload)
}

sys_version() { echo "totemd $(git -C "$TOTEM_SRC" rev-parse --short HEAD 2>/dev/null || echo unknown) ($(go version | awk '{print $3}'))"; }

_totem_socket() { echo "$TOTEM_STATE/node$1/totemd.sock"; }

# (computed here for udp and udpu alike, so totemd scales nothing itself)
_totem_token_ms() { echo $((3000 + 650 * ($1 > 2 ? $1 - 2 : 0))); }

sys_start() { # N VARIANT
    local n=$1 var=$2 i j args
    case "$var" in udp|udpu|udp-safe|udpu-safe) ;; *) echo "totemd: unknown variant $var" >&2; return 1 ;; esac
    rm -rf "$TOTEM_STATE"; mkdir -p "$TOTEM_STATE"
    case "$var" in *-safe) echo safe ;; *) echo agreed ;; esac > "$TOTEM_STATE/level"
    var=${var%-safe}
    for i in $(seq 1 "$n"); do
        mkdir -p "$TOTEM_STATE/node$i"
        args=(--node-id "$i" --cluster bench --listen "10.77.0.$i:5405"
              --socket "$(_totem_socket "$i")" --state-dir "$TOTEM_STATE/node$i"
              --token-timeout "$(_totem_token_ms "$n")ms" --token-coefficient 0 --log-level warn --event-queue 262144
              --unauthenticated) # as the Corosync runs: no crypto
        if [ "$var" = udp ]; then
            args+=(--mcast 239.192.77.2:5405 --interface lan0)
        else
            for j in $(seq 1 "$n"); do args+=(--peer "$j@10.77.0.$j:5405"); done
        fi
        # shellcheck disable=SC2206
        args+=($TOTEM_FLAGS)
        [ -n "$TOTEM_PROFILE_DIR" ] && mkdir -p "$TOTEM_PROFILE_DIR" && args+=(--cpu-profile "$TOTEM_PROFILE_DIR/node$i.pprof")
        echo "${args[*]}" > "$TOTEM_STATE/node$i/args"
        "$BENCH/netns.sh" exec "$i" "$TOTEM_BUILD/totemd" "${args[@]}" \
            > "$TOTEM_STATE/node$i/stderr.log" 2>&1 &
        echo $! > "$TOTEM_STATE/node$i/pid"
    done
}

# sys_wait N TIMEOUT_S: every daemon operational on one ring of N members.
sys_wait() {
    local n=$1 deadline=$((SECONDS + ${2:-60})) i ok
    while [ $SECONDS -lt $deadline ]; do
        ok=1
        for i in $(seq 1 "$n"); do
            kill -0 "$(cat "$TOTEM_STATE/node$i/pid" 2>/dev/null)" 2>/dev/null || { echo "totemd $i died" >&2; return 1; }
            "$TOTEM_BUILD/totemctl" --socket "$(_totem_socket "$i")" status --json 2>/dev/null \
                | grep -q "\"state\":\"operational\".*\"members\":\[$(seq -s, 1 "$n")\]" || { ok=0; break; }
        done
        [ $ok = 1 ] && return 0
        sleep 0.2
    done
    echo "totemd: no ring of $n within ${2:-60}s" >&2
    return 1
}

sys_stop() {
    local f p
    for f in "$TOTEM_STATE"/node*/pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f"); kill -TERM "$p" 2>/dev/null || true
    done
    sleep 0.5
    for f in "$TOTEM_STATE"/node*/pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f"); kill -KILL "$p" 2>/dev/null || true
        rm -f "$f"
    done
}

sys_client() { local i=$1; shift; TOTEMLOAD_LEVEL=$(cat "$TOTEM_STATE/level" 2>/dev/null) TOTEMLOAD_CPU_PROFILE_DIR=$TOTEM_PROFILE_DIR "$BENCH/netns.sh" exec "$i" "$SYS_CLIENT" -socket "$(_totem_socket "$i")" -L "$SYS_NAME" "$@"; }

sys_config() {
    echo "totemd: $(cat "$TOTEM_STATE/node$1/args" 2>/dev/null)"
    echo "totemd: delivery $(cat "$TOTEM_STATE/level" 2>/dev/null); window 50, max messages 17, mtu 1500, checksum only (defaults unless flags above say otherwise)"
}

sys_collect() {
    local d=$1 f i
    mkdir -p "$d"
    for f in "$TOTEM_STATE"/node*/; do
        [ -d "$f" ] || continue
        i=$(basename "$f")
        cp "$f/stderr.log" "$d/$i.log" 2>/dev/null || true
    done
}
