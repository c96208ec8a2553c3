#!/usr/bin/env bash
# tests/run.sh — the whole test suite: unit + end-to-end tests in an optimised
# build with -Werror, the same suites under ASan+UBSan, and a short smoke run of
# every fuzz target. Run after ./setup.sh (README's test command does both).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
summary=()

run_suite() {   # name builddir meson-args...
  local name=$1 dir=$2; shift 2
  [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" >/dev/null
  ninja -C "$dir" --quiet
  if meson test -C "$dir" --print-errorlogs --num-processes 2 >"$dir/test-summary.txt" 2>&1; then
    tail -n 8 "$dir/test-summary.txt" | grep -E '^(Ok|Fail|Timeout)' || true
  else
    cat "$dir/test-summary.txt"; echo "FAILED: $name suite" >&2; exit 1
  fi
  summary+=("$name:$(python3 tests/summarize.py "$dir/meson-logs/testlog.json")")
}

tests/e2e/setup-node.sh
tests/editors/setup.sh
run_suite release build-test --buildtype=debugoptimized --werror -Dtests=enabled
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
run_suite asan build-asan --buildtype=debug --werror -Dtests=enabled \
  -Db_sanitize=address,undefined -Db_lundef=false

# The engine's tests for arm64 (the NEON kernels, the forward pass against
# numpy, GGUF, tokenizer, sampler, FIM, wafer emulation), cross-built and run
# under qemu-user, where the cross toolchain and the arm64 libraries are
# installed (.ci/run installs them; see .ci/cross-aarch64.ini).
ARM_TESTS=(test_gguf test_tok test_kern test_kquant test_model test_sampler test_fim test_chat test_wse)
if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1 &&
   [ -f /usr/lib/aarch64-linux-gnu/pkgconfig/jansson.pc ]; then
  dir=build-arm64
  [ -f "$dir/build.ninja" ] || meson setup "$dir" --cross-file .ci/cross-aarch64.ini \
    --buildtype=debugoptimized --werror -Dtests=enabled >/dev/null
  ninja -C "$dir" --quiet
  if meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 "${ARM_TESTS[@]}" \
       >"$dir/test-summary.txt" 2>&1; then
    tail -n 8 "$dir/test-summary.txt" | grep -E '^(Ok|Fail|Timeout)' || true
  else
    cat "$dir/test-summary.txt"; echo "FAILED: arm64 suite" >&2; exit 1
  fi
  summary+=("arm64:$(python3 tests/summarize.py "$dir/meson-logs/testlog.json")")
else
  echo "tests/run.sh: no arm64 cross toolchain (aarch64-linux-gnu-gcc, qemu-aarch64, arm64 -dev packages): NEON kernels not tested" >&2
fi

# Fuzz smoke: every target, seeded from its corpus, FUZZ_SECONDS each
# (tests/fuzz/run.sh; the smoke's figures go to build-fuzz/fuzz.json, so
# bench/results/fuzz.json keeps the long campaign's).
mkdir -p build-fuzz
FUZZ_JSON=build-fuzz/fuzz.json tests/fuzz/run.sh "$FUZZ_SECONDS" | tee build-fuzz/summary.txt || { echo "FAILED: fuzz smoke" >&2; exit 1; }
fuzz_ok=$(grep -c '^fuzz_' build-fuzz/summary.txt)
summary+=("fuzz:$fuzz_ok 0")

pass=0; fail=0
for s in "${summary[@]}"; do
  read -r p f <<<"${s#*:}"; pass=$((pass + p)); fail=$((fail + f))
  echo "  ${s%%:*}: $p passed, $f failed"
done
echo "sparkd: $pass passed, $fail failed"
