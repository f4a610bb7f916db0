#!/usr/bin/env bash
# Runs Gatehouse's coverage-guided fuzz targets with cargo-fuzz (libFuzzer), one at a time on
# one core, installing cargo-fuzz into ~/.cache/gatehouse on first use. docs/fuzzing.md has
# the figures of the last long run.
#
#   fuzz/run.sh                    every target, RUNS executions each (default 10 million)
#   RUNS=100000 fuzz/run.sh compact_jws
#   fuzz/run.sh basic_credentials -- -max_total_time=60    extra libFuzzer flags after --
#
# A crash leaves its input in fuzz/artifacts/TARGET/; replay it with
#   fuzz/run.sh TARGET -- fuzz/artifacts/TARGET/crash-…
set -euo pipefail
cd "$(dirname "$0")"

tools=$HOME/.cache/gatehouse/cargo-fuzz
if [ ! -x "$tools/bin/cargo-fuzz" ]; then
  echo "fuzz: installing cargo-fuzz 0.13.2 into $tools" >&2
  cargo install cargo-fuzz --version 0.13.2 --locked --root "$tools"
fi
# cargo-fuzz passes unstable (-Z) flags to rustc; the stable toolchain accepts them this way.
export RUSTC_BOOTSTRAP=1
# Rust's memory safety stands in for AddressSanitizer (the C parts, aws-lc, are not
# instrumented by cargo-fuzz anyway); without it a run is several times faster. Overflow
# checks and debug assertions stay on (cargo-fuzz's release build keeps them).
sanitizer=${SANITIZER:-none}
# The fuzz build has flags of its own, so it has its own target folder (unless told otherwise).
target_dir=${FUZZ_TARGET_DIR:-$PWD/target}

targets=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do targets+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
[ ${#targets[@]} -gt 0 ] || targets=(authorization_request basic_credentials compact_jws client_assertion client_metadata)

for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "fuzz: $t, ${RUNS:-10000000} executions" >&2
  "$tools/bin/cargo-fuzz" run --sanitizer "$sanitizer" --target-dir "$target_dir" "$t" "corpus/$t" "seeds/$t" -- \
    -runs="${RUNS:-10000000}" -dict="dicts/$t.dict" -timeout=10 -print_final_stats=1 "$@"
done
