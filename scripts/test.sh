#!/usr/bin/env bash
# Every test of the workspace, on a fresh machine: installs what the end-to-end tests
# drive for real (Chromium, for the dashboard test; nats-server, for the cluster tests;
# openssl, which makes the client certificates of the TLS tests) when it is missing, then runs
# `cargo test --workspace` with any extra arguments given.
set -euo pipefail
cd "$(dirname "$0")/.."

install() {
    echo "installing $* (driven for real by the end-to-end tests)" >&2
    local as_root=()
    if [ "$(id -u)" != 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "scripts/test.sh: $* missing, and neither root nor sudo to install it" >&2
            exit 2
        fi
        as_root=(sudo)
    fi
    if ! command -v apt-get >/dev/null; then
        echo "scripts/test.sh: $* missing, and no apt-get to install it: install it by hand" >&2
        exit 2
    fi
    # Non-interactive: a fresh image must not stop at a package's question.
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

command -v chromium >/dev/null || install chromium
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || install nats-server
command -v openssl >/dev/null || install openssl
exec cargo test --workspace "$@"
