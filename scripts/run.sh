#!/usr/bin/env bash
# Runs the Gatehouse demo on this machine: the provider (zero configuration: SQLite and keys in
# ./data), the example login front-end and the demo relying party. Prints where to click;
# Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build -q -p gatehouse-server -p gatehouse-login-frontend -p gatehouse-demo-rp

pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT INT TERM
wait_for() { for _ in $(seq 1 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "run: $1 did not come up" >&2; exit 1; }

GATEHOUSE_FRONTEND__LOGIN_URL=http://127.0.0.1:8081/login target/debug/gatehouse serve &
pids+=($!)
wait_for http://127.0.0.1:8080/.well-known/openid-configuration
target/debug/gatehouse-login &
pids+=($!)
target/debug/gatehouse-demo-rp &
pids+=($!)
wait_for http://127.0.0.1:8082/

cat <<MSG

  Gatehouse is running.
    provider          http://127.0.0.1:8080  (discovery: /.well-known/openid-configuration)
    login front-end   http://127.0.0.1:8081
    demo app          http://127.0.0.1:8082   <- open this and sign in as alice / wonderland

  API tokens are in ./data (authz-api.token, admin-api.token). Ctrl-C stops everything.

MSG
wait
