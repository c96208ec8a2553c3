#!/usr/bin/env bash
# tests/valgrind.sh [SUITE...] — the end-to-end tests (tests/e2e) with every
# `sparkd` they start running under valgrind memcheck. Any memcheck report
# (invalid access, uninitialised value used, a leak "definitely" or
# "indirectly" lost) fails the run; tests/valgrind.supp silences third-party
# libraries only. Slow (each server start is ~20x slower), so not part of
# tests/run.sh:
#
#   tests/valgrind.sh                          # the protocol-level suites (default list)
#   tests/valgrind.sh test_completion.py       # named suites from tests/e2e
#   tests/valgrind.sh all                      # every Python suite in tests/e2e (~1-2 h)
#
# Under memcheck's slowdown, checks that time the daemon (the loop answering
# within 0.5 s while decoding, timeout_ms itself) fail by design; what this
# run judges is memcheck's reports, counted at the end.
#
# Builds a plain (non-ASan: the two cannot be combined) sparkd in
# $VALGRIND_BUILD (default build-valgrind). Logs: $VALGRIND_BUILD/valgrind/,
# one file per process. Exits 1 on a failed suite or any report, 2 on bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${VALGRIND_BUILD:-build-valgrind}
command -v valgrind >/dev/null || { echo "tests/valgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
[ $# -gt 0 ] && suites=("$@") || suites=(test_lsp_e2e.py test_malformed.py)
[ "${suites[*]}" = all ] && suites=($(cd tests/e2e && ls test_*.py))
for s in "${suites[@]}"; do
  [ -f "tests/e2e/$s" ] || { echo "tests/valgrind.sh: no suite tests/e2e/$s" >&2; exit 2; }
done

[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=debugoptimized --werror >/dev/null
ninja -C "$build" --quiet sparkd

logs=$root/$build/valgrind
rm -rf "$logs"; mkdir -p "$logs"
# The tests start $SPARKD_BIN; this wrapper makes that valgrind running sparkd.
# Valgrind 3.19 does not implement the seccomp syscall, so `sparkd lsp` runs
# with --no-sandbox here (the sandbox has its own test in test_limits.py), and
# with --timeout-ms 120000: at memcheck's ~50x slowdown the default 1 s would
# end every completion before its first token, leaving decoding unchecked.
wrapper=$logs/sparkd
cat >"$wrapper" <<EOF
#!/bin/sh
[ "\$1" = lsp ] && { shift; set -- lsp --no-sandbox --timeout-ms 120000 "\$@"; }
exec valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \\
  --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \\
  --track-origins=yes --trace-children=no --child-silent-after-fork=yes \\
  --suppressions="$root/tests/valgrind.supp" --log-file="$logs/vg.%p.log" \\
  "$root/$build/sparkd" "\$@"
EOF
chmod +x "$wrapper"

# Servers get 120 s to exit on EOF at the end of each test (lspclient.py), so
# that most processes end with memcheck's leak check, not SIGKILL.
export SPARKD_BIN=$wrapper SPARKD_SRC=$root SPARKD_E2E_TIMEOUT=${SPARKD_E2E_TIMEOUT:-240} SPARKD_E2E_POST_TIMEOUT=240
export SPARKD_E2E_GRACEFUL_EXIT=${SPARKD_E2E_GRACEFUL_EXIT:-120}
export XDG_CACHE_HOME=$logs/xdg-cache
failed=0
for s in "${suites[@]}"; do
  start=$(date +%s)
  if python3 "tests/e2e/$s" >"$logs/$s.out" 2>&1; then status=ok; else status=FAILED; failed=1; fi
  printf '%-22s %-7s %5ss\n' "$s" "$status" "$(( $(date +%s) - start ))"
  [ $status = ok ] || tail -n 30 "$logs/$s.out" >&2
done

# A process's log ends with its error summary; one killed with SIGKILL (some
# tests do that on purpose) has none and is counted apart.
procs=0 killed=0 bad=()
for f in "$logs"/vg.*.log; do
  [ -e "$f" ] || continue
  procs=$((procs + 1))
  n=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$f" | tail -n 1)
  if [ -z "$n" ]; then killed=$((killed + 1)); elif [ "$n" != 0 ]; then bad+=("$f"); fi
done
echo "valgrind: $procs sparkd processes, ${#bad[@]} with reports ($killed killed before their summary)"
if [ ${#bad[@]} -gt 0 ]; then
  for f in "${bad[@]}"; do echo "== $f"; head -n 80 "$f"; done >&2
  failed=1
fi
exit $failed
