#!/usr/bin/env bash
# npm run test:e2e: warren on a real kind cluster, installed the way the README tells users.
#
#   1. a Docker engine (the running one, or dockerd started here and stopped at the end)
#   2. images without a registry (test/e2e/images.sh), or stock ones where registries answer
#      (WARREN_E2E_STOCK=1: kind's own node image, Docker Hub's rabbitmq, the Dockerfile's node base)
#   3. kind create cluster --config kind-config.yaml; kind load docker-image
#   4. RabbitMQ in the cluster; warren from deploy/install.yaml; RabbitBroker `local`
#   5. test/e2e/checks.ts: the seed, AMQP from a pod, leader failover under load, a restart that
#      writes nothing, deletion of everything
#
# The cluster is deleted on every exit path, and an engine started here is stopped with its host
# changes undone. Prints the time of each step.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${WARREN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warren}"
CLUSTER=warren # kind-config.yaml's name
STOCK="${WARREN_E2E_STOCK:-}"
WORK="$REPO/.e2e"
START=$SECONDS
last=$SECONDS
step() {
  printf '\n=== e2e: %s (at %ss; previous step %ss)\n' "$1" "$((SECONDS - START))" "$((SECONDS - last))"
  last=$SECONDS
}
fail() { echo "e2e: $*" >&2; exit 1; }

