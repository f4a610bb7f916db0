#!/usr/bin/env bash
# Gatehouse on PostgreSQL: one host against two hosts on the same database, side by side in one
# run, alternating, and how fast a change made on one host reaches the other.
#   1. complete code-flow logins per second (gatehouse-bench, 16 concurrent flows in all: on host
#      A alone, then 8 on A and 8 on B at once);
#   2. token-endpoint requests per second (client_credentials, ES256 JWT access tokens; wrk with
#      32 connections in all, the same split);
#   3. the CPU seconds each process used over the run (hosts, PostgreSQL, the load), which names
#      the bottleneck on this machine;
#   4. change-feed convergence: a client secret rotated on A until B refuses the old one, and a
#      plugin version installed on A until B serves it (cluster.feed_interval = 1s, the default).
# usage: bench/cluster.sh [ROUNDS] [SECONDS]
# Needs wrk, PostgreSQL (scripts/setup.sh --test installs it) and the plugins (scripts/build-plugins.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${GATEHOUSE_SHARED:-$root/../shared}
rounds=${1:-3} secs=${2:-8}
cd "$root"
command -v wrk >/dev/null || { ${SUDO:-$( [ "$(id -u)" = 0 ] || echo sudo)} apt-get install -y -qq wrk >/dev/null; }
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -q -p gatehouse-server -p gatehouse-bench
components=$(scripts/build-plugins.sh)
work=$(mktemp -d)
# PostgreSQL runs as its own user when we are root: it must reach its folder inside.
chmod 755 "$work"
url=$(scripts/postgres.sh start "$work/pg")
api_token=bench-api-token-$(date +%s)
secret=bench-secret-0123456789abcdef0123456789
hash() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/master.key"
port_a=${BENCH_PORT:-8390} port_b=$(( ${BENCH_PORT:-8390} + 1 ))
issuer="http://127.0.0.1:$port_a"
config() { # NAME PORT
  cat <<TOML
issuer = "$issuer"
data_dir = "$work/$1"
[http]
listen = "127.0.0.1:$2"
[storage]
backend = "postgres"
url = "$url"
pool_size = 16
[signing]
master_key_file = "$work/master.key"
[cluster]
host_name = "$1"
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
TOML
}
config a "$port_a" >"$work/a.toml"; config b "$port_b" >"$work/b.toml"
RUST_LOG=warn "$target/release/gatehouse" serve --config "$work/a.toml" >"$work/a.log" 2>&1 &
host_a=$!
RUST_LOG=warn "$target/release/gatehouse" serve --config "$work/b.toml" >"$work/b.log" 2>&1 &
host_b=$!
trap 'kill $host_a $host_b 2>/dev/null || true; scripts/postgres.sh stop "$work/pg"; rm -rf "$work"' EXIT
for host in a:$port_a b:$port_b; do
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:${host#*:}/monitor/v1/readiness" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:${host#*:}/monitor/v1/readiness" >/dev/null || { tail -20 "$work/${host%%:*}.log" >&2; exit 1; }
done

cpu() { # PID... -> CPU seconds (user + system) of those processes
  local ticks=0
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    ticks=$(( ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat") ))
  done
  echo "scale=2; $ticks / $(getconf CLK_TCK)" | bc
}
# The postmaster and its backends (the pools' connections live for the whole run).
pg_pids() { local main; main=$(head -1 "$work/pg/db/postmaster.pid"); echo "$main $(pgrep -P "$main" | tr '\n' ' ')"; }
cpu_a0=$(cpu $host_a) cpu_b0=$(cpu $host_b) cpu_pg0=$(cpu $(pg_pids))

logins() { # BASE CONCURRENCY
  "$target/release/gatehouse-bench" --issuer "$1" --client-id bench-web --client-secret "$secret" \
    --redirect-uri https://rp.example/cb --api-token "$api_token" --concurrency "$2" --seconds "$secs"
}
rate() { sed -nE 's/^[a-z_]+_per_s=([0-9]+).*/\1/p' <<<"$1"; }
rps() { sed -nE 's/^rps=([0-9]+).*/\1/p' <<<"$1"; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
load() { "$shared/bench/token-load.sh" "$1/token" bench "$secret" api:read "$secs" "$2"; }

echo "== code-flow logins on PostgreSQL: one host (16 flows) vs two hosts (8 + 8), alternating =="
one=() two=()
for r in $(seq 1 "$rounds"); do
  o=$(logins "$issuer" 16); echo "round $r one host: $o"; one+=("$(rate "$o")")
  logins "$issuer" 8 >"$work/la" & la=$!
  logins "http://127.0.0.1:$port_b" 8 >"$work/lb" & lb=$!
  wait $la $lb
  echo "round $r two hosts: A $(cat "$work/la") | B $(cat "$work/lb")"
  two+=("$(( $(rate "$(cat "$work/la")") + $(rate "$(cat "$work/lb")") ))")
done
awk -v o="$(median "${one[@]}")" -v t="$(median "${two[@]}")" \
  'BEGIN { printf "one_host_median_logins_per_s=%d two_hosts_median_logins_per_s=%d ratio=%.2f\n", o, t, (o > 0 ? t / o : 0) }'

echo "== token endpoint on PostgreSQL: one host (32 connections) vs two hosts (16 + 16), alternating =="
one=() two=()
for r in $(seq 1 "$rounds"); do
  o=$(load "$issuer" 32); echo "round $r one host: $o"; one+=("$(rps "$o")")
  load "$issuer" 16 >"$work/ta" & ta=$!
  load "http://127.0.0.1:$port_b" 16 >"$work/tb" & tb=$!
  wait $ta $tb
  echo "round $r two hosts: A $(cat "$work/ta") | B $(cat "$work/tb")"
  two+=("$(( $(rps "$(cat "$work/ta")") + $(rps "$(cat "$work/tb")") ))")
done
awk -v o="$(median "${one[@]}")" -v t="$(median "${two[@]}")" \
  'BEGIN { printf "one_host_median_rps=%d two_hosts_median_rps=%d ratio=%.2f\n", o, t, (o > 0 ? t / o : 0) }'

echo "== CPU seconds over the load runs =="
echo "host_a=$(echo "$(cpu $host_a) - $cpu_a0" | bc) host_b=$(echo "$(cpu $host_b) - $cpu_b0" | bc) postgres=$(echo "$(cpu $(pg_pids)) - $cpu_pg0" | bc) cores=$(nproc) wall_s_per_run=$secs"

echo "== change-feed convergence (A changes, B follows; feed read every 1s) =="
admin() { curl -sf -H "Authorization: Bearer $api_token-admin" -H 'Content-Type: application/json' "$@"; }
now_ms() { date +%s%3N; }
admin -X POST "$issuer/clients/v1" -d '{"client_name":"feed probe","grant_types":["client_credentials"],"response_types":[]}' >"$work/probe.json"
old=$(sed -nE 's/.*"client_secret":"([^"]+)".*/\1/p' "$work/probe.json")
probe=$(sed -nE 's/.*"client_id":"([^"]+)".*/\1/p' "$work/probe.json")
token_b() { curl -s -o /dev/null -w '%{http_code}' -u "$probe:$1" -d grant_type=client_credentials "http://127.0.0.1:$port_b/token"; }
samples=()
for i in $(seq 1 10); do
  [ "$(token_b "$old")" = 200 ] || { echo "B does not know the probe's current secret" >&2; exit 1; }
  start=$(now_ms)
  new=$(admin -X POST "$issuer/clients/v1/$probe/secret" | sed -nE 's/.*"client_secret":"([^"]+)".*/\1/p')
  while [ "$(token_b "$old")" = 200 ]; do sleep 0.01; done
  samples+=("$(( $(now_ms) - start ))")
  old=$new
  sleep 0.$(( RANDOM % 9 + 1 ))
done
echo "secret_rotation_seen_on_b_ms: $(printf '%s ' "${samples[@]}")median=$(median "${samples[@]}") max=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)"
plugin=$(base64 -w0 "$components/first_party_consent.wasm")  # a variable, not an argument: ~1 MB
samples=()
for v in 1 2 3; do
  # TOML's single-quoted strings keep the JSON around it free of escapes.
  manifest="name = 'consent'\\nkind = 'consent-policy'\\nversion = '$v'\\n[config]\\nfirst_party_clients = ['bench-web']\\n"
  start=$(now_ms)
  printf '{"manifest":"%s","component":"%s"}' "$manifest" "$plugin" >"$work/upload.json"
  admin -X POST "$issuer/admin/v1/plugins" --data-binary @"$work/upload.json" >/dev/null
  until admin "http://127.0.0.1:$port_b/admin/v1/plugins" | grep -q "\"active_version\":\"$v\""; do sleep 0.02; done
  samples+=("$(( $(now_ms) - start ))")
done
echo "plugin_version_serving_on_b_ms (upload on A included): $(printf '%s ' "${samples[@]}")median=$(median "${samples[@]}")"
admin "http://127.0.0.1:$port_b/monitor/v1/metrics" | grep -o '"cluster\.[a-z_.]*":{"[a-z]*":[0-9.]*}' || true
