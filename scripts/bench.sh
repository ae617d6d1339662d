#!/usr/bin/env bash
# Runs the baseline server (plain tokio, baseline/) and Switchboard side by side with
# `switchboard bench`, RUNS times, and prints every figure with its ratio
# (switchboard / baseline) from the same run, as Markdown table rows.
#
#   scripts/bench.sh                 # every scenario, 3 runs, 5 s per timed scenario
#   RUNS=1 DURATION=3 SCENARIOS="echo64 fanout" scripts/bench.sh
#
# The ws_* scenarios are the same loads over WebSocket (`bench --ws` against the
# servers' ws_frame listeners: the baseline's is written on the same WebSocket layer);
# ws_idle gives the memory of an idle WebSocket connection, to set against idle's.
# The WebSocket goals: ws_echo64 and ws_fanout at least 1.0x the baseline's figures
# (per second and per server CPU-second), ws_echo64 at least 0.8x echo64 of the same
# server, and ws_idle within 1 KiB of idle.
#
# The scenarios ending in `auth` (echo64auth, fanoutauth, idleauth) compare Switchboard
# with authentication on (a server with users, every connection sending AUTH first)
# against off, instead of against the baseline; the table of authentication follows.
#
# echo64 and fanout also run against the baseline with --per-frame. rooms holds 10,000
# connections in each of the two processes (generator and server): it needs an
# open-file limit above that (`ulimit -n`).
# Each scenario of each run gets a freshly started server (so memory figures start
# from the same point); within a run the two servers alternate which goes first. Raw
# JSON lines go to target/bench/results.jsonl. Needs bash, awk and a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-3}"
DURATION="${DURATION:-5}"
SLOW_DURATION="${SLOW_DURATION:-12}" # longer than the 10 s write_timeout of both servers
SCENARIOS="${SCENARIOS:-echo64 echo16k fanout rooms idle slow slowref ws_echo64 ws_echo16k ws_fanout ws_idle echo64auth fanoutauth idleauth}"
OUT=target/bench
BIN="${CARGO_TARGET_DIR:-target}/release"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
# The user of the runs with authentication on: an admin, since fanout broadcasts.
BENCH_TOKEN="bench-$RANDOM$RANDOM"
printf '[[users]]\nname = "bench"\ntoken = "%s"\nadmin = true\n' "$BENCH_TOKEN" >"$OUT/auth.toml"

cargo build --release -p switchboard-server -p baseline-server >&2

# idle and rooms hold 10,000 connections per process: raise the soft open-file limit
# to the hard one, and say so when even that is too low.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ " $SCENARIOS " == *" rooms "* || " $SCENARIOS " == *"idle"* ]] && [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10100 ]; then
    echo "open-file limit $(ulimit -n) is below the 10,100 that idle and rooms need" >&2
    exit 2
fi

# The arguments of `switchboard bench` for each scenario name.
scenario_args() {
    case "$1" in
    echo64) echo "echo --conns 100 --size 64 --window 16 --duration-s $DURATION" ;;
    echo16k) echo "echo --conns 10 --size 16384 --window 4 --duration-s $DURATION" ;;
    fanout) echo "fanout --conns 1000 --frames 1000 --size 64" ;;
    rooms) echo "rooms --conns 10000 --group-size 10 --publishers 1 --messages 100 --size 32" ;;
    idle) echo "idle --conns 10000" ;;
    slow) echo "slow --conns 20 --size 64 --window 16 --duration-s $SLOW_DURATION" ;;
    slowref) echo "slow --conns 20 --size 64 --window 16 --duration-s $DURATION --no-slow" ;;
    ws_*) echo "$(scenario_args "${1#ws_}") --ws" ;;
    *auth) scenario_args "${1%auth}" ;;
    *) echo "unknown scenario $1" >&2; exit 2 ;;
    esac
}

SERVER_PID=""
SERVER_ADDR=""
LISTENER=frame # which of the server's listeners the scenario loads
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
trap stop_server EXIT

