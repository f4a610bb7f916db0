#!/usr/bin/env bash
# The MCP tests' dependencies: installs the npm packages pinned in
# examples/mcp-server/package-lock.json (the example MCP server: the official MCP TypeScript SDK,
# jose) and tests/mcp-client/package-lock.json (the test's MCP client: the same SDK) into
# target/mcp-node/server and target/mcp-node/client when they are missing or a lockfile
# changed. Prints target/mcp-node: run server.mjs and client.mjs with MCP_NODE_DEPS set to it.
# The MCP end-to-end test calls it, and so can scripts/test.sh; when nothing changed it costs
# nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null || { echo "mcp-deps: node is missing; run scripts/setup.sh" >&2; exit 1; }
command -v npm >/dev/null || { echo "mcp-deps: npm is missing; run scripts/setup.sh" >&2; exit 1; }
dir=${GATEHOUSE_MCP_NODE_DIR:-$PWD/target/mcp-node}
install() {
  local from=$1 to=$dir/$2
  if ! cmp -s "$from/package-lock.json" "$to/package-lock.json" || [ ! -f "$to/node_modules/@modelcontextprotocol/sdk/package.json" ]; then
    echo "mcp-deps: installing the npm packages of $from into $to" >&2
    rm -rf "$to"
    mkdir -p "$to"
    cp "$from/package.json" "$from/package-lock.json" "$to/"
    (cd "$to" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
  fi
}
install examples/mcp-server server
install tests/mcp-client client
echo "$dir"
