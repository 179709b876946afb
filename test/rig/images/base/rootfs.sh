#!/usr/bin/env bash
# Rig only: Debian bookworm minbase rootfs -> docker image (no registry needed).
#   rootfs.sh IMAGE RECIPE_HASH
# The mirror is read from this machine's apt sources at run time; those sources are copied into the
# image, so `apt-get install` works in Dockerfiles built FROM it.
set -euo pipefail
source "$(dirname "$0")/../../lib.sh"
image="$1" hash="$2"

if ! command -v debootstrap >/dev/null 2>&1; then
  log "   installing debootstrap (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
mirror="$(apt_mirror)"
mkdir -p "$RIG_CACHE/tmp"
root="$(mktemp -d "$RIG_CACHE/tmp/rootfs.XXXXXX")"
trap 'rm -rf "$root"' EXIT
log "   debootstrap --variant=minbase bookworm (mirror from apt sources: $mirror)"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -n 30 "$root.log" >&2
  exit 1
}
rm -f "$root.log"
# The machine's own apt sources (only those naming the mirror we used, so no third-party keyrings).
rm -f "$root/etc/apt/sources.list"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] && grep -q "$mirror" "$f" && cp "$f" "$root/etc/apt/sources.list.d/"
done
ls "$root/etc/apt/sources.list.d/"* >/dev/null 2>&1 || echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
cat >"$root/etc/apt/apt.conf.d/90rig" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Retries "3";
APT
cat >"$root/etc/dpkg/dpkg.cfg.d/90rig-nodoc" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
DPKG
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" --numeric-owner -c . |
  docker import --change "LABEL jetscale.rig.recipe=$hash" --change 'CMD ["/bin/bash"]' - "$image" >/dev/null