# Starts a fresh server of kind $1 on a free port; sets SERVER_PID and SERVER_ADDR.
start_server() {
    local log="$OUT/$1.out"
    : >"$log"
    case "$1" in
    switchboard) RUST_LOG=warn "$BIN/switchboard" serve --frame 127.0.0.1:0 --line 127.0.0.1:0 --ws-frame 127.0.0.1:0 >"$log" 2>>"$OUT/$1.err" & ;;
    switchboard-auth) RUST_LOG=warn "$BIN/switchboard" serve --config "$OUT/auth.toml" --frame 127.0.0.1:0 --line 127.0.0.1:0 >"$log" 2>>"$OUT/$1.err" & ;;
    baseline) "$BIN/baseline-server" --frame 127.0.0.1:0 --ws-frame 127.0.0.1:0 >"$log" 2>>"$OUT/$1.err" & ;;
    baseline-per-frame) "$BIN/baseline-server" --frame 127.0.0.1:0 --per-frame >"$log" 2>>"$OUT/$1.err" & ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 200); do
        SERVER_ADDR=$(awk -v want="$LISTENER" '$1 == "listening" && $2 == want { print $3 }' "$log")
        if [ -n "$SERVER_ADDR" ]; then return; fi
        sleep 0.05
    done
    echo "$1 did not start" >&2
    exit 1
}

# The value of key $2 in the JSON line $1 (flat objects as `switchboard bench` prints).
field() {
    printf '%s\n' "$1" | grep -o "\"$2\":[^,}]*" | head -n1 | cut -d: -f2- | tr -d '"'
}

# ratio A B: A / B with 3 decimals, or "-" when not numeric.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.eE+-]+$/ && b ~ /^[0-9.eE+-]+$/ && b + 0 != 0) printf "%.3f", a / b; else printf "-" }'
}

metrics() {
    case "$1" in
    echo64 | echo16k | ws_echo64 | ws_echo16k) echo "frames_per_s payload_mb_per_s frames_per_server_cpu_s server_cpu_s p50_us p99_us bench_cpu_s" ;;
    fanout | rooms | ws_fanout) echo "deliveries_per_s in_order elapsed_s deliveries_per_server_cpu_s server_cpu_s" ;;
    idle | ws_idle) echo "rss_per_conn_bytes rss_before_kib rss_after_kib connect_s" ;;
    slow) echo "others_frames_per_s rss_growth_kib slow_closed_after_s slow_closed_after_stall_s server_cpu_s p99_us" ;;
    slowref) echo "others_frames_per_s server_cpu_s p99_us" ;;
    *auth) metrics "${1%auth}" ;;
    esac
}

declare -A LINE
for run in $(seq "$RUNS"); do
    if [ $((run % 2)) -eq 1 ]; then order="baseline switchboard"; else order="switchboard baseline"; fi
    for scenario in $SCENARIOS; do
        servers="$order"
        # The baseline answers a read's run of ECHO (or BROADCAST) frames at once;
        # also measure it answering frame by frame, as Switchboard does.
        case "$scenario" in echo64 | fanout) servers="$order baseline-per-frame" ;; esac
        # Authentication on against off, alternating which goes first.
        case "$scenario" in *auth) servers="${order//baseline/switchboard-auth}" ;; esac
        case "$scenario" in ws_*) LISTENER=ws_frame ;; *) LISTENER=frame ;; esac
        for server in $servers; do
            start_server "$server"
            args=$(scenario_args "$scenario")
            if [ "$server" = switchboard-auth ]; then args="$args --token $BENCH_TOKEN"; fi
            echo "run $run: $server $scenario ($args)" >&2
            # shellcheck disable=SC2086
            json=$("$BIN/switchboard" bench $args --addr "$SERVER_ADDR" --pid "$SERVER_PID" | tail -n1)
            stop_server
            LINE[$run,$scenario,$server]="$json"
            printf '{"run":%s,"server":"%s","name":"%s","figures":%s}\n' "$run" "$server" "$scenario" "$json" >>"$RESULTS"
        done
    done
done

