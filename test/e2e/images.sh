#!/usr/bin/env bash
# Builds, without any container registry, the images the end-to-end run needs, each cached by version
# (root filesystems in ~/.cache/warren/rootfs, images in the Docker engine under their versioned tags):
#
#   warren.local/kind-node:v$K8S_VERSION-* a kind node image: Debian bookworm's containerd, runc, CNI
#                                          plugins and systemd, Kubernetes built by test/control-plane/build.sh,
#                                          the control-plane images imported into its containerd
#   warren.local/rabbitmq:<version>-*      Debian's rabbitmq-server with the management plugin
#   warren.local/node:<version>-bookworm-* a Debian root with Node 24 (from the `node` npm package) and npm:
#                                          the base for the project's Dockerfile, given as its BASE argument
#   $WARREN_IMAGE                          the operator, from the project's Dockerfile (rebuilt every run)
#
# Needs root, debootstrap and a running Docker engine (DOCKER_HOST as set by the caller).
# Prints `NAME=IMAGE` lines on stdout; progress goes to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${WARREN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warren}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
K8S_VERSION="${K8S_VERSION:-1.37.2}"
KIND_VERSION="${KIND_VERSION:-0.33.0}"
WARREN_IMAGE="${WARREN_IMAGE:-ghcr.io/warren-dev/warren:0.1.0}"
# Debian's client: it has BuildKit built in (a newer client may want a buildx plugin that is absent).
DOCKER="${DOCKER:-$( [[ -x /usr/bin/docker ]] && echo /usr/bin/docker || echo docker )}"
ROOTFS="$CACHE/rootfs"
# What each root filesystem holds besides debootstrap's minbase (the node's list follows kind's base image).
NODE_PKGS=(systemd dbus conntrack iptables nftables iproute2 ethtool util-linux mount kmod libseccomp2 pigz
  e2fsprogs bash ca-certificates curl jq procps containerd runc containernetworking-plugins)
RABBITMQ_PKGS=(rabbitmq-server procps)
PROXY_PKGS=(iptables conntrack ipset kmod)
SLIM_PKGS=(ca-certificates)
mkdir -p "$ROOTFS"
log() { printf '[images %s] %s\n' "$(date +%T)" "$*" >&2; }
have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
# Image tags carry the version of what they hold and of this recipe, so an edit here rebuilds them.
RECIPE=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-8)
# Older builds of the same repository are dropped once a new one exists.
drop_others() { # IMAGE
  "$DOCKER" images --format '{{.Repository}}:{{.Tag}}' "${1%:*}" | grep -vxF "$1" | xargs -r "$DOCKER" rmi >/dev/null 2>&1 || true
}

# debootstrap's minbase, once.
minbase() {
  local base="$ROOTFS/bookworm-minbase.tar"
  if [[ ! -s "$base" ]]; then
    log "debootstrap bookworm (minbase)"
    local d; d=$(mktemp -d "$ROOTFS/minbase.XXXX")
    debootstrap --variant=minbase bookworm "$d" "$MIRROR" >/dev/null
    # No service may start inside the chroot while packages install.
    printf '#!/bin/sh\nexit 101\n' > "$d/usr/sbin/policy-rc.d"; chmod +x "$d/usr/sbin/policy-rc.d"
    tar --numeric-owner -C "$d" -cf "$base.tmp" . && mv "$base.tmp" "$base"
    rm -rf "$d"
  fi
  echo "$base"
}

