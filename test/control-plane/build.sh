#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd from pinned Go modules into a cache
# directory keyed by version, outside the repository. Does nothing when they are already there.
# Prints the directory holding the binaries on its last line.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${WARREN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warren}"
BIN="$CACHE_ROOT/control-plane/v$K8S_VERSION"

if [[ -x "$BIN/kube-apiserver" && -x "$BIN/kube-controller-manager" && -x "$BIN/kubectl" && -x "$BIN/etcd" ]]; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: Go is required to build the control plane" >&2; exit 1; }
STAGING="0.${K8S_VERSION#1.}"
MINOR="${STAGING#0.}"; MINOR="${MINOR%%.*}"

# The builder module is generated in a scratch directory so the repository stays free of a
# 400-line go.sum; go.mod's pins are derived from the kubernetes release itself.
WORK="$CACHE_ROOT/control-plane/build-v$K8S_VERSION"
rm -rf "$WORK"; mkdir -p "$WORK" "$BIN.tmp"
cd "$WORK"
cp "$HERE/go.mod.in" go.mod
cp "$HERE/tools.go" tools.go
export GOFLAGS=-mod=mod
GOMOD=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
for m in $(sed -n 's|^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*|\1|p' "$GOMOD"); do
  go mod edit -replace="$m=$m@v$STAGING"
done
go get "k8s.io/kubernetes@v$K8S_VERSION"
# etcd server at whatever version kubernetes already pins for its client (MVS keeps them aligned).
ETCD_CLIENT=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/client/v3)
go get "go.etcd.io/etcd/server/v3@$ETCD_CLIENT"
go mod tidy

LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$MINOR \
 -X k8s.io/component-base/version.gitTreeState=clean"
CGO_ENABLED=0 go build -trimpath -ldflags "$LDFLAGS" -o "$BIN.tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN.tmp/etcd" go.etcd.io/etcd/server/v3
rm -rf "$BIN"; mv "$BIN.tmp" "$BIN"
echo "$BIN"
