#!/usr/bin/env bash
# setup.sh — make a fresh Debian 12 able to build and run sparkd, then build it.
# Idempotent and quiet when there is nothing to do. Needs root (or sudo) only
# when packages are missing.
set -euo pipefail
cd "$(dirname "$0")"

PKGS=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev
      libjansson-dev libev-dev libsqlite3-dev check libtree-sitter-dev libseccomp-dev
      python3 python3-numpy)
# Node.js (end-to-end test with a real LSP client library, grammar fetch):
# any node/npm on PATH will do; Debian's packages otherwise.
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Tree-sitter grammars: pinned npm tarballs, checked against grammars.lock.
grammars/fetch.sh

# The release build of the sparkd binary (reconfigured when the set of
# vendored grammars changed, since meson looks for them at configure time).
if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release -Dtests=disabled >/dev/null
elif [ "$(ls grammars/vendor 2>/dev/null)" != "$(cat build/.grammars 2>/dev/null)" ]; then
  meson setup --reconfigure build >/dev/null
fi
ls grammars/vendor 2>/dev/null > build/.grammars || true
ninja -C build --quiet sparkd >/dev/null || ninja -C build sparkd
