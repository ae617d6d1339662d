#!/usr/bin/env bash
# Group history, measured: `bench rooms` with every group keeping a history against the
# same server without history, fresh servers alternated, ROUNDS rounds each (ratios from
# the same round), then `bench history` (memory per kept message, time to recover
# MESSAGES missed messages) on ROUNDS fresh servers.
#
#   ROUNDS=5 scripts/bench_history.sh
#
# Prints one JSON line per measurement and a table of medians. Needs bash, awk, python3
# and a Rust toolchain; rooms holds 10,000 connections per process (`ulimit -n`).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-5}"
MESSAGES="${MESSAGES:-1000}"
BIN="${CARGO_TARGET_DIR:-target}/release"
OUT=target/bench
mkdir -p "$OUT"
cargo build --release -p switchboard-server >&2
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
printf 'history_size = %s\n' "$MESSAGES" >"$OUT/history.toml"
printf '' >"$OUT/history.toml.off"

SERVER_PID=""
SERVER_ADDR=""
start() { # $1: config file
    local log="$OUT/history-server.out"
    : >"$log"
    RUST_LOG=warn "$BIN/switchboard" serve --config "$1" --frame 127.0.0.1:0 --line 127.0.0.1:0 >"$log" 2>>"$OUT/history-server.err" &
    SERVER_PID=$!
    for _ in $(seq 200); do
        SERVER_ADDR=$(awk '$1 == "listening" && $2 == "frame" { print $3 }' "$log")
        [ -n "$SERVER_ADDR" ] && return 0
        sleep 0.05
    done
    echo "the server did not start" >&2
    exit 1
}
stop() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}
trap stop EXIT

ROOMS="rooms --conns 10000 --group-size 10 --publishers 1 --messages 100 --size 32"
results="$OUT/history.jsonl"
: >"$results"
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then order="off on"; else order="on off"; fi
    for mode in $order; do
        if [ "$mode" = on ]; then start "$OUT/history.toml"; flag=--history; else start "$OUT/history.toml.off"; flag=; fi
        echo "round $round: rooms, history $mode, load average $(cut -d' ' -f1 /proc/loadavg)" >&2
        # shellcheck disable=SC2086
        json=$("$BIN/switchboard" bench $ROOMS $flag --addr "$SERVER_ADDR" --pid "$SERVER_PID" | tail -n1)
        stop
        printf '{"round":%s,"name":"rooms","history":"%s","figures":%s}\n' "$round" "$mode" "$json" | tee -a "$results"
    done
done
for round in $(seq "$ROUNDS"); do
    start "$OUT/history.toml"
    echo "round $round: history, load average $(cut -d' ' -f1 /proc/loadavg)" >&2
    json=$("$BIN/switchboard" bench history --groups 100 --messages "$MESSAGES" --size 64 --recoveries 50 --addr "$SERVER_ADDR" --pid "$SERVER_PID" | tail -n1)
    stop
    printf '{"round":%s,"name":"history","figures":%s}\n' "$round" "$json" | tee -a "$results"
done

python3 - "$results" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(xs): return statistics.median(xs) if xs else float("nan")
print()
print("| figure | median over the rounds |")
print("|---|---|")
rooms = {}
for r in rows:
    if r["name"] == "rooms":
        rooms.setdefault(r["round"], {})[r["history"]] = r["figures"]
for key in ("deliveries_per_s", "deliveries_per_server_cpu_s"):
    ratios = [v["on"][key] / v["off"][key] for v in rooms.values() if "on" in v and "off" in v and v["off"].get(key)]
    print(f"| rooms {key}, history on / off (per round: {', '.join(f'{x:.3f}' for x in ratios)}) | {med(ratios):.3f} |")
    for mode in ("off", "on"):
        print(f"| rooms {key}, history {mode} | {med([v[mode][key] for v in rooms.values() if mode in v]):,.0f} |")
print(f"| rooms in order, history on | {all(v['on'].get('in_order') for v in rooms.values() if 'on' in v)} |")
hist = [r["figures"] for r in rows if r["name"] == "history"]
for key in sorted({k for h in hist for k in h if isinstance(h[k], (int, float)) and not isinstance(h[k], bool)}):
    print(f"| history {key} | {med([h[key] for h in hist if key in h]):,.3f} |")
EOF
