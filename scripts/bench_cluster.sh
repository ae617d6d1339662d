#!/usr/bin/env bash
# Fan-out across servers: three switchboard nodes on one nats-server, all on loopback.
# Prints, from one invocation, the single-node and the cross-node figures of
# `switchboard bench fanout` (two runs each, alternating), then the one-way latency of a
# BROADCAST to a receiver on the same node and on another node (scripts/cluster_hop.py).
# Needs nats-server and python3.
#
#   scripts/bench_cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p switchboard-server >&2
mkdir -p target/bench
BIN="${CARGO_TARGET_DIR:-target}/release/switchboard"
PORT=$((20000 + RANDOM % 20000))
nats-server -a 127.0.0.1 -p $PORT > target/bench/nats.log 2>&1 &
NATS=$!
sleep 0.5
trap 'kill $NATS 2>/dev/null || true' EXIT
start() { # starts node $1; prints its PID
  RUST_LOG=warn $BIN serve --frame 127.0.0.1:0 --line 127.0.0.1:0 --cluster nats://127.0.0.1:$PORT --node $1 > target/bench/node-$1.out 2>&1 &
  echo $!
}
PA=$(start a); PB=$(start b); PC=$(start c)
addr() { # the frame address node $1 printed, waiting at most 10 s for it
  for _ in $(seq 1 100); do
    grep -q "listening frame" target/bench/node-$1.out 2>/dev/null && break
    sleep 0.1
  done
  grep "listening frame" target/bench/node-$1.out | awk '{print $3}'
}
A=$(addr a); B=$(addr b); C=$(addr c)
echo "nodes: a=$A b=$B c=$C nats=127.0.0.1:$PORT"
for run in 1 2; do
  echo "run $run single-node: $($BIN bench fanout --conns 1000 --frames 1000 --size 64 --addr $A --pid $PA)"
  echo "run $run cross-node:  $($BIN bench fanout --conns 1000 --frames 1000 --size 64 --addr $A --receivers-addr $B --pid $PA)"
done
python3 scripts/cluster_hop.py "$A" "$B"
kill $PA $PB $PC; kill $NATS
