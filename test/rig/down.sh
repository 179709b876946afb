#!/usr/bin/env bash
# Rig only: delete the rig's Kind cluster (cached images and binaries stay).
#   bash test/rig/down.sh [--name NAME]
# Idempotent: succeeds when no such cluster (or no Docker engine) exists.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
name="${JETSCALE_RIG_NAME:-jetscale-rig}"
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name="${2:-}"; shift 2 ;;
    --name=*) name="${1#--name=}"; shift ;;
    *) die "unknown argument '$1'; accepted: --name NAME" ;;
  esac
done
if ! docker info >/dev/null 2>&1; then
  log "no Docker engine answers: no cluster to delete"
  exit 0
fi
KIND="$(tool kind)" || die "kind not found (build it with: bash test/rig/tools/build.sh kind)"
if "$KIND" get clusters 2>/dev/null | grep -qx "$name"; then
  "$KIND" delete cluster --name "$name" >&2
  log "cluster $name deleted"
else
  log "no cluster named $name"
fi
rm -f "$(rig_kubeconfig "$name")"
# the local registry up.sh may have started: removed once no kind cluster is left to use it
if [ -z "$("$KIND" get clusters 2>/dev/null)" ] && docker inspect jetscale-registry >/dev/null 2>&1; then
  docker rm -f -v jetscale-registry >/dev/null
  log "registry jetscale-registry removed"
fi
