#!/usr/bin/env bash
# Runs the hand-written peers (baseline/: `baseline-server` on plain tokio, batching
# and --per-frame, and `baseline-actix`, one actix actor per connection written the
# obvious way) and Switchboard side by side with `switchboard bench`, RUNS times, and
# prints every figure with its ratios (switchboard / batching baseline, switchboard /
# best peer) from the same run, then the median of each ratio over the runs, as
# Markdown table rows.
#
#   scripts/bench.sh                 # every scenario, 3 runs, 5 s per timed scenario
#   RUNS=1 DURATION=3 SCENARIOS="echo64 fanout" scripts/bench.sh
#   RATE=1200000 SCENARIOS="echo64 echo64rate" RUNS=5 scripts/bench.sh
#   PROBE=1 SCENARIOS="echo64 echo64rate" scripts/bench.sh   # + where the time goes
#   AUTOGROUP_NICE=-10 scripts/bench.sh                      # before other sessions
#
# echo64rate offers RATE ECHO frames per second (default 1,000,000) on a fixed
# schedule instead of a full window: latency under a load every server can take.
# echo64, echo64rate and fanout also run against the baseline with --per-frame, echo64
# and echo64rate against it with --pinned (no work stealing: one single-threaded
# runtime per core, as actix's arbiters);
# baseline-actix runs every TCP scenario but slow and slowref (its write buffer has no
# bound, so it has no slow-consumer rule to measure). With PROBE=1 a second Switchboard,
# built with the `probe` feature, also runs echo64 and echo64rate, and its per-phase
# latency histograms (printed at shutdown) are shown after the tables; its other
# figures go to results.jsonl only: every figure and ratio in the tables is the plain
# build's.
# The ws_* scenarios are the same loads over WebSocket (`bench --ws` against the
# servers' ws_frame listeners: the baseline's is written on the same WebSocket layer);
# ws_idle gives the memory of an idle WebSocket connection, to set against idle's.
# They run against the batching baseline and Switchboard only (the other peers have no
# WebSocket listener). The WebSocket goals: ws_echo64 and ws_fanout at least 1.0x the
# baseline's figures (per second and per server CPU-second), ws_echo64 at least 0.8x
# echo64 of the same server, and ws_idle within 1 KiB of idle.
#
# The scenarios ending in `auth` (echo64auth, fanoutauth, idleauth) compare Switchboard
# with authentication on (a server with users, every connection sending AUTH first)
# against off, instead of against the peers; the table of authentication follows.
#
# rooms holds 10,000 connections in each of the two processes (generator and
# server): it needs an open-file limit above that (`ulimit -n`).
# Each scenario of each run gets a freshly started server (so memory figures start
# from the same point); within a run the two servers alternate which goes first. Raw
# JSON lines go to target/bench/results.jsonl. Needs bash, awk and a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

# With AUTOGROUP_NICE (e.g. -10) the script runs again in a session of its own, whose
# scheduler autogroup gets that nice value (Linux with autogroups on; a negative value
# needs root): where autogroups are on, `nice` only orders processes within one
# autogroup, so it does not put the benchmark before other sessions' builds.
if [ -n "${AUTOGROUP_NICE:-}" ] && [ -z "${BENCH_AUTOGROUP:-}" ]; then
    exec env BENCH_AUTOGROUP=1 setsid bash -c 'echo "$AUTOGROUP_NICE" >/proc/self/autogroup && exec "$@"' bench "$0" "$@"
fi

RUNS="${RUNS:-3}"
DURATION="${DURATION:-5}"
SLOW_DURATION="${SLOW_DURATION:-12}" # longer than the 10 s write_timeout of both servers
SCENARIOS="${SCENARIOS:-echo64 echo64rate echo16k fanout rooms idle slow slowref ws_echo64 ws_echo16k ws_fanout ws_idle echo64auth fanoutauth idleauth}"
RATE="${RATE:-1000000}"
PROBE="${PROBE:-}"
OUT=target/bench
BIN="${CARGO_TARGET_DIR:-target}/release"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
# The user of the runs with authentication on: an admin, since fanout broadcasts.
BENCH_TOKEN="bench-$RANDOM$RANDOM"
printf '[[users]]\nname = "bench"\ntoken = "%s"\nadmin = true\n' "$BENCH_TOKEN" >"$OUT/auth.toml"

if [ -n "$PROBE" ]; then
    cargo build --release -p switchboard-server --features probe >&2
    cp "$BIN/switchboard" "$OUT/switchboard-probe"