step "preflight"
# What this run needs of the machine; it says what is missing instead of failing half-way.
if [[ -z "$STOCK" ]]; then
  [[ $(id -u) -eq 0 ]] || fail "needs root (it starts dockerd and builds root filesystems with debootstrap); run it as root, or with WARREN_E2E_STOCK=1 against a running Docker engine"
  [[ -r /etc/debian_version ]] || fail "needs Debian (debootstrap, Debian's docker.io, containerd and rabbitmq-server make the images); elsewhere use WARREN_E2E_STOCK=1 where registries are reachable"
  need=()
  command -v dockerd >/dev/null || need+=(docker.io)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v jq >/dev/null || need+=(jq)
  command -v gcc >/dev/null || need+=(gcc libc6-dev)
  command -v iptables >/dev/null || need+=(iptables)
  if [[ ${#need[@]} -gt 0 ]]; then
    command -v apt-get >/dev/null || fail "missing: apt-get install ${need[*]}"
    echo "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  command -v go >/dev/null || fail "needs Go (it builds Kubernetes and kind from pinned modules): install Go 1.26 and put it on PATH"
else
  command -v docker >/dev/null || fail "WARREN_E2E_STOCK=1 needs a Docker engine and its client"
fi
[[ -x "$REPO/node_modules/.bin/node" ]] || fail "run npm ci first"

# One run at a time on a machine (one cluster name, one engine).
mkdir -p "$CACHE"
exec 8>"$CACHE/e2e.lock"
flock -w 1800 8 || fail "another e2e run held $CACHE/e2e.lock for 30 minutes"
rm -rf "$WORK"; mkdir -p "$WORK"
export KUBECONFIG="$WORK/kubeconfig"

# shellcheck source=test/e2e/engine.sh
source "$HERE/engine.sh"
CLUSTER_CREATED=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [[ -n "$CLUSTER_CREATED" ]]; then
    if [[ $rc -ne 0 ]]; then
      echo "--- e2e failed: state of the cluster" >&2
      kubectl get pods -A -o wide --request-timeout=20s >&2
      kubectl logs -n warren-system -l app.kubernetes.io/name=warren --tail=40 --prefix --request-timeout=20s >&2
      timeout 120 "$KIND_BIN" export logs "$WORK/logs" --name "$CLUSTER" >/dev/null 2>&1 && echo "node logs: $WORK/logs" >&2
    fi
    step "kind delete cluster"
    timeout 120 "$KIND_BIN" delete cluster --name "$CLUSTER" >/dev/null 2>&1
    [[ -n "$ENGINE_STARTED" ]] && docker network rm kind >/dev/null 2>&1
  fi
  if [[ -n "$ENGINE_STARTED" ]]; then
    step "stop dockerd, undo its host changes"
    engine_stop
  fi
  step "done (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "Docker engine"
engine_start

step "tools: kind, kubectl"
# Built from pinned modules (cached); with stock images, the machine's own kind and kubectl will do.
if [[ -n "$STOCK" ]] && command -v kind >/dev/null; then KIND_BIN=$(command -v kind); else
  KIND_BIN="$(bash "$REPO/test/control-plane/build.sh" kind | tail -n 1)/kind"
fi
if [[ -n "$STOCK" ]] && command -v kubectl >/dev/null; then KUBECTL=$(command -v kubectl); else
  KUBECTL="$(bash "$REPO/test/control-plane/build.sh" | tail -n 1)/kubectl"
fi
export KUBECTL
kind() { "$KIND_BIN" "$@"; }
kubectl() { "$KUBECTL" "$@"; }
"$KIND_BIN" version

step "images"
kind_args=()
if [[ -z "$STOCK" ]]; then
  images=$(bash "$HERE/images.sh" all)
  eval "$(grep -E '^(NODE|RABBITMQ|WARREN)_IMAGE=[^ ]+$' <<<"$images")"
  kind_args=(--image "$NODE_IMAGE")
else
  RABBITMQ_IMAGE="${WARREN_E2E_RABBITMQ_IMAGE:-rabbitmq:4.1-management}"
  WARREN_IMAGE=ghcr.io/warren-dev/warren:0.1.0
  docker pull -q "$RABBITMQ_IMAGE" >/dev/null
  docker build -q -t "$WARREN_IMAGE" "$REPO" >/dev/null
fi
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^($WARREN_IMAGE|$RABBITMQ_IMAGE|${NODE_IMAGE:-none}) " || true

step "kind create cluster"
# A cluster left by an interrupted run goes first.
kind get clusters 2>/dev/null | grep -qx "$CLUSTER" && kind delete cluster --name "$CLUSTER"
CLUSTER_CREATED=1
kind create cluster --config "$REPO/kind-config.yaml" "${kind_args[@]}" --kubeconfig "$KUBECONFIG" --wait 180s

step "kind load docker-image"
kind load docker-image --name "$CLUSTER" "$WARREN_IMAGE" "$RABBITMQ_IMAGE"

step "RabbitMQ in the cluster"
RABBIT_USER=warren
RABBIT_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
export E2E_RABBITMQ_USER=$RABBIT_USER
sed -e "s|RABBITMQ_IMAGE|$RABBITMQ_IMAGE|" -e "s|WARREN_IMAGE|$WARREN_IMAGE|" "$HERE/rabbitmq.yaml" | kubectl apply -f - >/dev/null
kubectl create secret generic rabbitmq-credentials -n rabbitmq \
  --from-literal=90-credentials.conf="$(printf 'default_user = %s\ndefault_pass = %s\n' "$RABBIT_USER" "$RABBIT_PASSWORD")" >/dev/null
kubectl rollout status deployment/rabbitmq -n rabbitmq --timeout=240s

step "install warren as the README says: kubectl apply --server-side -f deploy/install.yaml"
kubectl apply --server-side -f "$REPO/deploy/install.yaml" >/dev/null
kubectl rollout status deployment/warren -n warren-system --timeout=240s

step "RabbitBroker local (namespace default) for the in-cluster RabbitMQ"
kubectl create secret generic rabbitmq-admin --from-literal=username="$RABBIT_USER" --from-literal=password="$RABBIT_PASSWORD" >/dev/null
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: warren.dev/v1alpha1
kind: RabbitBroker
metadata: { name: local, namespace: default }
spec:
  endpoint: http://rabbitmq.rabbitmq.svc:15672
  credentialsSecretRef: { name: rabbitmq-admin }
  allowedNamespaces: [e2e-load]
  surveyInterval: 10s
EOF
kubectl wait --for=condition=Ready rabbitbroker/local --timeout=180s

step "checks (test/e2e/checks.ts)"
"$REPO/node_modules/.bin/node" --test --test-reporter=spec "$HERE/checks.ts"
