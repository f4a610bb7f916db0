#!/usr/bin/env bash
# Builds the WebAssembly guests and prints the folder that holds the components: the Rust
# plugins (plugins/, with the SDK in sdk/rust) for wasm32-wasip2, adding the target when it is
# missing, then the Python and JavaScript plugins (plugins/python/*, plugins/js/*) with
# sdk/build-plugin.sh, which installs their pinned toolchains on first use. Tests call it too;
# a guest whose sources, kit and contract are unchanged since its last build is not rebuilt,
# so a second call costs a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2 >&2
cargo build --release --quiet --locked --manifest-path plugins/Cargo.toml --target wasm32-wasip2 --target-dir target/plugins >&2
out="$PWD/target/plugins/wasm32-wasip2/release"

# The interpreted guests, built in parallel (two at a time): componentize-py and
# componentize-js each take 10-20 s and most of a core.
kit_hash=$(find sdk/build-plugin.sh sdk/python sdk/js wit -type f -not -path '*/__pycache__/*' -print0 |
  sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
pids=()
for project in plugins/python/*/ plugins/js/*/; do
  name=$(basename "$project")
  wasm="$out/${name//-/_}.wasm"
  stamp="$wasm.inputs"
  inputs=$( (echo "$kit_hash"; find "$project" -type f -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum) | sha256sum)
  if [ -f "$wasm" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ]; then
    continue
  fi
  if [ ${#pids[@]} -ge 2 ]; then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
  (sdk/build-plugin.sh "$project" "$wasm" && echo "$inputs" >"$stamp") &
  pids+=($!)
done
for pid in "${pids[@]}"; do
  wait "$pid"
done
echo "$out"
