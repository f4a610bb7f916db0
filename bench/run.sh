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
#   5. complete logins beside node-oidc-provider's (../shared/bench/peer-login-bench.sh), and
#      refresh-token grants and introspections beside its (bench/peer-grants-bench.sh);
#   6. with --postgres, logins on PostgreSQL against SQLite, alternating (a second server on a
#      PostgreSQL started here);
#   7. memory: resident set of a server with the three example plugins loaded, idle, and over
#      a saturating load of BENCH_SOAK_MINUTES (default 1; 10 for the soak);
#   8. ES256 and RS256 signing through SoftHSM against the device's raw rate
#      (cargo bench -p gatehouse-signer --bench hsm), unless BENCH_HSM=0.
# Every load line is followed by the server's CPU time and storage work per operation
# (server_cpu_ms_per_op, statements / writes / write transactions per op, from /proc and the
# storage counters of /monitor/v1/metrics).
# usage: bench/run.sh [--postgres] [ROUNDS] [SECONDS]
# Needs wrk and Node.js/npm (the peer); installs wrk with apt-get when missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${GATEHOUSE_SHARED:-$root/../shared}
postgres=false
if [ "${1:-}" = --postgres ]; then postgres=true; shift; fi
rounds=${1:-3} secs=${2:-8}
cd "$root"
command -v wrk >/dev/null || { ${SUDO:-$( [ "$(id -u)" = 0 ] || echo sudo)} apt-get install -y -qq wrk >/dev/null; }

cargo build --release -q -p gatehouse-server -p gatehouse-bench -p gatehouse-demo-directory
bin=${CARGO_TARGET_DIR:-$root/target}/release
work=$(mktemp -d)
port=${BENCH_PORT:-8390}
issuer="http://127.0.0.1:$port"
api_token=bench-api-token-$(date +%s)
secret=bench-secret-0123456789abcdef0123456789
hash() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
rsa_n=oahUIoWw0K0usKNuOR6H4wkf4oBUXHTxRvgb48E-BVvxkeDNjbC4he8rUWcJoZmds2h7M70imEVhRU5djINXtqllXI4DFqcI1DgjT9LewND8MW2Krf3Spsk_ZkoFnilakGygTwpZ3uesH-PFABNIUYpOiN15dsQRkgr0vEhxN92i2asbOenSZeyaxziK72UwxrrKoExv6kc5twXTq4h-QChLOln0_mtUZwfsRaMStPs6mS6XrgxnxbWhojf663tuEQueGC-FCMfra36C9knDFGzKsNa7LZK2djYgyD3JR_MB_4NUJW_TqOQtwHYbxevoJArm-L5StowjzGy-_bq6Gw
rx_ports=${BENCH_RECEIVER_PORTS:-8395,8396}
$bin/gatehouse-bench --issuer x --client-id x --client-secret x --redirect-uri x --api-token x \
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
RUST_LOG=warn $bin/gatehouse serve --config "$work/gatehouse.toml" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server $receivers 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf "$issuer/.well-known/openid-configuration" >/dev/null && break; sleep 0.1; done

# The server's CPU seconds and storage counters, and the requests it answered on a route:
# "cpu_s statements write_transactions requests".
snapshot() {
  python3 - "$1" "$2" "$api_token-admin" "${3:-/token}" <<'PY'
import json, os, sys, urllib.request
pid, issuer, token, route = sys.argv[1:]
fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
req = urllib.request.Request(f"{issuer}/monitor/v1/metrics", headers={"Authorization": f"Bearer {token}"})
m = json.load(urllib.request.urlopen(req))
statements = sum(v["count"] for k, v in m["counters"].items() if k.startswith("storage.statements{"))
transactions = m["counters"].get("storage.write_transactions", {}).get("count", 0)
requests = sum(v["count"] for k, v in m["timers"].items()
               if k.startswith("http.requests{") and f"route={route}," in k and "status=2xx" in k)
print(f"{cpu} {statements} {transactions} {requests}")
PY
}
# Per-request figures between two snapshots.
per_request() {
  awk -v a="$1" -v b="$2" -v what="$3" 'BEGIN { split(a, x, " "); split(b, y, " "); n = y[4] - x[4]; if (n < 1) n = 1;
    printf "%s: requests=%d server_cpu_ms_per_request=%.3f statements_per_request=%.2f write_transactions_per_request=%.2f\n",
      what, n, (y[1] - x[1]) * 1000 / n, (y[2] - x[2]) / n, (y[3] - x[3]) / n }'
}

