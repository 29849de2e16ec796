#!/usr/bin/env bash
# Builds helm (helm.sh/helm/v4's cmd/helm, at HELM_VERSION below) with `go install` from the Go module
# proxy into a cache outside the repository keyed by the helm and Go versions:
#   ~/.cache/warren/tools/helm-<helm version>-<go version>/helm
# Does nothing when it is already there. Prints the binary's path on its last line.
# `helm.sh --path` prints that path without building anything (test/integration/helm.test.ts skips,
# saying how to build it, when the binary is missing there).
# Builds are serialised by a lock in the cache, so two callers never build it at once.
set -euo pipefail

HELM_VERSION=v4.3.2
CACHE_ROOT="${WARREN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warren}"

command -v go >/dev/null || { echo "test/tools/helm.sh: Go 1.26 (go on PATH) is required: https://go.dev/doc/install" >&2; exit 1; }
DIR="$CACHE_ROOT/tools/helm-$HELM_VERSION-$(go env GOVERSION)"
if [[ "${1:-}" == --path ]]; then
  echo "$DIR/helm"
  exit 0
fi
if [[ -x "$DIR/helm" ]]; then
  echo "$DIR/helm"
  exit 0
fi

mkdir -p "$CACHE_ROOT/tools"
exec 9>"$CACHE_ROOT/tools/.helm.lock"
flock -w 1800 9 || { echo "test/tools/helm.sh: another build held the lock for 30 minutes" >&2; exit 1; }
if [[ -x "$DIR/helm" ]]; then # whoever held the lock built it
  echo "$DIR/helm"
  exit 0
fi
echo "test/tools/helm.sh: building helm $HELM_VERSION into $DIR (a few minutes)" >&2
rm -rf "$DIR.tmp"
mkdir -p "$DIR.tmp"
# `go install module@version` builds exactly the module's own go.mod and go.sum (checked against the
# checksum database), outside any workspace; the version is stamped as helm's release build does.
(cd "$DIR.tmp" && GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOBIN="$DIR.tmp" GOWORK=off \
  go install -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v4/cmd/helm@$HELM_VERSION")
"$DIR.tmp/helm" version --short >&2
rm -rf "$DIR"
mv "$DIR.tmp" "$DIR"
echo "$DIR/helm"
