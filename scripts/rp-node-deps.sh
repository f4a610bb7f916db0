#!/usr/bin/env bash
# The openid-client test's dependencies: installs the npm packages pinned in
# tests/rp-node/package-lock.json (panva's openid-client, an OpenID-certified relying-party
# library, and what it needs) into target/rp-node when they are missing or the lockfile
# changed. Prints that folder. tests/all/rp_openid_client.rs calls it, and so does
# scripts/test.sh; when nothing changed it costs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null || { echo "rp-node-deps: node is missing; run scripts/setup.sh" >&2; exit 1; }
command -v npm >/dev/null || { echo "rp-node-deps: npm is missing; run scripts/setup.sh" >&2; exit 1; }
dir=${GATEHOUSE_RP_NODE_DIR:-$PWD/target/rp-node}
if ! cmp -s tests/rp-node/package-lock.json "$dir/package-lock.json" || [ ! -f "$dir/node_modules/openid-client/package.json" ]; then
  echo "rp-node-deps: installing the openid-client test's npm packages into $dir" >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  cp tests/rp-node/package.json tests/rp-node/package-lock.json "$dir/"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
fi
echo "$dir"
