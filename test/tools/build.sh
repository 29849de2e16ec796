#!/usr/bin/env bash
# Builds the Go test tools from their pinned modules into a cache directory keyed by the hash of
# their sources (go.mod, go.sum, *.go and this script) and the Go version, outside the repository.
# Does nothing when that directory exists. Prints the directory on its last line:
#
#   kstatus          sigs.k8s.io/cli-utils' kstatus (what Flux computes) for objects on stdin
#   argocd-health    a health.lua run as Argo CD runs it (github.com/yuin/gopher-lua)
#
# Builds are serialised by a lock in the cache, so two callers never build the same thing at once.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${WARREN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warren}"
TOOLS=(kstatus argocd-health)

command -v go >/dev/null || { echo "test/tools/build.sh: Go 1.26 (go on PATH) is required: https://go.dev/doc/install" >&2; exit 1; }
HASH=$(cd "$HERE" && { go env GOVERSION; cat build.sh; for t in "${TOOLS[@]}"; do
  find "$t" -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort | while read -r f; do
    printf '%s\n' "$f"; cat "$f"; done; done; } | sha256sum | cut -c1-16)
BIN="$CACHE_ROOT/tools/$HASH"
built() { local t; for t in "${TOOLS[@]}"; do [[ -x "$BIN/$t" ]] || return 1; done; }
if built; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$CACHE_ROOT/tools"
exec 9>"$CACHE_ROOT/tools/.build.lock"
flock -w 1800 9 || { echo "test/tools/build.sh: another build held the lock for 30 minutes" >&2; exit 1; }
if built; then # whoever held the lock built it
  echo "$BIN"
  exit 0
fi
echo "test/tools/build.sh: building ${TOOLS[*]} into $BIN" >&2
rm -rf "$BIN.tmp"
mkdir -p "$BIN.tmp"
for t in "${TOOLS[@]}"; do
  # go.sum is committed: -mod=readonly builds exactly the pinned modules, verified.
  (cd "$HERE/$t" && GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN.tmp/$t" .)
done
rm -rf "$BIN"
mv "$BIN.tmp" "$BIN"
echo "$BIN"
