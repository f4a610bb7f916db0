#!/usr/bin/env bash
# The browser test's dependencies: checks that Debian's Chromium is installed (scripts/setup.sh
# installs it) and installs the npm packages pinned in tests/browser/package-lock.json
# (playwright-core; it never downloads a browser) into target/browser-node when they are
# missing or the lockfile changed. Prints that folder. The browser test calls it, and so does
# scripts/test.sh; when nothing changed it costs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
chromium=${GATEHOUSE_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "browser-deps: Chromium is not installed at $chromium; run scripts/setup.sh (it installs Debian's chromium)" >&2
  exit 1
fi
command -v npm >/dev/null || { echo "browser-deps: npm is missing; run scripts/setup.sh" >&2; exit 1; }
dir=${GATEHOUSE_BROWSER_NODE_DIR:-$PWD/target/browser-node}
if ! cmp -s tests/browser/package-lock.json "$dir/package-lock.json" || [ ! -f "$dir/node_modules/playwright-core/package.json" ]; then
  echo "browser-deps: installing the browser test's npm packages into $dir" >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  cp tests/browser/package.json tests/browser/package-lock.json "$dir/"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
fi
echo "$dir"
