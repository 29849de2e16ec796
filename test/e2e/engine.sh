# Sourced by test/e2e/run.sh: uses a running Docker engine, or starts one and later stops it and undoes
# what it changed on the host (iptables chains and rules, the FORWARD policy, ip_forward, docker0, the
# empty /lib/modules that kind's bind mounts create). Only what this script started or created is undone.
# shellcheck shell=bash

ENGINE_DIR=/run/warren-e2e
ENGINE_STARTED=
ENGINE_PID=

# Before dockerd: what the host looked like.
engine_snapshot() {
  HOST_IP_FORWARD=$(cat /proc/sys/net/ipv4/ip_forward)
  HOST_FORWARD_POLICY=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}')
  HOST_HAD_DOCKER0=$(if ip link show docker0 >/dev/null 2>&1; then echo 1; fi)
  HOST_HAD_MODULES=$(if [[ -e /lib/modules ]]; then echo 1; fi)
  HOST_BRIDGES=" $(host_bridges | tr '\n' ' ') "
}
host_bridges() { ip -o link show type bridge 2>/dev/null | awk -F': ' '$2 ~ /^br-[0-9a-f]+$/ {print $2}'; }

# Use an engine that already answers; otherwise start dockerd with its data in the cache (images
# survive between runs) and its socket, pid file and state under /run/warren-e2e.
engine_start() {
  if [[ -z "${DOCKER_HOST:-}" ]] && docker info >/dev/null 2>&1; then
    echo "using the running Docker engine" >&2
    return
  fi
  command -v dockerd >/dev/null || { echo "e2e: dockerd is missing: apt-get install docker.io" >&2; return 1; }
  engine_snapshot
  mkdir -p "$ENGINE_DIR" "$CACHE/docker"
  export DOCKER_HOST="unix://$ENGINE_DIR/docker.sock"
  local runtime=()
  # Where the capability bounding set lacks CAP_SYS_RESOURCE, `docker run --privileged` (every kind
  # node) fails in runc; a wrapper registered as the default runtime drops that capability.
  local capbnd; capbnd=$(awk '/^CapBnd/ {print $2}' /proc/self/status)
  if (( ((16#$capbnd) >> 24 & 1) == 0 )); then
    runtime=(--add-runtime "warren-runc=$HERE/runc-wrapper.sh" --default-runtime warren-runc)
    echo "CAP_SYS_RESOURCE is not in the bounding set: runc goes through test/e2e/runc-wrapper.sh" >&2
  fi
  dockerd --data-root "$CACHE/docker" --exec-root "$ENGINE_DIR/exec" --pidfile "$ENGINE_DIR/dockerd.pid" \
    --host "$DOCKER_HOST" --storage-driver overlay2 "${runtime[@]}" >"$ENGINE_DIR/dockerd.log" 2>&1 &
  ENGINE_PID=$!
  ENGINE_STARTED=1
  local i
  for i in $(seq 1 120); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$ENGINE_PID" 2>/dev/null || break
    sleep 0.5
  done
  echo "e2e: dockerd did not start; its log:" >&2
  tail -n 30 "$ENGINE_DIR/dockerd.log" >&2
  return 1
}

engine_stop() {
  [[ -n "$ENGINE_STARTED" ]] || return 0
  local i
  if kill -0 "$ENGINE_PID" 2>/dev/null; then
    # Containers this engine runs (kind nodes) stop with it; give it time to do so.
    kill -TERM "$ENGINE_PID"
    for i in $(seq 1 60); do kill -0 "$ENGINE_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$ENGINE_PID" 2>/dev/null || true
  fi
  wait "$ENGINE_PID" 2>/dev/null || true
  ENGINE_STARTED=
  # dockerd's iptables: the jumps into its chains, its masquerade rules, then the chains themselves.
  local t rule chain
  for t in filter nat; do
    iptables -t "$t" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*(DOCKER|docker0|br-[0-9a-f]{12})' | grep -v '^-A DOCKER' \
      | while read -r rule; do
          # shellcheck disable=SC2086
          iptables -t "$t" ${rule/#-A/-D} 2>/dev/null || true
        done
    for chain in $(iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
      iptables -t "$t" -F "$chain" 2>/dev/null || true
    done
    for chain in $(iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
      iptables -t "$t" -X "$chain" 2>/dev/null || true
    done
  done
  [[ -n "$HOST_FORWARD_POLICY" ]] && iptables -P FORWARD "$HOST_FORWARD_POLICY" 2>/dev/null
  echo "$HOST_IP_FORWARD" > /proc/sys/net/ipv4/ip_forward
  [[ -z "$HOST_HAD_DOCKER0" ]] && ip link delete docker0 2>/dev/null
  # Bridges of docker networks (kind's) that were not there before.
  for i in $(host_bridges); do
    [[ "$HOST_BRIDGES" == *" $i "* ]] || ip link delete "$i" 2>/dev/null || true
  done
  [[ -z "$HOST_HAD_MODULES" && -d /lib/modules ]] && rmdir /lib/modules 2>/dev/null
  rm -rf "$ENGINE_DIR"
  return 0
}
