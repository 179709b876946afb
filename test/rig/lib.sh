#!/usr/bin/env bash
# Shared helpers of the rig scripts (sourced, not run). Rig only: nothing here is used by the action.
# shellcheck disable=SC2034

RIG_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$RIG_DIR/../.." && pwd)"
RIG_CACHE="${JETSCALE_RIG_CACHE:-$HOME/.cache/jetscale-stack/rig}"
TOOL_CACHE="${JETSCALE_TOOL_CACHE:-$HOME/.cache/jetscale-stack/toolcache}"

# Kubernetes version of the node image: 1.34.x, since the test machines run cgroup v1 (kubelet 1.35+
# refuses it by default).
K8S_VERSION="${JETSCALE_RIG_K8S_VERSION:-v1.34.4}"
# Images kubeadm v1.34 expects (cmd/kubeadm/app/constants in k8s.io/kubernetes v1.34.4).
ETCD_VERSION=3.6.5
ETCD_TAG=3.6.5-0
COREDNS_VERSION=v1.12.1
PAUSE_TAG=3.10.1
CRICTL_VERSION=v1.34.0
# local-path-provisioner as in kind v0.30.0 images/local-path-provisioner.
LOCAL_PATH_VERSION=v0.0.30
KIND_VERSION=v0.30.0
# NetworkPolicy enforcement in every rig cluster (images/cni/manifest.yaml): kindnetd's policy engine.
NETPOL_VERSION=v0.8.0

# Images the rig builds (images/build.sh) and loads into the cluster (up.sh).
BASE_IMAGE=jetscale-rig/debian:bookworm
NODE_IMAGE="jetscale-rig/kind-node:$K8S_VERSION"
STANDIN_IMAGES=(jetscale-rig/postgres:15 jetscale-rig/redis:7 jetscale-rig/node:24)
EXAMPLE_IMAGES=(jetscale-rig/backend:rig jetscale-rig/frontend:rig)
# test/services/*: services shaped unlike the examples (issue 11), and the Go toolchain their Dockerfiles use.
SERVICE_IMAGES=(jetscale-rig/go-api:rig jetscale-rig/py-api:rig jetscale-rig/spa:rig jetscale-rig/worker:rig)
GOLANG_IMAGE=jetscale-rig/golang:1.26
REGISTRY_IMAGE=jetscale-rig/registry:3
INGRESS_IMAGE=jetscale-rig/ingress:rig
# the chart's wait init container (images/wait at the repo root), for services with migrations
WAIT_IMAGE=jetscale-rig/wait:rig

# rig_kubeconfig NAME: where up.sh writes the kubeconfig of cluster NAME (the default cluster keeps the
# historic path, so `kubectl --kubeconfig ~/.cache/jetscale-stack/rig/kubeconfig` keeps working).
rig_kubeconfig() {
  if [ "$1" = jetscale-rig ]; then printf '%s\n' "$RIG_CACHE/kubeconfig"; else printf '%s\n' "$RIG_CACHE/kubeconfig-$1"; fi
}

export DOCKER_BUILDKIT=0 # BuildKit/buildx is not installed here: legacy builder

log() { printf 'rig: %s\n' "$*" >&2; }
die() {
  printf 'rig: error: %s\n' "$*" >&2
  exit 1
}

