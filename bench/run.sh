#!/usr/bin/env bash
# Gatehouse benchmarks, side by side in one run on this machine:
#   1. complete code-flow logins per second (start session → subject → consent → token → UserInfo);
#   2. token-endpoint requests per second (client_credentials, ES256 JWT access tokens), ours and
#      node-oidc-provider's under the same wrk load, alternating (../shared/bench/peer-token-bench.sh).
# usage: bench/run.sh [ROUNDS] [SECONDS]
# Needs wrk and Node.js/npm (the peer); installs wrk with apt-get when missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${GATEHOUSE_SHARED:-$root/../shared}
rounds=${1:-3} secs=${2:-8}
cd "$root"
command -v wrk >/dev/null || { ${SUDO:-$( [ "$(id -u)" = 0 ] || echo sudo)} apt-get install -y -qq wrk >/dev/null; }

cargo build --release -q -p gatehouse-server -p gatehouse-bench
work=$(mktemp -d)
port=${BENCH_PORT:-8390}
issuer="http://127.0.0.1:$port"
api_token=bench-api-token-$(date +%s)
secret=bench-secret-0123456789abcdef0123456789
hash() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
cat >"$work/gatehouse.toml" <<TOML
issuer = "$issuer"
data_dir = "$work/data"
[api]
authz_session_token_hashes = ["$(hash "$api_token")"]
admin_token_hashes = ["$(hash "$api_token-admin")"]
[[clients]]
client_id = "bench"
client_secret = "$secret"
grant_types = ["client_credentials"]
response_types = []
scope = "api:read"
[[clients]]
client_id = "bench-web"
client_secret = "$secret"
redirect_uris = ["https://rp.example/cb"]
TOML
RUST_LOG=warn target/release/gatehouse serve --config "$work/gatehouse.toml" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf "$issuer/.well-known/openid-configuration" >/dev/null && break; sleep 0.1; done

echo "== code-flow logins (gatehouse-bench, 16 concurrent) =="
target/release/gatehouse-bench --issuer "$issuer" --client-id bench-web --client-secret "$secret" \
  --redirect-uri https://rp.example/cb --api-token "$api_token" --concurrency 16 --seconds "$secs"

echo "== token endpoint, client_credentials with ES256 JWT access tokens: peer vs ours =="
"$shared/bench/peer-token-bench.sh" "$issuer/token" bench "$secret" api:read "$rounds" "$secs"
