#!/usr/bin/env bash
# Rig only: make sure a Docker engine answers on this machine.
#
# These test machines have no engine running, no systemd, and a capability bounding set without
# CAP_SYS_RESOURCE, so every privileged container (every kind node) fails with "unable to apply
# caps". When no engine answers, this installs Debian's docker.io, installs a runtime wrapper
# that strips CAP_SYS_RESOURCE from the OCI spec before calling runc, and starts dockerd in the
# background with that wrapper as the default runtime. Idempotent: does nothing when an engine
# already answers. Never used by the action on a GitHub runner.
set -euo pipefail

log() { printf 'rig/docker: %s\n' "$*" >&2; }

cache="${JETSCALE_RIG_CACHE:-$HOME/.cache/jetscale-stack/rig}"
runtime_name=rig-runc
runtime_path=/usr/local/libexec/jetscale-rig/rig-runc
dockerd_log="$cache/dockerd.log"

if docker info >/dev/null 2>&1; then
  log "engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "rig/docker: no Docker engine answers and this is not root (uid $(id -u)); start one yourself or run as root" >&2
  exit 1
fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
if [ "${#need[@]}" -gt 0 ]; then
  log "installing ${need[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

runc_bin="$(command -v runc)"
mkdir -p "$(dirname "$runtime_path")" "$cache"
tmp="$(mktemp "$runtime_path.XXXXXX")"
cat >"$tmp" <<WRAPPER
#!/bin/sh
# Written by test/rig/docker.sh: remove CAP_SYS_RESOURCE from the OCI spec, then run runc.
# The machine's bounding set lacks that capability, so runc cannot apply it.
strip() {
  [ -f "\$1" ] || return 0
  t="\$1.rig.\$\$"
  jq '(if .process then .process else . end).capabilities |= (if . then with_entries(.value |= (if type == "array" then map(select(. != "CAP_SYS_RESOURCE")) else . end)) else . end)' "\$1" >"\$t" && mv "\$t" "\$1"
}
prev=""
bundle=""
process=""
for a in "\$@"; do
  case "\$prev" in
    --bundle|-b) bundle="\$a" ;;
    --process|-p) process="\$a" ;;
  esac
  case "\$a" in
    --bundle=*) bundle="\${a#--bundle=}" ;;
    --process=*) process="\${a#--process=}" ;;
  esac
  prev="\$a"
done
[ -n "\$bundle" ] && strip "\$bundle/config.json"
[ -n "\$process" ] && strip "\$process"
exec $runc_bin "\$@"
WRAPPER
chmod 755 "$tmp"
mv "$tmp" "$runtime_path"

if pgrep -x dockerd >/dev/null 2>&1; then
  log "dockerd is running but does not answer yet; waiting"
else
  log "starting dockerd (runtime $runtime_name=$runtime_path), log $dockerd_log"
  # cgroupfs: there is no systemd on the machine.
  setsid nohup dockerd \
    --add-runtime "$runtime_name=$runtime_path" \
    --default-runtime "$runtime_name" \
    --exec-opt native.cgroupdriver=cgroupfs \
    --storage-driver overlay2 \
    >>"$dockerd_log" 2>&1 </dev/null &
fi

for i in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    log "engine answers after ${i}x0.5s ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 0.5
done
echo "rig/docker: dockerd did not answer within 60 s; see $dockerd_log" >&2
tail -n 20 "$dockerd_log" >&2 || true
exit 1