echo
echo "machine: $(nproc) cores, $(free -h | awk '/^Mem:/ { print $2 }') RAM, Linux $(uname -r); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "| scenario | figure | run | baseline | switchboard | ratio |"
echo "|---|---|---|---|---|---|"
for scenario in $SCENARIOS; do
    case "$scenario" in *auth) continue ;; esac
    for metric in $(metrics "$scenario"); do
        for run in $(seq "$RUNS"); do
            b=$(field "${LINE[$run,$scenario,baseline]}" "$metric")
            s=$(field "${LINE[$run,$scenario,switchboard]}" "$metric")
            echo "| $scenario | $metric | $run | $b | $s | $(ratio "$s" "$b") |"
        done
    done
done
per_frame_rows() {
    for metric in "$@"; do
        for run in $(seq "$RUNS"); do
            b=$(field "${LINE[$run,$scenario,baseline-per-frame]}" "$metric")
            s=$(field "${LINE[$run,$scenario,switchboard]}" "$metric")
            echo "| $scenario | $metric | $run | $b | $s | $(ratio "$s" "$b") |"
        done
    done
}
if [[ " $SCENARIOS " == *" echo64 "* || " $SCENARIOS " == *" fanout "* ]]; then
    echo
    echo "| against the baseline answering frame by frame (--per-frame) | figure | run | baseline-per-frame | switchboard | ratio |"
    echo "|---|---|---|---|---|---|"
    for scenario in $SCENARIOS; do
        case "$scenario" in
        echo64) per_frame_rows frames_per_s frames_per_server_cpu_s ;;
        fanout) per_frame_rows deliveries_per_s deliveries_per_server_cpu_s ;;
        esac
    done
fi
if [[ " $SCENARIOS " == *" slow "* && " $SCENARIOS " == *" slowref "* ]]; then
    echo
    echo "| isolation: others' frames/s with the slow client / without it | run | baseline | switchboard |"
    echo "|---|---|---|---|"
    for run in $(seq "$RUNS"); do
        cells=""
        for server in baseline switchboard; do
            with=$(field "${LINE[$run,slow,$server]}" others_frames_per_s)
            without=$(field "${LINE[$run,slowref,$server]}" others_frames_per_s)
            cells="$cells | $(ratio "$with" "$without")"
        done
        echo "| | $run$cells |"
    done
fi
if [[ " $SCENARIOS " == *"auth "* ]]; then
    echo
    echo "| authentication | figure | run | off | on | ratio |"
    echo "|---|---|---|---|---|---|"
    for scenario in $SCENARIOS; do
        case "$scenario" in *auth) ;; *) continue ;; esac
        for metric in $(metrics "$scenario"); do
            for run in $(seq "$RUNS"); do
                off=$(field "${LINE[$run,$scenario,switchboard]}" "$metric")
                on=$(field "${LINE[$run,$scenario,switchboard-auth]}" "$metric")
                echo "| ${scenario%auth} | $metric | $run | $off | $on | $(ratio "$on" "$off") |"
            done
        done
    done
fi
if [[ " $SCENARIOS " == *" ws_echo64 "* && " $SCENARIOS " == *" echo64 "* ]] || [[ " $SCENARIOS " == *" ws_idle "* && " $SCENARIOS " == *" idle "* ]]; then
    echo
    echo "| WebSocket against TCP, same server | figure | run | baseline | switchboard |"
    echo "|---|---|---|---|---|"
    for pair in "echo64 frames_per_s" "echo64 frames_per_server_cpu_s" "idle rss_per_conn_bytes"; do
        set -- $pair
        case " $SCENARIOS " in *" ws_$1 "*) ;; *) continue ;; esac
        for run in $(seq "$RUNS"); do
            cells=""
            for server in baseline switchboard; do
                tcp=$(field "${LINE[$run,$1,$server]}" "$2")
                ws=$(field "${LINE[$run,ws_$1,$server]}" "$2")
                if [ "$2" = rss_per_conn_bytes ]; then
                    cells="$cells | $(awk -v a="$ws" -v b="$tcp" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/) printf "%+.0f B", a - b; else printf "-" }')"
                else
                    cells="$cells | $(ratio "$ws" "$tcp")x"
                fi
            done
            echo "| ws_$1 / $1 | $2 | $run$cells |"
        done
    done
fi
