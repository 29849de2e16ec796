#!/usr/bin/env bash
# Builds a Debian root filesystem (trixie, sid, ...) holding that suite's rabbitmq-server and
# Erlang, with debootstrap, into a cache outside the repository keyed by suite and version:
#   ~/.cache/warren/rabbitmq/<suite>-<version>
# Does nothing when one is already there. Prints the directory on its last line.
set -euo pipefail

SUITE="${1:?usage: build.sh SUITE (e.g. sid, trixie)}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${WARREN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warren}/rabbitmq"
mkdir -p "$CACHE"

existing=$(find "$CACHE" -maxdepth 1 -name "$SUITE-[0-9]*" -type d | sort -V | tail -n 1)
if [[ -n "$existing" && -x "$existing/usr/lib/rabbitmq/bin/rabbitmq-server" ]]; then
  echo "$existing"
  exit 0
fi

if ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

TMP="$CACHE/$SUITE.tmp"
rm -rf "$TMP"
debootstrap --variant=minbase "$SUITE" "$TMP" "$MIRROR" >&2
# Erlang resolves the node's host name: minbase leaves /etc/hosts out.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$TMP/etc/hosts"
# No service may start inside the chroot while packages install.
printf '#!/bin/sh\nexit 101\n' > "$TMP/usr/sbin/policy-rc.d"
chmod +x "$TMP/usr/sbin/policy-rc.d"
chroot "$TMP" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server >&2
chroot "$TMP" apt-get clean
VERSION=$(chroot "$TMP" dpkg-query -W -f='${Version}' rabbitmq-server)
VERSION="${VERSION%%-*}"
rm -rf "${CACHE:?}/$SUITE-$VERSION"
mv "$TMP" "$CACHE/$SUITE-$VERSION"
echo "$CACHE/$SUITE-$VERSION"
