#!/usr/bin/env bash
# Compares two switchboard builds against the baseline on one scenario, in many short
# rounds: each round starts a fresh server of each kind (A, B, baseline; the order
# alternates between rounds) and runs one `switchboard bench` against it. Prints, for
# each, the mean and median of its figure, its ratio to the baseline's, and the
# server's user and system CPU per frame (or delivery) read from /proc around the run:
# on a shared machine the figure moves with the load, the user CPU a change spends
# per frame much less. For scenarios too short for one run to be steady (fanout lasts
# about 50 ms), and for A/B tests of a change.
#
#   scripts/bench_pair.sh ROUNDS SCENARIO BINARY_A BINARY_B
#   scripts/bench_pair.sh 60 fanout /tmp/switchboard-old target/release/switchboard
#   scripts/bench_pair.sh 4 ws_echo64 /tmp/switchboard-old target/release/switchboard
#
# SCENARIO is fanout, rooms, echo64, echo16k, ws_echo64, ws_echo16k or ws_fanout (the
# arguments of scripts/bench.sh). The load generator is BINARY_A; the baseline is
# target/release/baseline-server (cargo build --release -p baseline-server). Needs
# bash, awk and Linux's /proc.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 4 ] || { sed -n '2,19p' "$0" >&2; exit 2; }
ROUNDS=$1 SCENARIO=$2 A=$3 B=$4
BASE="${CARGO_TARGET_DIR:-target}/release/baseline-server"
DURATION=${DURATION:-5}
LISTENER=frame FIGURE=deliveries_per_s UNITS=deliveries
case "$SCENARIO" in
fanout) ARGS="fanout --conns 1000 --frames 1000 --size 64" ;;
rooms) ARGS="rooms --conns 10000 --group-size 10 --publishers 1 --messages 100 --size 32" ;;
echo64 | ws_echo64) ARGS="echo --conns 100 --size 64 --window 16 --duration-s $DURATION" ;;
echo16k | ws_echo16k) ARGS="echo --conns 10 --size 16384 --window 4 --duration-s $DURATION" ;;
ws_fanout) ARGS="fanout --conns 1000 --frames 1000 --size 64" ;;
*) echo "unknown scenario $SCENARIO" >&2; exit 2 ;;
esac
case "$SCENARIO" in echo*) FIGURE=frames_per_s UNITS=frames ;; esac
case "$SCENARIO" in
ws_*)
    ARGS="$ARGS --ws" LISTENER=ws_frame
    case "$SCENARIO" in ws_echo*) FIGURE=frames_per_s UNITS=frames ;; esac
    ;;
esac
TICK=$(getconf CLK_TCK)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
OUT=target/bench
mkdir -p "$OUT"
LOG="$OUT/pair-server.out"

# The user and system CPU ticks of process $1.
ticks() {
    awk '{ print $14, $15 }' "/proc/$1/stat"
}

# One run against a fresh server: prints "KIND figure server_cpu_s user_ns system_ns"
# (the last two per frame or delivery).
run() {
    local kind=$1 bin=$2 pid addr="" before after line
    : >"$LOG"
    case "$kind" in
    base) "$bin" --frame 127.0.0.1:0 --ws-frame 127.0.0.1:0 >"$LOG" 2>/dev/null & ;;
    *) RUST_LOG=warn "$bin" serve --frame 127.0.0.1:0 --line 127.0.0.1:0 --ws-frame 127.0.0.1:0 >"$LOG" 2>/dev/null & ;;
    esac
    pid=$!
    for _ in $(seq 200); do
        addr=$(awk -v want="$LISTENER" '$1 == "listening" && $2 == want { print $3 }' "$LOG")
        [ -n "$addr" ] && break
        sleep 0.05
    done
    if [ -z "$addr" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        echo "$kind did not start" >&2
        exit 1
    fi
    before=$(ticks "$pid")
    # shellcheck disable=SC2086
    line=$("$A" bench $ARGS --addr "$addr" --pid "$pid" | tail -n 1)
    after=$(ticks "$pid")
    printf '%s\n' "$line" | awk -v kind="$kind" -v figure="$FIGURE" -v units="$UNITS" \
        -v before="$before" -v after="$after" -v tick="$TICK" '
        function field(name,   at) {
            if (!match($0, "\"" name "\":[0-9.]+")) return 0
            return substr($0, RSTART + length(name) + 3, RLENGTH - length(name) - 3)
        }
        {
            split(before, b, " "); split(after, a, " "); n = field(units)
            user = n ? (a[1] - b[1]) / tick / n * 1e9 : 0
            sys = n ? (a[2] - b[2]) / tick / n * 1e9 : 0
            print kind, field(figure), field("server_cpu_s"), user, sys }'
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

results=$(for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then run A "$A"; run B "$B"; run base "$BASE"
    else run base "$BASE"; run B "$B"; run A "$A"; fi
done)
echo "$results" | sort -k1,1 -k2,2n | awk -v figure="$FIGURE" '
    { v[$1, ++n[$1]] = $2; s[$1] += $2; c[$1] += $3; u[$1] += $4; y[$1] += $5 }
    END {
        for (k in n) { mean[k] = s[k] / n[k]; m = n[k]
            med[k] = (m % 2) ? v[k, (m + 1) / 2] : (v[k, m / 2] + v[k, m / 2 + 1]) / 2 }
        printf "| server | rounds | %s mean | median | server CPU s (mean) | user ns per unit | system ns per unit | ratio mean | ratio median |\n|---|---|---|---|---|---|---|---|---|\n", figure
        split("A B base", order, " ")
        for (i = 1; i <= 3; i++) { k = order[i]
            printf "| %s | %d | %.0f | %.0f | %.4f | %.0f | %.0f | %.3f | %.3f |\n", k, n[k], mean[k], med[k], c[k] / n[k], u[k] / n[k], y[k] / n[k], mean[k] / mean["base"], med[k] / med["base"] }
    }'
