#!/usr/bin/env bash
# Side-by-side refresh-token grant or introspection benchmark: node-oidc-provider (the peer:
# peer/grants-server.mjs, driven by peer/grants-load.mjs) and our server (driven by our own
# generator, gatehouse-bench --mode refresh|introspect, whose command line you pass),
# alternating peer, ours, peer, ours … in one run.
# usage: peer-grants-bench.sh OURS_CMD MODE [ROUNDS] [SECONDS]     (defaults 3 rounds of 8 s)
#        peer-grants-bench.sh --peer-only MODE [SECONDS]
#   MODE: refresh (refresh-token grants per second, each rotating the refresh token) or
#   introspect (introspection requests per second for the task's access token).
#   OURS_CMD: a shell command line that prints a "refresh_grants_per_s=N …" or
#   "introspections_per_s=N …" line (the last such line counts). It runs with
#   BENCH_SECONDS=SECONDS in its environment, so '… --seconds $BENCH_SECONDS' (single-quoted)
#   keeps both sides on one duration; the peer side uses SECONDS.
# Prints each run's line, then "peer_median_per_s=… ours_median_per_s=… ratio=… mode=…" with
# ratio = ours / peer.
# On both sides each of 16 tasks logs in once (untimed), then repeats its request; the peer side
# first runs a 2 s loaded warm-up (not counted) so V8 has optimised the hot path (see
# peer/grants-load.mjs). Access tokens: the peer issues ES256 JWT access tokens (RFC 9068) for
# its default resource https://api.example in refresh mode, as we do. oidc-provider cannot
# introspect JWT access tokens (unsupported_token_type), so in introspect mode the peer is started
# with opaque access tokens (stored and looked up), the only kind it introspects, while we
# introspect our JWT ones: compare accordingly. Each peer refresh grant also signs an ES256 ID
# token (the grant has the openid scope).
# Env: PEER_CONCURRENCY (16, like ours), PEER_PORT (3902), PEER_CPUS (a taskset(1) CPU list for
#      the peer server, e.g. 1, for a per-core comparison with our server pinned the same way),
#      PEER_ACCESS_TOKEN_FORMAT (jwt for refresh, opaque for introspect), OURS_TIMEOUT
#      (SECONDS+120), GATEHOUSE_BENCH_CACHE (~/.cache/gatehouse-bench; the peer's npm packages
#      are installed once, from peer/package-lock.json, into its grants/ subdirectory, apart from
#      the shared peers' installation there).
# CPU: each side's load generator competes for the same cores as the server it loads; the peer's
# line gives server_cpu_pct and loader_cpu_pct (in % of one core) and host_cpu_pct (well above
# loader + server means other work on the machine disturbed the run). The peer is bound by its
# one JS thread. Compare ratios from one run on one machine only.
# Loopback only; every process started here is stopped by PID; each run is bounded by timeout(1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage() { sed -n '6,7p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
if [ "$1" = --peer-only ]; then ours_cmd='' mode=$2 rounds=1 secs=${3:-8}
else ours_cmd=$1 mode=$2 rounds=${3:-3} secs=${4:-8}; fi
[[ $rounds =~ ^[1-9][0-9]*$ && $secs =~ ^[1-9][0-9]*$ ]] || usage
case "$mode" in
  refresh) label=refresh_grants format=${PEER_ACCESS_TOKEN_FORMAT:-jwt} ;;
  introspect) label=introspections format=${PEER_ACCESS_TOKEN_FORMAT:-opaque} ;;
  *) usage ;;
esac
conc=${PEER_CONCURRENCY:-16} port=${PEER_PORT:-3902}
cache=${GATEHOUSE_BENCH_CACHE:-$HOME/.cache/gatehouse-bench}/grants

mkdir -p "$cache"
cp "$here/peer/package.json" "$here/peer/package-lock.json" "$here/peer/grants-server.mjs" "$cache/"
if ! cmp -s "$here/peer/package-lock.json" "$cache/.installed-lock.json" || [ ! -d "$cache/node_modules/oidc-provider" ]; then
  (cd "$cache" && npm ci --silent --no-audit --no-fund >/dev/null)
  cp "$here/peer/package-lock.json" "$cache/.installed-lock.json"
fi

issuer="http://127.0.0.1:$port"
if curl -s -o /dev/null --max-time 2 "$issuer/"; then echo "peer-grants-bench: port $port is already in use" >&2; exit 1; fi
pin=(); [ -z "${PEER_CPUS:-}" ] || pin=(taskset -c "$PEER_CPUS")
(cd "$cache" && PORT=$port NODE_ENV=production ACCESS_TOKEN_FORMAT=$format exec "${pin[@]}" node grants-server.mjs >"$cache/grants-peer.log" 2>&1) &
peer=$!
trap 'kill $peer 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf --max-time 2 "$issuer/.well-known/openid-configuration" >/dev/null && break
  kill -0 $peer 2>/dev/null || { echo "peer-grants-bench: the peer exited:" >&2; cat "$cache/grants-peer.log" >&2; exit 1; }
  sleep 0.1
done
curl -sf --max-time 2 "$issuer/.well-known/openid-configuration" >/dev/null || { echo "peer-grants-bench: the peer did not start" >&2; exit 1; }

run_peer() {
  timeout $((secs + 60)) node "$here/peer/grants-load.mjs" --issuer "$issuer" --concurrency "$conc" \
    --seconds "$secs" --mode "$mode" --server-pid "$peer"
}
run_ours() {
  local out line
  out=$(BENCH_SECONDS=$secs timeout "${OURS_TIMEOUT:-$((secs + 120))}" bash -c "$ours_cmd") || true
  line=$(grep -E '(refresh_grants|introspections)_per_s=[0-9]+' <<<"$out" | tail -n 1) \
    || { echo "peer-grants-bench: OURS_CMD printed no refresh_grants_per_s or introspections_per_s line" >&2; return 1; }
  grep -q "${label}_per_s=" <<<"$line" || echo "peer-grants-bench: OURS_CMD's line is not a $label line (MODE $mode)" >&2
  echo "$line"
}
rate() { sed -nE 's/.*(refresh_grants|introspections)_per_s=([0-9]+).*/\2/p' <<<"$1"; }

if [ -z "$ours_cmd" ]; then run_peer; exit; fi
peer_r=() our_r=()
for r in $(seq 1 "$rounds"); do
  p=$(run_peer); echo "round $r peer: $p"
  o=$(run_ours); echo "round $r ours: $o"
  peer_r+=("$(rate "$p")"); our_r+=("$(rate "$o")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
pm=$(median "${peer_r[@]}"); om=$(median "${our_r[@]}")
awk -v o="$om" -v p="$pm" -v m="$mode" 'BEGIN { printf "peer_median_per_s=%d ours_median_per_s=%d ratio=%.2f mode=%s\n", p, o, (p > 0 ? o / p : 0), m }'
