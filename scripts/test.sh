#!/usr/bin/env bash
# Every test of the workspace, on a fresh machine: installs what the end-to-end tests
# drive for real (Chromium, for the dashboard test; nats-server, for the cluster tests;
# openssl, which makes the client certificates of the TLS tests) when it is missing, then runs
# `cargo test --workspace` with any extra arguments given.
set -euo pipefail
cd "$(dirname "$0")/.."

install() {
    echo "installing $* (driven for real by the end-to-end tests)" >&2
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq "$@"
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq "$@"
    fi
}

command -v chromium >/dev/null || install chromium
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || install nats-server
command -v openssl >/dev/null || install openssl
exec cargo test --workspace "$@"
