#!/usr/bin/env bash
# Builds one Gatehouse plugin project into a WebAssembly component:
#
#   sdk/build-plugin.sh PROJECT_DIR OUT.wasm
#
# PROJECT_DIR holds the plugin's manifest.toml, whose `kind` picks the WIT world, and its
# code: app.py (Python, componentize-py), app.js (JavaScript, componentize-js) or Cargo.toml
# (Rust, cargo and the wasm32-wasip2 target). The contract is ../wit/policy@0.1.0 beside this
# kit. The Python and JavaScript toolchains are installed on first use, at the versions pinned
# in python/requirements.txt and js/package-lock.json, into $GATEHOUSE_CACHE_DIR (default
# ~/.cache/gatehouse); after that a build needs no network. `gatehouse plugin build` runs this
# script from the kit embedded in the binary; scripts/build-plugins.sh runs it from the
# repository.
set -euo pipefail

die() { echo "build-plugin: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: build-plugin.sh PROJECT_DIR OUT.wasm"
kit=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$1" && pwd)
out=$(mkdir -p "$(dirname "$2")" && cd "$(dirname "$2")" && pwd)/$(basename "$2")
wit="$kit/../wit/policy@0.1.0"
cache=${GATEHOUSE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse}

[ -f "$project/manifest.toml" ] || die "$project has no manifest.toml"
kind=$(sed -n 's/^kind *= *"\([a-z-]*\)".*/\1/p' "$project/manifest.toml" | head -1)
case "$kind" in
  claims-source | consent-policy | login-hooks) world=$kind ;;
  *) die "manifest.toml must say kind = \"claims-source\", \"consent-policy\" or \"login-hooks\"" ;;
esac

# Installs a toolchain once into its own folder, under a lock so parallel builds share it.
# The folder is named by the hash of the pin file: a new pin installs beside the old one.
toolchain() {
  local name=$1 pins=$2 install=$3
  local dir="$cache/toolchains/$name-$(sha256sum "$pins" | cut -c1-16)"
  mkdir -p "$cache/toolchains"
  (
    flock 9
    if [ ! -f "$dir/.installed" ]; then
      echo "build-plugin: installing the $name toolchain into $dir (first build only)" >&2
      rm -rf "$dir" && mkdir -p "$dir"
      "$install" "$dir" "$pins" >&2 || die "installing the $name toolchain failed; see the messages above"
      touch "$dir/.installed"
    fi
  ) 9>"$cache/toolchains/.$name.lock"
  echo "$dir"
}

install_python() {
  command -v python3 >/dev/null || die "python3 is missing: install Python 3.11 or later with pip and venv"
  python3 -m venv "$1" || die "python3 cannot make a virtual environment: install python3-venv"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$1/bin/pip" install --quiet -r "$2"
}

install_js() {
  command -v npm >/dev/null || die "npm is missing: install Node.js 20 or later with npm"
  cp "$kit/js/package.json" "$kit/js/package-lock.json" "$1/"
  (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
}

if [ -f "$project/Cargo.toml" ]; then
  crate=$(sed -n 's/^name *= *"\(.*\)".*/\1/p' "$project/Cargo.toml" | head -1)
  rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2 >&2
  target=${CARGO_TARGET_DIR:-$project/target}
  cargo build --release --quiet --manifest-path "$project/Cargo.toml" --target wasm32-wasip2 \
    --target-dir "$target" >&2
  cp "$target/wasm32-wasip2/release/${crate//-/_}.wasm" "$out"
elif [ -f "$project/app.py" ]; then
  python=$(toolchain python "$kit/python/requirements.txt" install_python)
  # componentize-py writes scratch files next to the output: keep them out of the project.
  (cd "$(mktemp -d)" && "$python/bin/componentize-py" -d "$wit" -w "$world" componentize --stub-wasi \
    -p "$project" -p "$kit/python" app -o "$out" >&2)
elif [ -f "$project/app.js" ]; then
  js=$(toolchain js "$kit/js/package-lock.json" install_js)
  # The plugin imports the kit as ./gatehouse.js: build from a copy with the kit beside it.
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  cp -R "$project"/. "$stage/"
  rm -rf "$stage/dist" "$stage/node_modules"
  cp "$kit/js/gatehouse.js" "$stage/gatehouse.js"
  (cd "$stage" && "$js/node_modules/.bin/componentize-js" --wit "$wit" -n "$world" \
    -d stdio random clocks http fetch-event -o "$out" app.js >&2)
else
  die "$project has no app.py, app.js or Cargo.toml"
fi
echo "build-plugin: built $out ($world)" >&2