# A bookworm root with extra packages, as a tarball cached by the package list.
# debootstrap runs once (minbase); each root is that plus `apt-get install` in a chroot.
rootfs() {
  local name=$1; shift
  local key; key=$(echo "$*" | sha256sum | cut -c1-12)
  local tar="$ROOTFS/bookworm-$name-$key.tar"
  if [[ -s "$tar" ]]; then echo "$tar"; return; fi
  local base; base=$(minbase)
  log "root filesystem $name: $*"
  local d; d=$(mktemp -d "$ROOTFS/$name.XXXX")
  tar --numeric-owner -C "$d" -xf "$base"
  chmod 0755 "$d"
  if [[ $# -gt 0 ]]; then
    chroot "$d" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  fi
  chroot "$d" apt-get clean
  rm -rf "$d"/var/lib/apt/lists/* "$d"/usr/share/doc/* "$d"/usr/share/man/* "$d"/usr/share/locale/*
  rm -f "$d/usr/sbin/policy-rc.d"
  tar --numeric-owner -C "$d" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
  rm -rf "$d"
  echo "$tar"
}

# docker import of a directory; extra arguments are --change instructions.
import_dir() { # DIR IMAGE [--change ...]...
  local dir=$1 image=$2; shift 2
  chmod 0755 "$dir"  # mktemp's 0700 would become the image's / and lock out non-root users
  tar --numeric-owner -C "$dir" -c . | "$DOCKER" import "$@" - "$image" >/dev/null
}

# Root filesystems download in parallel (network bound) while the Go builds use the CPU.
root_jobs() {
  minbase >/dev/null
  rootfs node "${NODE_PKGS[@]}" >/dev/null &
  rootfs rabbitmq "${RABBITMQ_PKGS[@]}" >/dev/null &
  rootfs proxy "${PROXY_PKGS[@]}" >/dev/null &
  rootfs slim "${SLIM_PKGS[@]}" >/dev/null &
  local pid rc=0
  for pid in $(jobs -p); do wait "$pid" || rc=1; done
  return $rc
}

# ---------------------------------------------------------------------------------------------------
# Node 24 base and the operator image
node_base() {
  local version; version=$(node -p 'require(process.argv[1]).version' "$REPO/node_modules/node/package.json")
  local image="warren.local/node:$version-bookworm-$RECIPE"
  if ! have_image "$image"; then
    log "base image $image"
    local d; d=$(mktemp -d "$ROOTFS/nodebase.XXXX")
    tar --numeric-owner -C "$d" -xf "$(rootfs slim "${SLIM_PKGS[@]}")"
    install -m 0755 "$REPO/node_modules/node/bin/node" "$d/usr/local/bin/node"
    # npm for the Dockerfile's `npm ci`: the machine's own (Node 24 runs it).
    local npmdir; npmdir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
    mkdir -p "$d/usr/local/lib/node_modules"
    cp -a "$npmdir" "$d/usr/local/lib/node_modules/npm"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$d/usr/local/bin/npm"
    import_dir "$d" "$image" --change 'CMD ["node"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    rm -rf "$d"
    drop_others "$image"
  fi
  echo "$image"
}

operator_image() {
  local base=$1
  log "operator image $WARREN_IMAGE (Dockerfile, BASE=$base)"
  # The CA bundle is a build secret: behind a TLS-intercepting proxy npm needs it; elsewhere it is harmless.
  local secret=()
  # shellcheck disable=SC2054 # one argument, commas included
  [[ -r /etc/ssl/certs/ca-certificates.crt ]] && secret=(--secret id=ca,src=/etc/ssl/certs/ca-certificates.crt)
  DOCKER_BUILDKIT=1 "$DOCKER" build -q --build-arg "BASE=$base" "${secret[@]}" -t "$WARREN_IMAGE" "$REPO" >/dev/null
}

# ---------------------------------------------------------------------------------------------------
# RabbitMQ: Debian's server; the management plugin is enabled in the image, credentials come from
# the cluster (a config file mounted into /etc/rabbitmq/conf.d).
rabbitmq_image() {
  local tar; tar=$(rootfs rabbitmq "${RABBITMQ_PKGS[@]}")
  local version; version=$(tar -xOf "$tar" ./var/lib/dpkg/status | awk '/^Package: rabbitmq-server$/{p=1} p&&/^Version:/{print $2; exit}')
  version=${version%%-*}
  local image="warren.local/rabbitmq:$version-$RECIPE"
  if ! have_image "$image"; then
    log "RabbitMQ image $image"
    local d; d=$(mktemp -d "$ROOTFS/rabbitmq-img.XXXX")
    tar --numeric-owner -C "$d" -xf "$tar"
    echo '[rabbitmq_management].' > "$d/etc/rabbitmq/enabled_plugins"
    mkdir -p "$d/etc/rabbitmq/conf.d"
    printf 'loopback_users = none\nlisteners.tcp.default = 5672\nmanagement.tcp.port = 15672\n' \
      > "$d/etc/rabbitmq/conf.d/10-image.conf"
    # Debian's wrapper drops to the rabbitmq user; run the server directly as that user instead.
    import_dir "$d" "$image" \
      --change 'USER rabbitmq' --change 'ENV HOME=/var/lib/rabbitmq RABBITMQ_LOGS=-' \
      --change 'EXPOSE 5672 15672' --change 'CMD ["/usr/lib/rabbitmq/bin/rabbitmq-server"]'
    rm -rf "$d"
    drop_others "$image"
  fi
  echo "$image"
}

# ---------------------------------------------------------------------------------------------------
# The kind node image, as `kind build node-image` would make it, from local pieces.
node_image() {
  local image="warren.local/kind-node:v$K8S_VERSION-$RECIPE"
  if have_image "$image"; then echo "$image"; return; fi
  local bin; bin=$(bash "$REPO/test/control-plane/build.sh" node | tail -n 1)
  local kindsrc; kindsrc="$(GOFLAGS='' go env GOMODCACHE)/sigs.k8s.io/kind@v$KIND_VERSION/images/base/files"
  [[ -d "$kindsrc" ]] || GOFLAGS='' go mod download "sigs.k8s.io/kind@v$KIND_VERSION"
  local work; work=$(mktemp -d "$ROOTFS/node-img.XXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN

  # Control-plane images, named as kubeadm lists them; static binaries in otherwise empty images.
  log "control-plane images for kubeadm v$K8S_VERSION"
  local images=() name ref
  mapfile -t images < <("$bin/kubeadm" config images list --kubernetes-version "v$K8S_VERSION")
  for ref in "${images[@]}"; do
    name=${ref##*/}; name=${name%%:*}
    rm -rf "$work/img"; mkdir -p "$work/img/usr/local/bin" "$work/img/tmp"; chmod 1777 "$work/img/tmp"
    case "$name" in
      kube-proxy)
        tar --numeric-owner -C "$work/img" -xf "$(rootfs proxy "${PROXY_PKGS[@]}")"
        install -m 0755 "$bin/kube-proxy" "$work/img/usr/local/bin/"
        import_dir "$work/img" "$ref" ;;
      coredns)
        install -m 0755 "$bin/coredns" "$work/img/coredns"
        import_dir "$work/img" "$ref" --change 'ENTRYPOINT ["/coredns"]' ;;
      pause)
        install -m 0755 "$bin/pause" "$work/img/pause"
        import_dir "$work/img" "$ref" --change 'ENTRYPOINT ["/pause"]' ;;
      etcd|kube-apiserver|kube-controller-manager|kube-scheduler)
        install -m 0755 "$bin/$name" "$work/img/usr/local/bin/"
        import_dir "$work/img" "$ref" --change "ENTRYPOINT [\"/usr/local/bin/$name\"]" ;;
      *) echo "images.sh: kubeadm lists $ref, which this script cannot build" >&2; return 1 ;;
    esac
  done
  "$DOCKER" save -o "$work/images.tar" "${images[@]}"

  log "node root"
  local root="$work/root"
  mkdir -p "$root"
  tar --numeric-owner -C "$root" -xf "$(rootfs node "${NODE_PKGS[@]}")"
  # kind's own node files (entrypoint, units, containerd config), with the modes of its Dockerfile.
  cp -r "$kindsrc/usr/local/bin/." "$root/usr/local/bin/"; chmod 0755 "$root"/usr/local/bin/*
  mkdir -p "$root/kind/manifests"; cp -r "$kindsrc/kind/." "$root/kind/"; chmod -R u=rwX,go=rX "$root/kind"; chmod 0755 "$root"/kind/bin/*
  cp -r "$kindsrc/etc/." "$root/etc/"
  # Debian puts containerd in /usr/bin and the CNI plugins in /usr/lib/cni; kind expects /usr/local/bin
  # and /opt/cni/bin.
  ln -sf /usr/bin/containerd /usr/bin/ctr /usr/bin/containerd-shim-runc-v2 "$root/usr/local/bin/"
  mkdir -p "$root/opt/cni"; ln -sfn /usr/lib/cni "$root/opt/cni/bin"
  install -m 0755 "$bin/kubelet" "$bin/kubeadm" "$bin/kubectl" "$root/usr/bin/"
  install -m 0755 "$bin/crictl" "$root/usr/local/bin/"
  echo "v$K8S_VERSION" > "$root/kind/version"
  local pause; pause=$(printf '%s\n' "${images[@]}" | grep /pause:)
  # This machine's bounding set lacks CAP_SYS_RESOURCE, so runc cannot raise oom_score_adj: restrict it.
  # The sandbox image is the pause kubeadm lists (and the one imported).
  sed -i -e 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' \
    -e "s|sandbox_image = .*|sandbox_image = \"$pause\"|" "$root/etc/containerd/config.toml"
  # kindnetd is not available here: a static bridge network serves the single node, and kind's default
  # CNI and storage manifests become harmless placeholders (no local-path-provisioner either).
  mkdir -p "$root/etc/cni/net.d"
  cat > "$root/etc/cni/net.d/10-warren-bridge.conflist" <<'EOF'
{
  "cniVersion": "0.4.0",
  "name": "warren-bridge",
  "plugins": [
    { "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "10.244.0.0/24" }]], "routes": [{ "dst": "0.0.0.0/0" }] } },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  for m in cni storage; do
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: warren-e2e-no-default-%s\n  namespace: kube-system\ndata:\n  why: built without a registry; see test/e2e/images.sh\n' \
      "$m" > "$root/kind/manifests/default-$m.yaml"
  done
  # What kind's base Dockerfile does to systemd: no units a container must not run, journald off kmsg.
  find "$root/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
  rm -f "$root"/lib/systemd/system/multi-user.target.wants/* "$root"/etc/systemd/system/*.wants/* \
    "$root"/lib/systemd/system/local-fs.target.wants/* "$root"/lib/systemd/system/sockets.target.wants/*udev* \
    "$root"/lib/systemd/system/sockets.target.wants/*initctl* "$root"/lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >> "$root/etc/systemd/journald.conf"
  ln -sf /usr/lib/systemd/systemd "$root/sbin/init"
  chroot "$root" systemctl enable kubelet.service containerd.service undo-mount-hacks.service >/dev/null 2>&1
  chroot "$root" systemctl mask systemd-binfmt.service >/dev/null 2>&1
  mkdir -p "$root/etc/kubernetes/manifests"
  chroot "$root" sh -c "ctr oci spec | jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}' | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json"

  log "node image: importing the control-plane images into its containerd"
  import_dir "$root" "$image-root"
  local id="warren-node-build-$$"
  "$DOCKER" run -d --name "$id" --entrypoint sleep --security-opt seccomp=unconfined "$image-root" infinity >/dev/null
  # shellcheck disable=SC2064
  trap "'$DOCKER' rm -f '$id' >/dev/null 2>&1; rm -rf '$work'" RETURN
  "$DOCKER" cp "$work/images.tar" "$id:/images.tar"
  # shellcheck disable=SC2016 # expanded by the container's shell
  "$DOCKER" exec "$id" bash -c '
    set -e
    nohup containerd >/tmp/containerd.log 2>&1 &
    for i in $(seq 1 60); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && break; sleep 0.5; done
    ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests /images.tar >/dev/null
    # ctr names the archive'"'"'s index import-<date>@sha256:...; only the kubeadm names are wanted.
    ctr --namespace=k8s.io images list -q | grep "^import-" | xargs -r ctr --namespace=k8s.io images rm >/dev/null
    ctr --namespace=k8s.io images list -q | grep -v "^sha256:" >&2
    kill %1; wait || true
    rm -rf /images.tar /tmp/containerd.log'
  "$DOCKER" commit "$id" "$image-imported" >/dev/null
  "$DOCKER" rm -f "$id" >/dev/null
  # STOPSIGNAL cannot be given to import/commit: a two-line classic build adds it (works offline).
  printf 'FROM %s\nENV container=docker\nSTOPSIGNAL SIGRTMIN+3\nENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]\n' "$image-imported" \
    | DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "$image" - >/dev/null
  "$DOCKER" rmi "$image-imported" "$image-root" >/dev/null
  drop_others "$image"
  echo "$image"
}

what="${1:-all}"
case "$what" in
  roots) root_jobs ;;
  all)
    root_jobs &
    roots=$!
    # The Go builds need no root filesystem; the images below wait for them.
    bash "$REPO/test/control-plane/build.sh" node >/dev/null
    wait "$roots"
    echo "NODE_IMAGE=$(node_image)"
    echo "RABBITMQ_IMAGE=$(rabbitmq_image)"
    base=$(node_base)
    operator_image "$base"
    echo "WARREN_IMAGE=$WARREN_IMAGE"
    ;;
  operator)
    operator_image "$(node_base)"
    echo "WARREN_IMAGE=$WARREN_IMAGE" ;;
  rabbitmq) echo "RABBITMQ_IMAGE=$(rabbitmq_image)" ;;
  node) echo "NODE_IMAGE=$(node_image)" ;;
  *) echo "usage: images.sh [all|roots|operator|rabbitmq|node]" >&2; exit 2 ;;
esac
