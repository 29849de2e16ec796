#!/usr/bin/env bash
# Prints warren's manifests (every CRD in crds/, then namespace, RBAC and Deployment) as one
# multi-document YAML, for clusters or pipelines without kustomize:
#
#   kubectl apply --server-side -f <(deploy/render.sh)
#
# Works from any directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

shopt -s nullglob
crds=("$root"/crds/*.yaml)
if [ "${#crds[@]}" -eq 0 ]; then
  echo "render.sh: no CRDs found in $root/crds" >&2
  exit 1
fi

first=1
for f in "${crds[@]}" "$here/namespace.yaml" "$here/rbac.yaml" "$here/deployment.yaml"; do
  if [ "$first" -eq 0 ]; then echo '---'; fi
  first=0
  # Drop a leading document marker so no empty documents appear; end every file with a newline.
  sed -e '1{/^---[[:space:]]*$/d;}' -e '$a\' "$f"
done
