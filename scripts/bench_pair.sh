#!/usr/bin/env bash
# Compares two switchboard builds against the baseline on one scenario, in many short
# rounds: each round starts a fresh server of each kind (A, B, baseline; the order
# alternates between rounds) and runs one `switchboard bench` against it. Prints, for
# each, the mean and median of its figure and its ratio to the baseline's. For
# scenarios too short for one run to be steady (fanout lasts about 50 ms).
#
#   scripts/bench_pair.sh ROUNDS SCENARIO BINARY_A BINARY_B
#   scripts/bench_pair.sh 60 fanout /tmp/switchboard-old target/release/switchboard
#
# SCENARIO is fanout or rooms (the arguments of scripts/bench.sh). The load generator
# is BINARY_A; the baseline is target/release/baseline-server (cargo build --release
# -p baseline-server). Needs bash and awk.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 4 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
ROUNDS=$1 SCENARIO=$2 A=$3 B=$4
BASE="${CARGO_TARGET_DIR:-target}/release/baseline-server"
case "$SCENARIO" in
fanout) ARGS="fanout --conns 1000 --frames 1000 --size 64" ;;
rooms) ARGS="rooms --conns 10000 --group-size 10 --publishers 1 --messages 100 --size 32" ;;
*) echo "unknown scenario $SCENARIO" >&2; exit 2 ;;
esac
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
OUT=target/bench
mkdir -p "$OUT"
LOG="$OUT/pair-server.out"

# One run against a fresh server: prints "KIND deliveries_per_s server_cpu_s".
run() {
    local kind=$1 bin=$2 pid addr=""
    : >"$LOG"
    case "$kind" in
    base) "$bin" --frame 127.0.0.1:0 >"$LOG" 2>/dev/null & ;;
    *) RUST_LOG=warn "$bin" serve --frame 127.0.0.1:0 --line 127.0.0.1:0 >"$LOG" 2>/dev/null & ;;
    esac
    pid=$!
    for _ in $(seq 200); do
        addr=$(awk '$1 == "listening" && $2 == "frame" { print $3 }' "$LOG")
        [ -n "$addr" ] && break
        sleep 0.05
    done
    if [ -z "$addr" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        echo "$kind did not start" >&2
        exit 1
    fi
    # shellcheck disable=SC2086
    "$A" bench $ARGS --addr "$addr" --pid "$pid" |
        awk -v kind="$kind" '{
            match($0, /"deliveries_per_s":[0-9.]+/); d = substr($0, RSTART + 19, RLENGTH - 19)
            match($0, /"server_cpu_s":[0-9.]+/); c = substr($0, RSTART + 15, RLENGTH - 15)
            print kind, d, c }'
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

results=$(for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then run A "$A"; run B "$B"; run base "$BASE"
    else run base "$BASE"; run B "$B"; run A "$A"; fi
done)
echo "$results" | sort -k1,1 -k2,2n | awk '
    { v[$1, ++n[$1]] = $2; s[$1] += $2; c[$1] += $3 }
    END {
        for (k in n) { mean[k] = s[k] / n[k]; m = n[k]
            med[k] = (m % 2) ? v[k, (m + 1) / 2] : (v[k, m / 2] + v[k, m / 2 + 1]) / 2 }
        printf "| server | rounds | deliveries/s mean | median | server CPU s (mean) | ratio mean | ratio median |\n|---|---|---|---|---|---|---|\n"
        split("A B base", order, " ")
        for (i = 1; i <= 3; i++) { k = order[i]
            printf "| %s | %d | %.0f | %.0f | %.4f | %.3f | %.3f |\n", k, n[k], mean[k], med[k], c[k] / n[k], mean[k] / mean["base"], med[k] / med["base"] }
    }'
