#!/usr/bin/env bash
# Builds Kubernetes binaries from pinned Go modules into a cache directory keyed by version, outside
# the repository. Does nothing for what is already there. Prints the binaries' directory on its last line.
#
#   build.sh               kube-apiserver, kube-controller-manager, kubectl, etcd (the test control plane)
#   build.sh node          the same, plus what a kind node image needs: kubelet, kubeadm, kube-scheduler,
#                          kube-proxy, crictl, coredns and pause (the versions kubeadm v$K8S_VERSION expects)
#   build.sh kind          the kind CLI (its own directory: it does not depend on the Kubernetes version)
#
# Builds are serialised by a lock in the cache, so two callers never build the same thing at once.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
# What kubeadm v1.37.2 lists in `kubeadm config images list` (besides its own components and etcd).
COREDNS_VERSION=1.14.6
PAUSE_VERSION=3.10.2
CRICTL_VERSION=1.36.0
KIND_VERSION="${KIND_VERSION:-0.33.0}"
TARGET="${1:-control-plane}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${WARREN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warren}"
BIN="$CACHE_ROOT/control-plane/v$K8S_VERSION"

K8S_CMDS=(kube-apiserver kube-controller-manager kubectl)
case "$TARGET" in
  control-plane) ;;
  node) K8S_CMDS+=(kubelet kubeadm kube-scheduler kube-proxy) ;;
  kind) BIN="$CACHE_ROOT/kind/v$KIND_VERSION" ;;
  *) echo "build.sh: unknown target $TARGET (control-plane, node, kind)" >&2; exit 2 ;;
esac

missing() { # prints the names among "$@" not yet in $BIN
  local f
  for f in "$@"; do [[ -x "$BIN/$f" ]] || echo "$f"; done
}
want=()
if [[ "$TARGET" == kind ]]; then
  mapfile -t want < <(missing kind)
else
  mapfile -t want < <(missing "${K8S_CMDS[@]}" etcd)
  [[ "$TARGET" == node ]] && mapfile -t -O "${#want[@]}" want < <(missing crictl coredns pause)
fi
if [[ ${#want[@]} -eq 0 ]]; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: Go 1.26 (go on PATH) is required to build ${want[*]}: https://go.dev/doc/install" >&2; exit 1; }
mkdir -p "$CACHE_ROOT/control-plane"
exec 9>"$CACHE_ROOT/control-plane/.build.lock"
# Another build may hold the lock for many minutes when caches are cold.
flock -w 3600 9 || { echo "build.sh: another build held the lock for an hour" >&2; exit 1; }
# Re-check: whoever held the lock may have built what we need.
if [[ "$TARGET" == kind ]]; then mapfile -t want < <(missing kind); else
  mapfile -t want < <(missing "${K8S_CMDS[@]}" etcd)
  [[ "$TARGET" == node ]] && mapfile -t -O "${#want[@]}" want < <(missing crictl coredns pause)
fi
if [[ ${#want[@]} -eq 0 ]]; then
  echo "$BIN"
  exit 0
fi
echo "build.sh: building ${want[*]} (cold Go caches: many minutes)" >&2
has() { local f; for f in "${want[@]}"; do [[ "$f" == "$1" ]] && return 0; done; return 1; }
mkdir -p "$BIN.tmp"

if [[ "$TARGET" == kind ]]; then
  GOFLAGS='' GOBIN="$BIN.tmp" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@v$KIND_VERSION"
fi

# Tools with their own modules, at the versions kubeadm expects, built outside any module.
if has crictl; then
  GOFLAGS='' GOBIN="$BIN.tmp" CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v$CRICTL_VERSION" \
    "sigs.k8s.io/cri-tools/cmd/crictl@v$CRICTL_VERSION"
fi
if has coredns; then
  GOFLAGS='' GOBIN="$BIN.tmp" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
    "github.com/coredns/coredns@v$COREDNS_VERSION"
fi

k8s=()
for c in "${K8S_CMDS[@]}"; do has "$c" && k8s+=("$c"); done
if [[ ${#k8s[@]} -gt 0 ]] || has etcd || has pause; then
  STAGING="0.${K8S_VERSION#1.}"
  MINOR="${STAGING#0.}"; MINOR="${MINOR%%.*}"
  # The builder module is generated in a scratch directory so the repository stays free of a
  # 400-line go.sum; go.mod's pins are derived from the kubernetes release itself.
  WORK="$CACHE_ROOT/control-plane/build-v$K8S_VERSION"
  rm -rf "$WORK"; mkdir -p "$WORK"
  cd "$WORK"
  cp "$HERE/go.mod.in" go.mod
  # tools.go pins the commands this target builds, so `go mod tidy` keeps their dependencies.
  { printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "go.etcd.io/etcd/server/v3"\n'
    for c in "${K8S_CMDS[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
    printf ')\n'; } > tools.go
  export GOFLAGS=-mod=mod
  MODJSON=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION")
  GOMOD=$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' <<<"$MODJSON")
  SRC=$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$MODJSON")
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
  if [[ ${#k8s[@]} -gt 0 ]]; then
    CGO_ENABLED=0 go build -trimpath -ldflags "$LDFLAGS" -o "$BIN.tmp/" "${k8s[@]/#/k8s.io/kubernetes/cmd/}"
  fi
  if has etcd; then
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN.tmp/etcd" go.etcd.io/etcd/server/v3
  fi
  # The pause container's source ships inside the kubernetes module; kind and kubeadm expect it static.
  if has pause; then
    command -v gcc >/dev/null || { echo "build.sh: gcc is required for pause (apt-get install gcc libc6-dev)" >&2; exit 1; }
    gcc -Os -static -Wall -DVERSION="v$PAUSE_VERSION" -o "$BIN.tmp/pause" "$SRC/build/pause/linux/pause.c"
    strip "$BIN.tmp/pause"
  fi
fi

mkdir -p "$BIN"
for f in "${want[@]}"; do mv -f "$BIN.tmp/$f" "$BIN/$f"; done
rm -rf "$BIN.tmp"
echo "$BIN"
