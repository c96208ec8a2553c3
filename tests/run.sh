#!/usr/bin/env bash
# tests/run.sh — the whole test suite: unit + end-to-end tests in an optimised
# build with -Werror, the same suites under ASan+UBSan, and a short smoke run of
# every fuzz target. Run after ./setup.sh (README's test command does both).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
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

# Fuzz smoke: every target, seeded from its corpus, FUZZ_SECONDS each.
[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz --buildtype=debugoptimized \
  -Dfuzz=true -Dtests=enabled >/dev/null
ninja -C build-fuzz --quiet
fuzz_ok=0
for t in $(find build-fuzz -maxdepth 3 -type f -name 'fuzz_*' -perm -u+x | sort); do
  name=$(basename "$t"); corpus=tests/fuzz/corpus/$name
  work=$(mktemp -d); [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  "$t" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -print_final_stats=0 "$work" \
    >"build-fuzz/$name.log" 2>&1 || { tail -n 40 "build-fuzz/$name.log"; echo "FAILED: $name" >&2; exit 1; }
  rm -rf "$work"; fuzz_ok=$((fuzz_ok + 1))
done
summary+=("fuzz:$fuzz_ok 0")

pass=0; fail=0
for s in "${summary[@]}"; do
  read -r p f <<<"${s#*:}"; pass=$((pass + p)); fail=$((fail + f))
  echo "  ${s%%:*}: $p passed, $f failed"
done
echo "sparkd: $pass passed, $fail failed"
