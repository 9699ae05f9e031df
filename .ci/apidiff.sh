#!/usr/bin/env sh
# apidiff.sh REF: reports incompatible changes to the public API (every
# package outside internal/, cmd/, test/ and examples/) since git REF, the
# last release tag (make lint runs it). A package that did not exist at
# REF is new, not a change. Needs apidiff (golang.org/x/exp/cmd/apidiff)
# on PATH or in .tools/.
set -eu
ref=$1
cd "$(dirname "$0")/.."
APIDIFF=${APIDIFF:-$(command -v apidiff || echo .tools/apidiff)}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/old" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/old" "$ref"
pkgs=$(go list ./... | grep -Ev '/(internal|cmd|test|examples)(/|$)')
bad=0
for p in $pkgs; do
  x="$tmp/$(echo "$p" | tr / _).export"
  (cd "$tmp/old" && "$APIDIFF" -w "$x" "$p" >/dev/null 2>&1) || continue # new since REF
  out=$("$APIDIFF" -incompatible "$x" "$p")
  if [ -n "$out" ]; then
    echo "$p: incompatible with $ref:"
    echo "$out"
    bad=1
  fi
done
exit $bad
