#!/usr/bin/env bash
# tests/editors/setup.sh — what the editor tests need, installed only when
# missing, quietly: Debian's neovim (apt-get; root or sudo), the test's npm
# packages (tests/editors/node_modules) and the VS Code extension's
# (editors/vscode/node_modules), both with `npm ci` from their committed
# lockfiles. Never fails the caller: a missing piece makes its test report a
# skip (exit 77).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if ! command -v nvim >/dev/null 2>&1; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
    echo "editors/setup: nvim missing and no root: the Neovim test will be skipped"
  else
    echo "editors/setup: installing neovim" >&2
    export DEBIAN_FRONTEND=noninteractive
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends neovim; } >/dev/null 2>&1 ||
      echo "editors/setup: apt-get install neovim failed: the Neovim test will be skipped"
  fi
fi

# True when every dependency in DIR/package.json (and its devDependencies
# unless $2 is --omit=dev) is installed at its pinned version.
installed() {
  node -e '
    const fs = require("fs"), path = require("path");
    const dir = process.argv[1], prodOnly = process.argv[2] === "--omit=dev";
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    const deps = { ...pkg.dependencies, ...(prodOnly ? {} : pkg.devDependencies) };
    for (const [name, want] of Object.entries(deps)) {
      const pj = path.join(dir, "node_modules", name, "package.json");
      if (!fs.existsSync(pj) || JSON.parse(fs.readFileSync(pj, "utf8")).version !== want) process.exit(1);
    }' "$1" "${2:-}" 2>/dev/null
}

npm_ci() {   # dir what [--omit=dev]
  installed "$1" "${3:-}" && return 0
  if ! command -v npm >/dev/null 2>&1; then echo "editors/setup: npm not found: $2 will be skipped"; return 0; fi
  echo "editors/setup: npm ci in ${1#"$root"/}" >&2
  # --ignore-scripts: no package here needs an install script (vsce's signing
  # helper is not used for packaging).
  if ! (cd "$1" && npm ci ${3:-} --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null 2>"$1/npm-ci.log"); then
    echo "editors/setup: npm ci failed in ${1#"$root"/}: $2 will be skipped"; sed -n '1,8p' "$1/npm-ci.log"
  fi
  rm -f "$1/npm-ci.log"
}

if command -v node >/dev/null 2>&1; then
  npm_ci "$here" "the VS Code protocol test"
  # The extension's runtime dependency only (vscode-languageclient): packaging
  # with vsce needs a full `npm ci` in editors/vscode.
  npm_ci "$root/editors/vscode" "the VS Code extension checks" --omit=dev
else
  echo "editors/setup: node not found: the VS Code test will be skipped"
fi
exit 0