# gatehouse-bench against the server at issuer $1 with process id $2.
bench_on() {
  local at=$1 pid=$2; shift 2
  $bin/gatehouse-bench --issuer "$at" --client-secret "$secret" --redirect-uri https://rp.example/cb \
    --api-token "$api_token" --concurrency 16 --seconds "$secs" --server-pid "$pid" --admin-token "$api_token-admin" "$@"
}
bench() { bench_on "$issuer" "$server" "$@"; }
# The command line the peer benches run for our side (they set BENCH_SECONDS).
ours_cmd() {
  printf '%q --issuer %q --client-secret %q --redirect-uri https://rp.example/cb --api-token %q --concurrency 16 --seconds "$BENCH_SECONDS"' \
    "$bin/gatehouse-bench" "$issuer" "$secret" "$api_token"
  printf ' %q' "$@"
}

echo "== code-flow logins (gatehouse-bench, 16 concurrent): server CPU and storage work per login =="
bench --client-id bench-web

echo "== complete logins: node-oidc-provider vs ours, alternating (../shared/bench/peer-login-bench.sh) =="
"$shared/bench/peer-login-bench.sh" "$(ours_cmd --client-id bench-web)" "$rounds" "$secs"

echo "== token endpoint, client_credentials with ES256 JWT access tokens: peer vs ours =="
before=$(snapshot "$server" "$issuer" /token)
"$shared/bench/peer-token-bench.sh" "$issuer/token" bench "$secret" api:read "$rounds" "$secs"
per_request "$before" "$(snapshot "$server" "$issuer" /token)" "our token requests (warm-ups included)"
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

echo "== refresh-token grants: node-oidc-provider vs ours, alternating (bench/peer-grants-bench.sh) =="
before=$(snapshot "$server" "$issuer" /token)
bench/peer-grants-bench.sh "$(ours_cmd --client-id bench-web --mode refresh)" refresh "$rounds" "$secs"
per_request "$before" "$(snapshot "$server" "$issuer" /token)" "our refresh grants (each task's login included)"

echo "== introspection requests: node-oidc-provider (opaque tokens) vs ours (JWT), alternating =="
before=$(snapshot "$server" "$issuer" /introspect)
bench/peer-grants-bench.sh "$(ours_cmd --client-id bench-web --mode introspect)" introspect "$rounds" "$secs"
per_request "$before" "$(snapshot "$server" "$issuer" /introspect)" "our introspections"

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

if $postgres; then
  echo "== code-flow logins: SQLite vs PostgreSQL, alternating (a second server on a PostgreSQL started here) =="
  chmod 755 "$work"
  pg_url=$(scripts/postgres.sh start "$work/pg")
  pg_issuer="http://127.0.0.1:$((port + 10))"
  sed -e "s|^issuer = .*|issuer = \"$pg_issuer\"|" -e "s|^data_dir = .*|data_dir = \"$work/pg-data\"|" \
    "$work/gatehouse.toml" >"$work/postgres.toml"
  printf '[storage]\nbackend = "postgres"\nurl = "%s"\n' "$pg_url" >>"$work/postgres.toml"
  RUST_LOG=warn $bin/gatehouse serve --config "$work/postgres.toml" \
    >"$work/postgres-server.log" 2>&1 &
  pg_server=$!
  trap 'kill $server $receivers $pg_server 2>/dev/null || true; scripts/postgres.sh stop "$work/pg" >/dev/null 2>&1; rm -rf "$work"' EXIT
  for _ in $(seq 1 100); do curl -sf "$pg_issuer/.well-known/openid-configuration" >/dev/null && break; sleep 0.1; done
  sqlite=() pg=()
  for r in $(seq 1 "$rounds"); do
    p=$(bench --client-id bench-web); echo "round $r sqlite: $p"; sqlite+=("$(rate "$p")")
    q=$(bench_on "$pg_issuer" "$pg_server" --client-id bench-web); echo "round $r postgres: $q"; pg+=("$(rate "$q")")
  done
  awk -v s="$(median "${sqlite[@]}")" -v p="$(median "${pg[@]}")" \
    'BEGIN { printf "sqlite_median_logins_per_s=%d postgres_median_logins_per_s=%d ratio=%.2f\n", s, p, (s > 0 ? p / s : 0) }'
  cpu_s() { ps -o times= "$@" | awk '{ s += $1 } END { print s + 0 }'; }
  echo "cpu_seconds_over_the_run: gatehouse_on_postgres=$(cpu_s -p "$pg_server") postgres=$(cpu_s -C postgres)"
  kill $pg_server 2>/dev/null || true
