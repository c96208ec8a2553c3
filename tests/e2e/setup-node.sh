#!/usr/bin/env bash
# tests/e2e/setup-node.sh — installs the third-party LSP client library used by
# test_client_lib.mjs (vscode-jsonrpc, pinned; it has no dependencies) into
# tests/e2e/node_modules, only when it is missing. Writes no package.json and
# no lock file. Never fails the caller: without node/npm or a network the test
# reports itself as skipped.
set -u
cd "$(dirname "$0")"
VERSION=8.2.1
PKG=node_modules/vscode-jsonrpc/package.json

installed() {
  [ -f "$PKG" ] && node -e 'process.exit(require("./'"$PKG"'").version === process.argv[1] ? 0 : 1)' "$VERSION" 2>/dev/null
}

command -v node >/dev/null 2>&1 || { echo "setup-node: node not found; the client-library test will be skipped"; exit 0; }
installed && exit 0
command -v npm >/dev/null 2>&1 || { echo "setup-node: npm not found; the client-library test will be skipped"; exit 0; }
if npm install --no-save --no-package-lock --no-audit --no-fund --ignore-scripts \
     --loglevel=error --prefix . "vscode-jsonrpc@$VERSION" >/dev/null 2>npm-install.log; then
  rm -f npm-install.log
else
  echo "setup-node: npm install vscode-jsonrpc@$VERSION failed; the client-library test will be skipped"
  sed -n '1,5p' npm-install.log; rm -f npm-install.log
fi
# npm keeps a hidden lock file naming where packages came from: not wanted here.
rm -f node_modules/.package-lock.json package-lock.json
installed || echo "setup-node: vscode-jsonrpc@$VERSION is not installed; the client-library test will be skipped"
exit 0
