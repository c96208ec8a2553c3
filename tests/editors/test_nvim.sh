#!/usr/bin/env bash
# test_nvim.sh — the Neovim plugin (editors/nvim) in a real headless Neovim
# (`nvim --headless -u NONE`) against the real `sparkd lsp`: ghost text from
# inline completion, accept (whole / word), dismiss, trigger key, cancel,
# :SparkdStats, :checkhealth sparkd, and the completion-popup fallback
# (omnifunc). The steps are in nvim_test.lua.
#
# Env: SPARKD_BIN (default build/sparkd), SPARKD_TEST_MODEL (a GGUF; default: a
# random-weight model from tools/make_test_model.py, which always produces
# text), NVIM (default nvim on PATH). Exit: 0 passed, 1 failed, 77 skipped.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=${SPARKD_SRC:-$(cd "$here/../.." && pwd)}
nvim=${NVIM:-$(command -v nvim || true)}
if [ -z "$nvim" ]; then echo "SKIP: nvim not found (tests/editors/setup.sh installs Debian's neovim)"; exit 77; fi
bin=${SPARKD_BIN:-$root/build/sparkd}
[ -x "$bin" ] || { echo "FAIL: no sparkd binary at $bin (set SPARKD_BIN or run ./setup.sh)"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=${SPARKD_TEST_MODEL:-}
if [ -z "$model" ]; then
  model=$work/random.gguf
  py=/usr/bin/python3; [ -x "$py" ] || py=python3
  "$py" "$root/tools/make_test_model.py" --printable --out "$model" >/dev/null 2>"$work/model.err" ||
    { echo "FAIL: cannot make a test model:"; cat "$work/model.err"; exit 1; }
fi

# Neovim keeps its state (LSP log, shada, swap) under the scratch folder.
export XDG_STATE_HOME=$work/state XDG_DATA_HOME=$work/data XDG_CACHE_HOME=$work/cache XDG_CONFIG_HOME=$work/config
export SPARKD_BIN=$bin SPARKD_TEST_MODEL=$model SPARKD_TEST_DIR=$work
limit=${SPARKD_NVIM_TIMEOUT:-240}
timeout -k 5 "$limit" "$nvim" --headless -u NONE -i NONE -n \
  --cmd "set rtp^=$root/editors/nvim" \
  -c "luafile $here/nvim_test.lua" </dev/null >"$work/nvim.out" 2>&1
rc=$?
cat "$work/results.txt" 2>/dev/null
if [ $rc -ne 0 ]; then echo "--- Neovim's output"; tr '\r' '\n' <"$work/nvim.out" | tail -n 40; fi
grep -q ' passed, ' "$work/results.txt" 2>/dev/null || { echo "test_nvim: 0 passed, 1 failed"; rc=1; }
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then echo "FAIL: Neovim did not finish within ${limit}s"; fi
# Neovim's LSP log has sparkd's stderr: show its end when something failed.
if [ $rc -ne 0 ] && [ -f "$work/state/nvim/lsp.log" ]; then
  echo "--- end of Neovim's LSP log"; tail -n 30 "$work/state/nvim/lsp.log"
elif [ $rc -ne 0 ] && [ -f "$work/cache/nvim/lsp.log" ]; then
  echo "--- end of Neovim's LSP log"; tail -n 30 "$work/cache/nvim/lsp.log"
fi
[ $rc -eq 0 ] && exit 0 || exit 1
