#!/usr/bin/env bash
# dockerd's default runtime on hosts whose capability bounding set lacks CAP_SYS_RESOURCE: a privileged
# container (a kind node) asks for every capability, and runc fails with "unable to apply caps". This
# removes CAP_SYS_RESOURCE from the container's config.json (create, run) and from the process spec of
# an exec, then runs the real runc with the same arguments.
set -euo pipefail
RUNC="${WARREN_REAL_RUNC:-/usr/sbin/runc}"
drop='map_values(if type == "array" then map(select(. != "CAP_SYS_RESOURCE")) else . end)'

edit() { # FILE JQ-PATH
  [[ -f "$1" ]] || return 0
  local tmp="$1.warren"
  jq "$2 |= (if . then $drop else . end)" "$1" > "$tmp" && mv "$tmp" "$1"
}

cmd='' bundle='' process=''
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  a=${args[i]}
  case "$a" in
    create | run | exec) [[ -z "$cmd" ]] && cmd=$a ;;
    --bundle | -b) bundle=${args[i + 1]:-} ;;
    --bundle=*) bundle=${a#--bundle=} ;;
    --process | -p) process=${args[i + 1]:-} ;;
    --process=*) process=${a#--process=} ;;
  esac
done
case "$cmd" in
  create | run) edit "${bundle:-.}/config.json" .process.capabilities ;;
  exec) [[ -n "$process" ]] && edit "$process" .capabilities ;;
esac
exec "$RUNC" "$@"