# Step timings: `step NAME` starts a step (ending the previous one); `step_end` ends it. The summary is
# kept in RIG_TIMINGS (a file) so sub-scripts add to the same list.
RIG_TIMINGS="${RIG_TIMINGS:-}"
_step_name=""
_step_t0=0
step() {
  step_end
  _step_name="$1"
  _step_t0=$(date +%s.%N)
  log "== $1"
}
step_end() {
  if [ -n "$_step_name" ]; then
    local dt
    dt=$(awk -v a="$_step_t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    log "   $_step_name: ${dt}s"
    [ -n "$RIG_TIMINGS" ] && printf '%s=%ss\n' "$_step_name" "$dt" >>"$RIG_TIMINGS"
    _step_name=""
  fi
}

# hash_of ARGS...: a short hash of files' contents (paths relative to the repo or absolute; a
# directory means every file in it) and literal strings (prefixed with "=").
hash_of() {
  local a
  {
    for a in "$@"; do
      case "$a" in
        =*) printf 'str:%s\n' "${a#=}" ;;
        *)
          [ -e "$a" ] || a="$REPO_ROOT/$a"
          if [ -d "$a" ]; then
            (cd "$a" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
          else
            printf 'file:%s\n' "$(basename "$a")"
            sha256sum <"$a"
          fi
          ;;
      esac
    done
  } | sha256sum | cut -c1-12
}

# image_recipe IMAGE: the recipe hash label of a local image, empty when absent.
image_recipe() {
  docker image inspect -f '{{index .Config.Labels "jetscale.rig.recipe"}}' "$1" 2>/dev/null || true
}

# ensure_image IMAGE HASH BUILD_FN: IMAGE carrying label jetscale.rig.recipe=HASH exists afterwards.
# Order: the local image, else the saved tar in the cache, else BUILD_FN IMAGE HASH (which must
# build the image with that label); the result is saved to $RIG_CACHE/images/ for next time.
ensure_image() {
  local image="$1" hash="$2" fn="$3" tar
  tar="$RIG_CACHE/images/$(printf '%s' "$image" | tr '/:' '__')-$hash.tar"
  if [ "$(image_recipe "$image")" = "$hash" ]; then
    log "   $image: cached (recipe $hash)"
    return 0
  fi
  if [ -f "$tar" ]; then
    log "   $image: loading from $tar"
    docker load -i "$tar" >/dev/null
    [ "$(image_recipe "$image")" = "$hash" ] && return 0
  fi
  log "   $image: building (recipe $hash)"
  "$fn" "$image" "$hash"
  [ "$(image_recipe "$image")" = "$hash" ] || die "building $image did not produce label jetscale.rig.recipe=$hash"
  mkdir -p "$RIG_CACHE/images"
  rm -f "$RIG_CACHE/images/$(printf '%s' "$image" | tr '/:' '__')"-*.tar
  docker save -o "$tar.tmp" "$image" && mv "$tar.tmp" "$tar"
}

# image_tar IMAGE: path of the saved tar of an image made by ensure_image.
image_tar() {
  local hash
  hash="$(image_recipe "$1")"
  printf '%s' "$RIG_CACHE/images/$(printf '%s' "$1" | tr '/:' '__')-$hash.tar"
}

# tool NAME: path of a rig-built tool (tool-cache layout), else from PATH.
tool() {
  local name="$1" version=""
  if [ -f "$REPO_ROOT/src/pins.json" ]; then
    version="$(jq -r --arg n "$name" '(.tools[$n] // .rigTools[$n] // {}).version // empty' "$REPO_ROOT/src/pins.json")"
  fi
  if [ -n "$version" ] && [ -x "$TOOL_CACHE/$name/${version#v}/x64/$name" ]; then
    printf '%s' "$TOOL_CACHE/$name/${version#v}/x64/$name"
    return 0
  fi
  command -v "$name" 2>/dev/null || return 1
}

# apt_mirror: the Debian mirror URI this machine's apt uses (read at run time).
apt_mirror() {
  local uri=""
  if [ -d /etc/apt/sources.list.d ]; then
    uri="$(awk '
      /^[Tt]ypes:/ { deb = ($0 ~ /(^|[ \t])deb([ \t]|$)/) }
      /^URIs:/ { u = $2 }
      /^Suites:/ { if (deb && $0 ~ /bookworm([ \t]|$)/ && u !~ /security/) { print u; exit } }
    ' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)"
  fi
  if [ -z "$uri" ]; then
    uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' | head -n1)"
  fi
  [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d}: the rig reads the mirror from the machine's apt sources"
  printf '%s' "$uri"
}
