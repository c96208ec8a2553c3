#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS [TARGET...] — a fuzzing campaign: every libFuzzer
# target (or the ones named) for SECONDS each, one after the other, seeded
# from tests/fuzz/corpus/<target>. Builds the fuzz build first if needed.
#
#   tests/fuzz/run.sh 30                      # the smoke run of tests/run.sh
#   FUZZ_RUNS=1000000 tests/fuzz/run.sh 7200  # long: stop at 1 M executions
#
# New interesting inputs stay in $BUILD/fuzz-work/<target> (kept for the next
# campaign, never committed); a crashing input lands in
# $BUILD/fuzz-artifacts/<target>/ with the target's log in $BUILD/<target>.log.
# Prints a table and writes $FUZZ_JSON (default bench/results/fuzz.json:
# target, seconds, execs, crashes); exits 1 if any target crashed, leaked or hung, 2 on bad usage.
# Environment: FUZZ_BUILD (default build-fuzz), FUZZ_RUNS (stop a target after
# that many executions), FUZZ_MAX_LEN (default 65536), FUZZ_TIMEOUT (seconds
# for one input before it counts as a hang; default 25).
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { echo "usage: tests/fuzz/run.sh SECONDS [TARGET...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
seconds=$1; shift
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "tests/fuzz/run.sh: SECONDS must be a positive integer, not '$seconds'" >&2; usage; }
build=${FUZZ_BUILD:-build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
  command -v clang >/dev/null || { echo "tests/fuzz/run.sh: clang is needed for libFuzzer (apt-get install clang)" >&2; exit 1; }
  CC=clang meson setup "$build" --buildtype=debugoptimized -Dfuzz=true -Dtests=enabled >/dev/null
fi
ninja -C "$build" --quiet

if [ $# -eq 0 ]; then
  mapfile -t targets < <(find "$build/tests" -maxdepth 2 -type f -name 'fuzz_*' -perm -u+x -printf '%f\n' | sort)
else
  targets=("$@")
fi
[ ${#targets[@]} -gt 0 ] || { echo "tests/fuzz/run.sh: no fuzz targets in $build (configured with -Dfuzz=true?)" >&2; exit 1; }

runs=()
[ -n "${FUZZ_RUNS:-}" ] && runs=(-runs="$FUZZ_RUNS")
failed=0
json=""
printf '%-16s %8s %12s %8s\n' target seconds execs crashes
for name in "${targets[@]}"; do
  exe=$(find "$build/tests" -maxdepth 2 -type f -name "$name" -perm -u+x | head -n 1)
  [ -n "$exe" ] || { echo "tests/fuzz/run.sh: no target '$name' in $build/tests" >&2; exit 2; }
  work=$build/fuzz-work/$name art=$build/fuzz-artifacts/$name log=$build/$name.log
  mkdir -p "$work" "$art"
  [ -d "tests/fuzz/corpus/$name" ] && cp -n tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null || true
  start=$(date +%s)
  crashes=0
  "$exe" -max_total_time="$seconds" "${runs[@]}" -max_len="${FUZZ_MAX_LEN:-65536}" \
    -timeout="${FUZZ_TIMEOUT:-25}" -print_final_stats=1 -artifact_prefix="$art/" "$work" \
    >"$log" 2>&1 || crashes=1
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ -z "$execs" ]; then   # libFuzzer stopped without its stats: the last status line
    execs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
  fi
  execs=${execs:-0}
  printf '%-16s %8s %12s %8s\n' "$name" "$took" "$execs" "$crashes"
  if [ "$crashes" -ne 0 ]; then
    failed=1
    tail -n 40 "$log" >&2
    echo "FAILED: $name (log $log; inputs in $art/)" >&2
  fi
  json+="${json:+,}
    {\"target\": \"$name\", \"seconds\": $took, \"execs\": $execs, \"crashes\": $crashes}"
done

out=${FUZZ_JSON:-bench/results/fuzz.json}
mkdir -p "$(dirname "$out")"
printf '{\n  "tool": "libFuzzer",\n  "seconds_per_target": %s,\n  "targets": [%s\n  ]\n}\n' \
  "$seconds" "$json" >"$out"
exit $failed
