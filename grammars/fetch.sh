#!/usr/bin/env bash
# grammars/fetch.sh — fetch the pinned tree-sitter grammars into grammars/vendor/
# (ignored by git). For each line of grammars.lock: `npm pack PACKAGE@VERSION`,
# check the tarball's sha512 against the pinned integrity, then keep only what
# the build uses: src/parser.c, src/scanner.c, src/tree_sitter/*.h, queries/
# (and the same under typescript/, tsx/ plus common/*.h for TypeScript).
# Idempotent: a grammar whose vendor/DIR/.integrity matches the lock is left
# alone, so a second run prints nothing. Exit 1 on any failure (vendor/DIR of
# that grammar is then left as it was).
set -euo pipefail
cd "$(dirname "$0")"
vendor=vendor
mkdir -p "$vendor"

integrity() {   # file -> "sha512-<base64>", the npm integrity format
  python3 - "$1" <<'PY'
import base64, hashlib, sys
with open(sys.argv[1], 'rb') as f:
    print('sha512-' + base64.b64encode(hashlib.sha512(f.read()).digest()).decode())
PY
}

# Copies the files the build needs from an unpacked package (root $1) to $2.
keep() {
  local from=$1 to=$2 sub
  for sub in . typescript tsx; do
    [ -f "$from/$sub/src/parser.c" ] || continue
    mkdir -p "$to/$sub/src/tree_sitter"
    cp "$from/$sub/src/parser.c" "$to/$sub/src/"
    [ ! -f "$from/$sub/src/scanner.c" ] || cp "$from/$sub/src/scanner.c" "$to/$sub/src/"
    cp "$from/$sub/src/tree_sitter/"*.h "$to/$sub/src/tree_sitter/"
  done
  if [ -d "$from/common" ]; then
    mkdir -p "$to/common"
    cp "$from/common/"*.h "$to/common/"
  fi
  [ ! -d "$from/queries" ] || cp -r "$from/queries" "$to/queries"
}

fail=0
while read -r dir pkg ver want; do
  case "$dir" in ''|'#'*) continue ;; esac
  if [ -f "$vendor/$dir/.integrity" ] && [ "$(cat "$vendor/$dir/.integrity")" = "$want" ]; then
    continue
  fi
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && npm pack --silent "$pkg@$ver" >/dev/null 2>npm.log); then
    echo "grammars: npm pack $pkg@$ver failed:" >&2; cat "$tmp/npm.log" >&2
    rm -rf "$tmp"; fail=1; continue
  fi
  tgz=$(find "$tmp" -maxdepth 1 -name '*.tgz' | head -n 1)
  got=$(integrity "$tgz")
  if [ "$got" != "$want" ]; then
    echo "grammars: $pkg@$ver: integrity mismatch (got $got, pinned $want)" >&2
    rm -rf "$tmp"; fail=1; continue
  fi
  mkdir "$tmp/x"
  tar -xzf "$tgz" -C "$tmp/x" --no-same-owner
  if [ ! -f "$tmp/x/package/src/parser.c" ] && [ ! -f "$tmp/x/package/typescript/src/parser.c" ]; then
    echo "grammars: $pkg@$ver has no src/parser.c" >&2
    rm -rf "$tmp"; fail=1; continue
  fi
  rm -rf "$vendor/$dir.new"
  keep "$tmp/x/package" "$vendor/$dir.new"
  echo "$want" >"$vendor/$dir.new/.integrity"
  rm -rf "${vendor:?}/${dir:?}"
  mv "$vendor/$dir.new" "$vendor/$dir"
  rm -rf "$tmp"
  echo "grammars: $dir $pkg@$ver" >&2
done <grammars.lock
exit $fail
