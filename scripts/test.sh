#!/usr/bin/env bash
# The whole Gatehouse test suite: installs what is missing, then builds and runs every test
# (unit tests, the store conformance suite, the end-to-end binary with its headless-Chromium
# test, the CLI tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# The browser test's npm packages (playwright-core, pinned by tests/browser/package-lock.json).
scripts/browser-deps.sh >/dev/null
# The openid-client test's npm packages (pinned by tests/rp-node/package-lock.json).
scripts/rp-node-deps.sh >/dev/null
# The MCP test's npm packages (the MCP TypeScript SDK, pinned by examples/mcp-server's and
# tests/mcp-client's lockfiles).
scripts/mcp-deps.sh >/dev/null
# The plugins the plugin-host and end-to-end tests load, built once from source.
scripts/build-plugins.sh >/dev/null

# A real PostgreSQL server for the PostgreSQL backend's tests.
pg_dir=$(mktemp -d /tmp/gatehouse-pg.XXXXXX)
trap 'scripts/postgres.sh stop "$pg_dir"; rm -rf "$pg_dir"' EXIT
GATEHOUSE_TEST_POSTGRES_URL=$(scripts/postgres.sh start "$pg_dir")
export GATEHOUSE_TEST_POSTGRES_URL

cargo test --workspace --locked --no-fail-fast