fi

echo "== memory: resident set with the three example plugins loaded, idle and under load =="
components=$(scripts/build-plugins.sh)
mkdir -p "$work/plugins"
for name in user-directory first-party-consent idp-router; do
  cp "$components/${name//-/_}.wasm" "$work/plugins/$name.wasm"
  cp "plugins/$name/example.toml" "$work/plugins/$name.toml"
done
mem_issuer="http://127.0.0.1:$((port + 20))"
# The user-directory plugin reads the demo directory (its manifest allows 127.0.0.1:8083); the
# bench's subjects are not in it, so each claims call is a real request answered 404.
$bin/gatehouse-demo-directory >"$work/directory.log" 2>&1 &
directory=$!
trap 'kill $server $receivers $directory ${pg_server:-} 2>/dev/null || true; $postgres && scripts/postgres.sh stop "$work/pg" >/dev/null 2>&1; rm -rf "$work"' EXIT
sed -e "s|^issuer = .*|issuer = \"$mem_issuer\"|" -e "s|^data_dir = .*|data_dir = \"$work/mem-data\"|" \
  "$work/gatehouse.toml" >"$work/memory.toml"
printf '[plugins]\ndir = "%s"\n' "$work/plugins" >>"$work/memory.toml"
kill $server 2>/dev/null || true
start_memory_server() {
  RUST_LOG=warn $bin/gatehouse serve --config "$work/memory.toml" >>"$work/memory-server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 300); do curl -sf "$mem_issuer/monitor/v1/readiness" >/dev/null && break; sleep 0.1; done
  sleep 2
}
rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$server/status"; }
# The first start compiles the plugins (Cranelift) into the plugin cache, and the allocator
# keeps that heap; every later start loads them from the cache.
start_memory_server
first=$(rss_mb)
kill $server; wait $server 2>/dev/null || true
start_memory_server
echo "idle_rss_mb=$(rss_mb) first_start_idle_rss_mb=$first plugins=$(curl -sf -H "Authorization: Bearer $api_token-admin" "$mem_issuer/admin/v1/plugins" | grep -o '"name":"[a-z-]*"' | sort -u | wc -l)"
soak_s=$(( ${BENCH_SOAK_MINUTES:-1} * 60 ))
( for _ in $(seq 1 $((soak_s / 5))); do sleep 5; rss_mb; echo; done ) >"$work/rss.txt" &
sampler=$!
secs=$soak_s bench_on "$mem_issuer" "$server" --client-id bench-web
wait $sampler 2>/dev/null || true
awk 'NF { n++; v[n] = $1; if ($1 > max) max = $1 }
  END { k = int(n / 5); if (k < 1) k = 1; for (i = 1; i <= k; i++) { f += v[i]; l += v[n - k + i] }
        printf "load_rss_mb: max=%.1f first_fifth_mean=%.1f last_fifth_mean=%.1f drift_pct=%.1f samples=%d\n",
          max, f / k, l / k, (f > 0 ? (l - f) * 100 / f : 0), n }' "$work/rss.txt"
sleep 2
echo "after_load_rss_mb=$(rss_mb)"
kill $directory 2>/dev/null || true

if [ "${BENCH_HSM:-1}" != 0 ]; then
  echo "== HSM signing through SoftHSM: device raw rate vs the Pkcs11Signer (cargo bench -p gatehouse-signer --bench hsm) =="
  cargo bench -q -p gatehouse-signer --bench hsm 2>&1 | grep -v '^$'
fi
