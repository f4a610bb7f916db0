#!/usr/bin/env bash
# Gatehouse benchmarks, side by side in one run on this machine:
#   1. complete code-flow logins per second (start session → subject → consent → token → UserInfo);
#   2. token-endpoint requests per second (client_credentials, ES256 JWT access tokens), ours and
#      node-oidc-provider's under the same wrk load, alternating (../shared/bench/peer-token-bench.sh);
#   3. code-flow logins with an encrypted ID token (RSA-OAEP-256, A128CBC-HS256) against plain
#      ones, alternating, and refresh-token grants/s and introspection requests/s
#      (gatehouse-bench --mode). ../shared/bench/ has no peer setup for encryption, refresh
#      tokens or introspection, so these run on our side only;
#   4. code-flow logins whose request is pushed (PAR) as an HS256-signed request object,
#      alternating with plain ones, and RP-initiated logouts with two back-channel receivers
#      (each cycle: a login at one client, a single sign-on login at a second, then the timed
#      logout; the receivers are gatehouse-bench --mode receive, https on loopback).
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
rsa_n=oahUIoWw0K0usKNuOR6H4wkf4oBUXHTxRvgb48E-BVvxkeDNjbC4he8rUWcJoZmds2h7M70imEVhRU5djINXtqllXI4DFqcI1DgjT9LewND8MW2Krf3Spsk_ZkoFnilakGygTwpZ3uesH-PFABNIUYpOiN15dsQRkgr0vEhxN92i2asbOenSZeyaxziK72UwxrrKoExv6kc5twXTq4h-QChLOln0_mtUZwfsRaMStPs6mS6XrgxnxbWhojf663tuEQueGC-FCMfra36C9knDFGzKsNa7LZK2djYgyD3JR_MB_4NUJW_TqOQtwHYbxevoJArm-L5StowjzGy-_bq6Gw
rx_ports=${BENCH_RECEIVER_PORTS:-8395,8396}
target/release/gatehouse-bench --issuer x --client-id x --client-secret x --redirect-uri x --api-token x \
  --mode receive --receive-ports "$rx_ports" --ca-out "$work/receivers.pem" >"$work/receivers.log" 2>&1 &
receivers=$!
for _ in $(seq 1 100); do [ -s "$work/receivers.pem" ] && break; sleep 0.1; done
rx1=https://127.0.0.1:${rx_ports%,*}/backchannel rx2=https://127.0.0.1:${rx_ports#*,}/backchannel
cat >"$work/gatehouse.toml" <<TOML
issuer = "$issuer"
data_dir = "$work/data"
[frontend]
# The bench confirms logouts itself; the page is never loaded.
logout_url = "http://127.0.0.1:9/logout"
[outbound]
allow_private_addresses = true
ca_file = "$work/receivers.pem"
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
grant_types = ["authorization_code", "refresh_token"]
[[clients]]
client_id = "bench-enc"
client_secret = "$secret"
redirect_uris = ["https://rp.example/cb"]
id_token_encrypted_response_alg = "RSA-OAEP-256"
# The public half of RFC 7516 Appendix A.1's RSA key; the bench does not decrypt.
jwks = { keys = [{ kty = "RSA", use = "enc", kid = "bench-enc", e = "AQAB", n = "$rsa_n" }] }
[[clients]]
client_id = "bench-par"
client_secret = "$secret"
redirect_uris = ["https://rp.example/cb"]
request_object_signing_alg = "HS256"
require_pushed_authorization_requests = true
[[clients]]
client_id = "bench-bc1"
client_secret = "$secret"
redirect_uris = ["https://rp.example/cb"]
post_logout_redirect_uris = ["https://rp.example/bye"]
backchannel_logout_uri = "$rx1"
[[clients]]
client_id = "bench-bc2"
client_secret = "$secret"
redirect_uris = ["https://rp.example/cb"]
backchannel_logout_uri = "$rx2"
TOML
RUST_LOG=warn target/release/gatehouse serve --config "$work/gatehouse.toml" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server $receivers 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf "$issuer/.well-known/openid-configuration" >/dev/null && break; sleep 0.1; done

echo "== code-flow logins (gatehouse-bench, 16 concurrent) =="
target/release/gatehouse-bench --issuer "$issuer" --client-id bench-web --client-secret "$secret" \
  --redirect-uri https://rp.example/cb --api-token "$api_token" --concurrency 16 --seconds "$secs"

echo "== token endpoint, client_credentials with ES256 JWT access tokens: peer vs ours =="
"$shared/bench/peer-token-bench.sh" "$issuer/token" bench "$secret" api:read "$rounds" "$secs"

bench() {
  target/release/gatehouse-bench --issuer "$issuer" --client-secret "$secret" --redirect-uri https://rp.example/cb \
    --api-token "$api_token" --concurrency 16 --seconds "$secs" "$@"
}
rate() { sed -nE 's/^[a-z_]+_per_s=([0-9]+).*/\1/p' <<<"$1"; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "== code-flow logins: plain vs encrypted ID token (RSA-OAEP-256, A128CBC-HS256), alternating =="
plain=() enc=()
for r in $(seq 1 "$rounds"); do
  p=$(bench --client-id bench-web); echo "round $r plain: $p"; plain+=("$(rate "$p")")
  e=$(bench --client-id bench-enc); echo "round $r encrypted: $e"; enc+=("$(rate "$e")")
done
awk -v p="$(median "${plain[@]}")" -v e="$(median "${enc[@]}")" \
  'BEGIN { printf "plain_median_logins_per_s=%d encrypted_median_logins_per_s=%d ratio=%.2f\n", p, e, (p > 0 ? e / p : 0) }'

echo "== refresh-token grants and introspection requests (16 concurrent, one login each first) =="
for r in $(seq 1 "$rounds"); do
  echo "round $r refresh: $(bench --client-id bench-web --mode refresh)"
  echo "round $r introspect: $(bench --client-id bench-web --mode introspect)"
done

echo "== code-flow logins: plain vs PAR with an HS256-signed request object, alternating =="
plain=() par=()
for r in $(seq 1 "$rounds"); do
  p=$(bench --client-id bench-web); echo "round $r plain: $p"; plain+=("$(rate "$p")")
  q=$(bench --client-id bench-par --mode par-login); echo "round $r par: $q"; par+=("$(rate "$q")")
done
awk -v p="$(median "${plain[@]}")" -v q="$(median "${par[@]}")" \
  'BEGIN { printf "plain_median_logins_per_s=%d par_median_logins_per_s=%d ratio=%.2f\n", p, q, (p > 0 ? q / p : 0) }'

echo "== RP-initiated logouts, two back-channel receivers (a cycle: login, SSO login, logout) =="
for r in $(seq 1 "$rounds"); do
  echo "round $r logout: $(bench --client-id bench-bc1 --second-client-id bench-bc2 \
    --post-logout-redirect-uri https://rp.example/bye --mode logout)"
done
kill -TERM $receivers; wait $receivers 2>/dev/null || true
cat "$work/receivers.log"
curl -sf -H "Authorization: Bearer $api_token-admin" "$issuer/monitor/v1/metrics" \
  | grep -o '"logout.backchannel.[a-z_]*":{"[a-z]*":[0-9.]*}' || true
