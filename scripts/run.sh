#!/usr/bin/env bash
# Runs the Gatehouse demo on this machine: the provider (zero configuration: SQLite and keys in
# ./data) with the first-party example plugins loaded from a watched folder (data/plugins), the
# example login front-end, the demo relying party, the demo directory the claims plugin
# reads, and the example MCP server (a resource server for Gatehouse). Prints where to click;
# Ctrl-C stops them all. Run it again any time: it rebuilds what changed and puts the example
# plugins back as they are in plugins/*/example.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

ports=(8080 8081 8082 8083 8084)
for port in "${ports[@]}"; do
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
    echo "run: something already listens on 127.0.0.1:$port (an earlier scripts/run.sh?); stop it first" >&2
    exit 1
  fi
done

scripts/setup.sh
# A first build takes many minutes on two cores; say so, and let cargo show its progress.
if [ ! -x target/debug/gatehouse ]; then
  echo "run: first build: the plugins, then the provider and the examples (10-20 minutes on two cores)" >&2
fi
echo "run: building the example plugins" >&2
components=$(scripts/build-plugins.sh)
echo "run: building the provider and the examples" >&2
cargo build -p gatehouse-server -p gatehouse-login-frontend -p gatehouse-demo-rp -p gatehouse-demo-directory
# The example MCP server's pinned npm packages (examples/mcp-server/package-lock.json).
mcp_deps=$(scripts/mcp-deps.sh)

# The watched plugin folder: each example plugin's component beside its manifest. Other files
# in the folder (your own plugins) are left alone.
example_plugins=(user-directory first-party-consent idp-router)
plugin_dir=data/plugins
mkdir -p "$plugin_dir"
for name in "${example_plugins[@]}"; do
  cp "$components/${name//-/_}.wasm" "$plugin_dir/$name.wasm"
  cp "plugins/$name/example.toml" "$plugin_dir/$name.toml"
done

pids=()
stop() {
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then kill "${pids[@]}" 2>/dev/null || true; fi
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM
wait_for() {
  for _ in $(seq 1 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "run: $1 did not come up" >&2
  exit 1
}

target/debug/gatehouse-demo-directory &
pids+=($!)
GATEHOUSE_FRONTEND__LOGIN_URL=http://127.0.0.1:8081/login GATEHOUSE_FRONTEND__LOGOUT_URL=http://127.0.0.1:8081/logout \
  GATEHOUSE_PLUGINS__DIR="$plugin_dir" \
  GATEHOUSE_RESOURCES='[{uri="http://127.0.0.1:8084/mcp", scopes=["mcp:tools"]}]' \
  target/debug/gatehouse serve &
pids+=($!)
wait_for http://127.0.0.1:8080/.well-known/openid-configuration
target/debug/gatehouse-login &
pids+=($!)
target/debug/gatehouse-demo-rp &
pids+=($!)
MCP_NODE_DEPS="$mcp_deps" node examples/mcp-server/server.mjs --listen 127.0.0.1:8084 --issuer http://127.0.0.1:8080 >/dev/null &
pids+=($!)
wait_for http://127.0.0.1:8082/
wait_for http://127.0.0.1:8083/users/alice
wait_for http://127.0.0.1:8084/.well-known/oauth-protected-resource/mcp

cat <<MSG

  Gatehouse is running.
    provider          http://127.0.0.1:8080  (discovery: /.well-known/openid-configuration)
    login front-end   http://127.0.0.1:8081
    demo app          http://127.0.0.1:8082   <- open this and sign in as alice / wonderland
    demo directory    http://127.0.0.1:8083   (stands in for your user directory: /users/alice)
    MCP server        http://127.0.0.1:8084/mcp  (an OAuth resource server for Gatehouse; tools whoami, add)

  Connect an MCP client to http://127.0.0.1:8084/mcp, e.g. the MCP Inspector:
    npx @modelcontextprotocol/inspector   (transport "Streamable HTTP", URL http://127.0.0.1:8084/mcp)
  It is refused (401), finds Gatehouse through the server's metadata, registers itself, sends
  you to sign in as alice and to consent to "mcp:tools" at the MCP server, then calls its tools.
  The guide: docs/mcp.md.

  Plugins: WebAssembly components from plugins/, loaded from the watched folder $plugin_dir
    user-directory       claims source: fetches the user's record from the demo directory and adds
                         what the login front-end did not give (alice's nickname, birthdate and
                         website): see them in the demo app's UserInfo claims.
    first-party-consent  consent policy: no client is first-party yet, so the consent page shows;
                         the scope "admin" is refused to every other client.
    idp-router           login hook: on the demo app's home page, sign in with a work address such
                         as alice@partner.example and the hook sends you to partner.example's
                         identity provider (a stand-in page of the demo directory).

  Hot-load a change, no restart: make the demo app first-party and sign in again (no consent page):
    sed -i 's/^first_party_clients = .*/first_party_clients = ["demo-rp"]/' $plugin_dir/first-party-consent.toml
  The provider logs "plugin loaded from the watched folder". Copy a component (NAME.wasm) and its
  manifest (NAME.toml) into $plugin_dir to add a plugin; a version that fails to load is logged
  and the serving one stays. What is loaded:
    curl -s -H "Authorization: Bearer \$(cat data/admin-api.token)" http://127.0.0.1:8080/admin/v1/plugins
  Writing plugins: docs/plugins.md and plugins/README.md. The next run.sh puts the examples back.

  API tokens are in ./data (authz-api.token, admin-api.token). Ctrl-C stops everything.

MSG
# Until Ctrl-C, or until one of them stops (then the rest are stopped too).
wait -n "${pids[@]}" || true
echo "run: a demo process stopped; stopping the others" >&2
