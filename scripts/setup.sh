#!/usr/bin/env bash
# Installs what Gatehouse's run and test commands need on a fresh Debian machine that has the
# Rust toolchain: Debian packages and Rust targets. Idempotent; installs only what is missing.
# `--test` adds what only the test command needs: Chromium for the browser test.
set -euo pipefail

sudo_cmd() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need curl curl
need sha256sum coreutils
need python3 python3
# The Python and JavaScript plugin kits (sdk/build-plugin.sh): a venv for componentize-py, and
# Node.js with npm for componentize-js.
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
need node nodejs
need npm npm
# PostgreSQL for the storage conformance suite and the shared-database tests.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi

# SoftHSM2 (a real PKCS#11 module) for the HSM signing tests, and OpenSC's pkcs11-tool.
[ -f /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)
need pkcs11-tool opensc

# The browser test (tests/all/browser.rs): Debian's Chromium, driven by playwright-core on Node.js.
if [ "${1:-}" = --test ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd apt-get update -qq
  sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
