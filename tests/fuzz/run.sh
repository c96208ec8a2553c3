#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS [TARGET...] — a fuzzing campaign: every libFuzzer
# target (or the ones named) for SECONDS each, one after the other, seeded
# from tests/fuzz/corpus/<target>. Builds the fuzz build first if needed.
#
#   tests/fuzz/run.sh 30                      # the smoke run of tests/run.sh
#   FUZZ_RUNS=1000000 tests/fuzz/run.sh 7200  # long: stop at 1 M executions
#
# The long campaign of issue #12 (1 M executions per target, one target at a
# time on one core; FUZZ_RUNS rather than time, so that a fuzzer paused with
# SIGSTOP still does its share; FUZZ_TIMEOUT above 25 because libFuzzer's
# timeout is wall time, pauses included):
#
#   FUZZ_RUNS=1000000 FUZZ_TIMEOUT=120 FUZZ_NOTE="long campaign" \
#     nice -n 10 tests/fuzz/run.sh 7200
#
# kvc_blob and gguf take under a minute, rpc 2, frame and tok 8-14 CPU
# minutes, gram about 27; doc 1-2 CPU hours (its inputs grow to its max_len);
# fuzz_lsp runs at about 100-115 executions per CPU second (sessions of up to
# hundreds of KiB of JSON through jansson under ASan), so its 1 M needs about
# 2.5 CPU hours: run a second worker on the other core (FUZZ_WORKER, below)
# and add up the two runs' executions.
#
# Per-target libFuzzer flags come from tests/fuzz/corpus/<target>.options
# (OSS-Fuzz style: "name = value" lines, e.g. "max_len = 8192", section
# headers and # comments ignored), each passed as -name=value after the
# defaults below; an explicit FUZZ_MAX_LEN still wins.
#
# New interesting inputs stay in $BUILD/fuzz-work/<target> (kept for the next
# campaign, never committed); a crashing input lands in
# $BUILD/fuzz-artifacts/<target>/ with the target's log in $BUILD/<target>.log.
# Prints a table and writes $FUZZ_JSON (default bench/results/fuzz.json:
# target, seconds (wall), cpu_seconds, execs, max_len, crashes; FUZZ_NOTE as
# "campaign"); exits 1 if any target crashed, leaked or hung, 2 on bad usage.
# Environment: FUZZ_BUILD (default build-fuzz), FUZZ_RUNS (stop a target after
# that many executions), FUZZ_MAX_LEN (default 65536, or the target's
# options), FUZZ_TIMEOUT (seconds for one input before it counts as a hang;
# default 25), FUZZ_NOTE (free text recorded in the JSON), FUZZ_WORKER (a
# name for this run's log, $BUILD/<target>.w<WORKER>.log: a second run of the
# same target beside the first, sharing its corpus directory, must not write
# over the first one's log, where the executions are read from).
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

# CPU time of the finished children, in ms: bash's times (second line: their
# user and system time), called in this shell (a $(...) subshell has no
# children of its own yet) into a file, then read.
times_file=$(mktemp)
trap 'rm -f "$times_file"' EXIT
cpu_ms() {
  awk 'END { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
             printf "%d\n", t * 1000 }' "$times_file"
}

runs=()
[ -n "${FUZZ_RUNS:-}" ] && runs=(-runs="$FUZZ_RUNS")
failed=0
json=""
printf '%-16s %8s %8s %12s %8s\n' target seconds cpu_s execs crashes
for name in "${targets[@]}"; do
  exe=$(find "$build/tests" -maxdepth 2 -type f -name "$name" -perm -u+x | head -n 1)
  [ -n "$exe" ] || { echo "tests/fuzz/run.sh: no target '$name' in $build/tests" >&2; exit 2; }
  work=$build/fuzz-work/$name art=$build/fuzz-artifacts/$name log=$build/$name${FUZZ_WORKER:+.w$FUZZ_WORKER}.log
  mkdir -p "$work" "$art"
  [ -d "tests/fuzz/corpus/$name" ] && cp -n tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null || true
  opts=(-max_len=65536)
  if [ -f "tests/fuzz/corpus/$name.options" ]; then
    while IFS= read -r line; do
      line=${line%%#*}
      [[ $line =~ ^[[:space:]]*([a-z_]+)[[:space:]]*=[[:space:]]*([^[:space:]]+)[[:space:]]*$ ]] || continue
      opts+=("-${BASH_REMATCH[1]}=${BASH_REMATCH[2]}")
    done <"tests/fuzz/corpus/$name.options"
  fi
  [ -n "${FUZZ_MAX_LEN:-}" ] && opts+=(-max_len="$FUZZ_MAX_LEN")
  max_len=65536
  for o in "${opts[@]}"; do [[ $o == -max_len=* ]] && max_len=${o#-max_len=}; done
  start=$(date +%s)
  times >"$times_file"; cpu0=$(cpu_ms)
  rc=0
  "$exe" -max_total_time="$seconds" "${runs[@]}" "${opts[@]}" \
    -timeout="${FUZZ_TIMEOUT:-25}" -print_final_stats=1 -artifact_prefix="$art/" "$work" \
    >"$log" 2>&1 || rc=$?
  # 72: libFuzzer's exit after SIGINT ("run interrupted"), e.g. a campaign
  # stopped by hand once its workers' executions add up: not a finding.
  interrupted=$(( rc == 72 )); crashes=$(( rc != 0 && rc != 72 ))
  times >"$times_file"; cpu=$(( $(cpu_ms) - cpu0 ))
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ -z "$execs" ]; then   # libFuzzer stopped without its stats: the last status line
    execs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
  fi
  execs=${execs:-0}
  cpu_s=$(awk -v ms="$cpu" 'BEGIN { printf "%.1f", ms / 1000 }')
  printf '%-16s %8s %8s %12s %8s\n' "$name" "$took" "$cpu_s" "$execs" "$crashes"
  if [ "$crashes" -ne 0 ]; then
    failed=1
    tail -n 40 "$log" >&2
    echo "FAILED: $name (log $log; inputs in $art/)" >&2
  fi
  json+="${json:+,}
    {\"target\": \"$name\", \"seconds\": $took, \"cpu_seconds\": $cpu_s, \"execs\": $execs, \"max_len\": $max_len, \"crashes\": $crashes, \"interrupted\": $interrupted}"
done

out=${FUZZ_JSON:-bench/results/fuzz.json}
mkdir -p "$(dirname "$out")"
note=$(printf '%s' "${FUZZ_NOTE:-}" | sed 's/\\/\\\\/g; s/"/\\"/g')
printf '{\n  "tool": "libFuzzer",\n  "campaign": "%s",\n  "seconds_per_target": %s,\n  "runs_per_target": %s,\n  "timeout_s": %s,\n  "targets": [%s\n  ]\n}\n' \
  "$note" "$seconds" "${FUZZ_RUNS:-null}" "${FUZZ_TIMEOUT:-25}" "$json" >"$out"
exit $failed