fi
# The plain build last: the load generator is always the plain binary.
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
    echo64rate) echo "echo --conns 100 --size 64 --rate $RATE --duration-s $DURATION" ;;
    echo16k) echo "echo --conns 10 --size 16384 --window 4 --duration-s $DURATION" ;;
    fanout) echo "fanout --conns 1000 --frames 1000 --size 64" ;;
    rooms) echo "rooms --conns 10000 --group-size 10 --publishers 1 --messages 100 --size 32" ;;
    idle) echo "idle --conns 10000 --settle-s 3" ;;
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
    switchboard-probe) RUST_LOG=warn "$OUT/switchboard-probe" serve --frame 127.0.0.1:0 >"$log" 2>>"$OUT/$1.err" & ;;
    baseline) "$BIN/baseline-server" --frame 127.0.0.1:0 --ws-frame 127.0.0.1:0 >"$log" 2>>"$OUT/$1.err" & ;;
    baseline-per-frame) "$BIN/baseline-server" --frame 127.0.0.1:0 --per-frame >"$log" 2>>"$OUT/$1.err" & ;;
    baseline-pinned) "$BIN/baseline-server" --frame 127.0.0.1:0 --pinned >"$log" 2>>"$OUT/$1.err" & ;;
    baseline-actix) "$BIN/baseline-actix" --frame 127.0.0.1:0 >"$log" 2>>"$OUT/$1.err" & ;;
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

# The value of key $2 in the JSON line $1 (flat objects as `switchboard bench` prints),
# or nothing (and success: under `set -e`) when it has no such key.
field() {
    printf '%s\n' "$1" | grep -o "\"$2\":[^,}]*" | head -n1 | cut -d: -f2- | tr -d '"' || true
}

# ratio A B: A / B with 3 decimals, or "-" when not numeric.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.eE+-]+$/ && b ~ /^[0-9.eE+-]+$/ && b + 0 != 0) printf "%.3f", a / b; else printf "-" }'
}

metrics() {
    case "$1" in
    echo64 | echo16k | ws_echo64 | ws_echo16k) echo "frames_per_s fewest_conn_share payload_mb_per_s frames_per_server_cpu_s server_cpu_s p50_us p99_us p999_us arrival_p50_us arrival_p99_us arrival_p999_us bench_cpu_s server_runqueue_wait_s server_voluntary_switches server_involuntary_switches" ;;
    echo64rate) echo "frames_per_s frames_per_server_cpu_s server_cpu_s p50_us p99_us p999_us arrival_p50_us arrival_p99_us arrival_p999_us max_us send_lag_p99_us skipped bench_cpu_s server_runqueue_wait_s server_voluntary_switches server_involuntary_switches" ;;
    fanout | rooms | ws_fanout) echo "deliveries_per_s in_order elapsed_s deliveries_per_server_cpu_s server_cpu_s" ;;
    idle | ws_idle) echo "rss_per_conn_bytes rss_before_kib rss_after_kib connect_s" ;;
    slow) echo "others_frames_per_s rss_growth_kib slow_closed_after_s slow_closed_after_stall_s server_cpu_s p99_us" ;;
    slowref) echo "others_frames_per_s server_cpu_s p99_us" ;;
    *auth) metrics "${1%auth}" ;;
    esac
}

# The servers that run scenario $1 besides the batching baseline and Switchboard.
extra_peers() {
    case "$1" in
    # The baseline answers a read's run of ECHO (or BROADCAST) frames at once; also
    # measure it answering frame by frame, as Switchboard does.
    echo64 | echo64rate) echo "baseline-per-frame baseline-pinned baseline-actix${PROBE:+ switchboard-probe}" ;;
    fanout) echo "baseline-per-frame baseline-actix" ;;
    slow | slowref | ws_*) echo "" ;;
    *) echo "baseline-actix" ;;
    esac
}

declare -A LINE=() PROBES=()
for run in $(seq "$RUNS"); do
    for scenario in $SCENARIOS; do
        # Every server in turn, the order rotating with the run; authentication on
        # against off for the scenarios ending in auth.
        case "$scenario" in
        *auth) servers=(switchboard switchboard-auth) ;;
        *) servers=(baseline switchboard $(extra_peers "$scenario")) ;;
        esac
        n=${#servers[@]}
        case "$scenario" in ws_*) LISTENER=ws_frame ;; *) LISTENER=frame ;; esac
        for i in $(seq 0 $((n - 1))); do
            server=${servers[$(((i + run - 1) % n))]}
            start_server "$server"
            args=$(scenario_args "$scenario")
            if [ "$server" = switchboard-auth ]; then args="$args --token $BENCH_TOKEN"; fi
            echo "run $run: $server $scenario ($args), load average $(cut -d' ' -f1 /proc/loadavg)" >&2
            # shellcheck disable=SC2086
            json=$("$BIN/switchboard" bench $args --addr "$SERVER_ADDR" --pid "$SERVER_PID" | tail -n1)
            stop_server
            LINE[$run,$scenario,$server]="$json"
            printf '{"run":%s,"server":"%s","name":"%s","figures":%s}\n' "$run" "$server" "$scenario" "$json" >>"$RESULTS"
            probe=$(awk '$1 == "probe" { $1 = ""; print substr($0, 2) }' "$OUT/$server.out")
            if [ -n "$probe" ]; then
                PROBES[$run,$scenario]="$probe"
                printf '{"run":%s,"server":"%s","name":"%s","probe":%s}\n' "$run" "$server" "$scenario" "$probe" >>"$RESULTS"
            fi
        done
    done
