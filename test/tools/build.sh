#!/usr/bin/env bash
# Builds the Go test tools from their pinned modules into a cache directory keyed by the hash of
# their sources (go.mod, go.sum, *.go and this script) and the Go version, outside the repository.
# Does nothing when that directory exists. Prints the directory on its last line:
#
#   kstatus          sigs.k8s.io/cli-utils' kstatus (what Flux computes) for objects on stdin
#   argocd-health    a health.lua run as Argo CD runs it (github.com/yuin/gopher-lua)
#   promtool         Prometheus' cmd/promtool (check rules, test rules), for the alert rules: the
#                    heavy one (minutes of CPU), so it is cached on its own, by Prometheus version and
#                    the hash of its go.mod and go.sum, in tools/promtool-<version>-<hash>, and linked
#                    into the directory above; a change to the other tools never rebuilds it
#
# `build.sh --dir` prints the directory without building anything (a test that finds a tool missing
# there skips and says how to build it).
# Builds are serialised by a lock in the cache, so two callers never build the same thing at once.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${WARREN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warren}"
TOOLS=(kstatus argocd-health promtool)

command -v go >/dev/null || { echo "test/tools/build.sh: Go 1.26 (go on PATH) is required: https://go.dev/doc/install" >&2; exit 1; }
HASH=$(cd "$HERE" && { go env GOVERSION; cat build.sh; for t in "${TOOLS[@]}"; do
  find "$t" -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort | while read -r f; do
    printf '%s\n' "$f"; cat "$f"; done; done; } | sha256sum | cut -c1-16)
BIN="$CACHE_ROOT/tools/$HASH"
PROM_VERSION=$(awk '$1 == "github.com/prometheus/prometheus" { print $2 }' "$HERE/promtool/go.mod")
PROM_HASH=$(cd "$HERE/promtool" && { go env GOVERSION; cat go.mod go.sum; } | sha256sum | cut -c1-16)
PROM_DIR="$CACHE_ROOT/tools/promtool-$PROM_VERSION-$PROM_HASH"
if [[ "${1:-}" == --dir ]]; then
  echo "$BIN"
  exit 0
fi
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
# go.sum is committed: -mod=readonly builds exactly the pinned modules, verified.
gobuild() { GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 go build -trimpath "$@"; }
for t in kstatus argocd-health; do
  (cd "$HERE/$t" && gobuild -ldflags "-s -w" -o "$BIN.tmp/$t" .)
done
# promtool is go.mod's tool (`tool` directive): the package of the required Prometheus module.
if [[ ! -x "$PROM_DIR/promtool" ]]; then
  echo "test/tools/build.sh: building promtool $PROM_VERSION into $PROM_DIR (several minutes)" >&2
  rm -rf "$PROM_DIR.tmp"
  mkdir -p "$PROM_DIR.tmp"
  (cd "$HERE/promtool" && gobuild -ldflags "-s -w -X github.com/prometheus/common/version.Version=$PROM_VERSION" \
    -o "$PROM_DIR.tmp/promtool" github.com/prometheus/prometheus/cmd/promtool)
  rm -rf "$PROM_DIR"
  mv "$PROM_DIR.tmp" "$PROM_DIR"
fi
ln -s "$PROM_DIR/promtool" "$BIN.tmp/promtool"
rm -rf "$BIN"
mv "$BIN.tmp" "$BIN"
echo "$BIN"
