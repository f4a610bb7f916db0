#!/usr/bin/env bash
# Builds the WebAssembly guests (plugins/, with the SDK in sdk/rust) for wasm32-wasip2, adding
# the target when it is missing, and prints the folder that holds the components. Tests call
# it too; when nothing changed it costs a second.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2 >&2
cargo build --release --quiet --locked --manifest-path plugins/Cargo.toml --target wasm32-wasip2 --target-dir target/plugins >&2
echo "$PWD/target/plugins/wasm32-wasip2/release"