done

# Whether a lower figure is better for metric $1 (latency, memory, CPU used).
lower_is_better() {
    case "$1" in
    *_per_s | *_per_server_cpu_s | payload_mb_per_s) return 1 ;;
    *) return 0 ;;
    esac
}

# The best of the peers' figures for metric $2 in run $3 of scenario $1.
best_peer() {
    local scenario=$1 metric=$2 run=$3 best="" v
    for peer in baseline baseline-per-frame baseline-pinned baseline-actix; do
        v=$(field "${LINE[$run,$scenario,$peer]:-}" "$metric")
        [[ "$v" =~ ^[0-9.eE+-]+$ ]] || continue
        if [ -z "$best" ]; then best=$v; continue; fi
        if lower_is_better "$metric"; then
            best=$(awk -v a="$v" -v b="$best" 'BEGIN { print (a < b ? a : b) }')
        else
            best=$(awk -v a="$v" -v b="$best" 'BEGIN { print (a > b ? a : b) }')
        fi
    done
    echo "$best"
}

# The median of the numbers given (or "-").
median() {
    printf '%s\n' "$@" | grep -E '^[0-9.eE+-]+$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
echo "machine: $(nproc) cores, $(free -h | awk '/^Mem:/ { print $2 }') RAM, Linux $(uname -r); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| scenario | figure | run | baseline | per-frame | pinned | actix | switchboard | / baseline | / best peer |"
echo "|---|---|---|---|---|---|---|---|---|---|"
declare -A TO_BASE TO_BEST
for scenario in $SCENARIOS; do
    case "$scenario" in *auth) continue ;; esac
    for metric in $(metrics "$scenario"); do
        for run in $(seq "$RUNS"); do
            b=$(field "${LINE[$run,$scenario,baseline]}" "$metric")
            p=$(field "${LINE[$run,$scenario,baseline-per-frame]:-}" "$metric")
            q=$(field "${LINE[$run,$scenario,baseline-pinned]:-}" "$metric")
            a=$(field "${LINE[$run,$scenario,baseline-actix]:-}" "$metric")
            s=$(field "${LINE[$run,$scenario,switchboard]}" "$metric")
            best=$(best_peer "$scenario" "$metric" "$run")
            to_base=$(ratio "$s" "$b")
            to_best=$(ratio "$s" "$best")
            TO_BASE[$scenario,$metric]+=" $to_base"
            TO_BEST[$scenario,$metric]+=" $to_best"
            echo "| $scenario | $metric | $run | ${b:--} | ${p:--} | ${q:--} | ${a:--} | ${s:--} | $to_base | $to_best |"
        done
    done
done
echo
echo "Medians over $RUNS runs (a ratio below 1 is better where lower is better: latency, memory, CPU):"
echo
echo "| scenario | figure | switchboard / baseline | switchboard / best peer |"
echo "|---|---|---|---|"
for scenario in $SCENARIOS; do
    case "$scenario" in *auth) continue ;; esac
    for metric in $(metrics "$scenario"); do
        # shellcheck disable=SC2086
        echo "| $scenario | $metric | $(median ${TO_BASE[$scenario,$metric]}) | $(median ${TO_BEST[$scenario,$metric]}) |"
    done
done
if [ ${#PROBES[@]} -gt 0 ]; then
    echo
    echo "Inside Switchboard (probe build): per phase, requests and p50 / p99 / p999 / max in µs"
    echo
    echo "| scenario | run | wait (arrival to read) | turn (read to write) | total | requests per thread | client p50 / p99 / p999 (probe build; plain build) |"
    echo "|---|---|---|---|---|---|---|"
    for scenario in $SCENARIOS; do
        for run in $(seq "$RUNS"); do
            probe="${PROBES[$run,$scenario]:-}"
            [ -n "$probe" ] || continue
            cells=""
            for phase in wait turn total; do
                part=$(printf '%s\n' "$probe" | grep -o "\"$phase\":{[^}]*}" || true)
                cells="$cells | $(field "$part" requests): $(field "$part" p50_us) / $(field "$part" p99_us) / $(field "$part" p999_us) / $(field "$part" max_us)"
            done
            threads=$(printf '%s\n' "$probe" | grep -o '"per_thread":\[[^]]*\]' | cut -d: -f2 || true)
            client=""
            for server in switchboard-probe switchboard; do
                json="${LINE[$run,$scenario,$server]:-}"
                client="$client${client:+; }$(field "$json" p50_us) / $(field "$json" p99_us) / $(field "$json" p999_us)"
            done
            echo "| $scenario | $run$cells | $threads | $client |"
        done
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
                tcp=$(field "${LINE[$run,$1,$server]:-}" "$2")
                ws=$(field "${LINE[$run,ws_$1,$server]:-}" "$2")
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
