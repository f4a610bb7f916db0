#!/usr/bin/env bash
# The JWE interoperability test's dependency: installs panva's jose, pinned by
# host/protocol/tests/jwe-interop/package-lock.json, into target/jwe-node when it is missing or
# the lockfile changed, and prints that folder. host/protocol/tests/jwe_interop.rs calls it;
# when nothing changed it costs nothing. Node.js and npm come from scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null || { echo "jwe-interop-deps: node is missing; run scripts/setup.sh" >&2; exit 1; }
command -v npm >/dev/null || { echo "jwe-interop-deps: npm is missing; run scripts/setup.sh" >&2; exit 1; }
src=host/protocol/tests/jwe-interop
dir=${GATEHOUSE_JWE_NODE_DIR:-$PWD/target/jwe-node}
if ! cmp -s "$src/package-lock.json" "$dir/package-lock.json" || [ ! -f "$dir/node_modules/jose/package.json" ]; then
  echo "jwe-interop-deps: installing jose into $dir" >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$src/package.json" "$src/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
fi
echo "$dir"
