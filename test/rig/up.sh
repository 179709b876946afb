#!/usr/bin/env bash
# Rig only: a real Kind cluster on this machine, with no container registry.
#   bash test/rig/up.sh [--nodes 1|4] [--name NAME] [--load auto|kind|registry]
# Starts a Docker engine if none answers (docker.sh), builds the tools it lacks
# (tools/build.sh), builds every image here (images/build.sh: stand-ins, examples, the kind node
# image with everything preloaded; with JETSCALE_RIG_NODE_IMAGE set to a node image Docker already has,
# e.g. kind's published one, that image is used instead of building the rig's own), creates the cluster
# from kind/cluster.ci.yaml (one node) or
# kind/cluster.multinode.yaml (--nodes 4), loads our images, and checks that a pod of each image gets
# Ready, a Service resolves through CoreDNS from another pod and a PVC binds.
# Images reach the nodes by `kind load docker-image`, or through a local registry (jetscale-registry on
# 127.0.0.1:5001, wired as kind/create.sh does); auto = kind load for one node, the registry for four,
# the faster in test/rig/bench-load.sh's figures (see README.md).
# Then it installs the rig's ingress controller (ingress/install.sh: IngressClass jetscale-rig, ports 80/443 of
# every node, a default certificate for *.app.jetscale.ai signed by the rig CA $JETSCALE_RIG_CACHE/ingress/ca.crt).
# Idempotent: a second run reuses the cluster and every cached artefact ($JETSCALE_RIG_CACHE).
# Kubeconfig: $JETSCALE_RIG_CACHE/kubeconfig (cluster jetscale-rig) or $JETSCALE_RIG_CACHE/kubeconfig-NAME.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

nodes=1
name="${JETSCALE_RIG_NAME:-jetscale-rig}"
load=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes="${2:-}"; shift 2 ;;
    --nodes=*) nodes="${1#--nodes=}"; shift ;;
    --name) name="${2:-}"; shift 2 ;;
    --name=*) name="${1#--name=}"; shift ;;
    --load) load="${2:-}"; shift 2 ;;
    --load=*) load="${1#--load=}"; shift ;;
    -h|--help) sed -n 2,17p "$0"; exit 0 ;;
    *) die "unknown argument '$1'; accepted: --nodes 1|4, --name NAME, --load auto|kind|registry" ;;
  esac
done
case "$nodes" in
  1) config="$REPO_ROOT/kind/cluster.ci.yaml" ;;
  4) config="$REPO_ROOT/kind/cluster.multinode.yaml" ;;
  *) die "--nodes is '$nodes'; accepted: 1 (kind/cluster.ci.yaml) or 4 (kind/cluster.multinode.yaml)" ;;
esac
case "$load" in
  auto) if [ "$nodes" = 1 ]; then load=kind; else load=registry; fi ;;
  kind|registry) ;;
  *) die "--load is '$load'; accepted: auto, kind, registry" ;;
esac
[[ "$name" =~ ^[a-z0-9][a-z0-9-]{0,40}$ ]] || die "--name is '$name'; accepted: lower-case letters, digits and '-', at most 41 characters"
[ -f "$config" ] || die "$config not found (the kind configs live in kind/)"

mkdir -p "$RIG_CACHE"
export RIG_TIMINGS="$RIG_CACHE/timings.$$"
: >"$RIG_TIMINGS"
trap 'rm -f "$RIG_TIMINGS"' EXIT
t0=$(date +%s.%N)
KUBECONFIG_PATH="$(rig_kubeconfig "$name")"

step docker
bash "$RIG_DIR/docker.sh"

step tools
missing=()
for t in kind kubectl; do tool "$t" >/dev/null || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "building ${missing[*]} (test/rig/tools/build.sh)"
  bash "$RIG_DIR/tools/build.sh" "${missing[@]}" >&2
fi
KIND="$(tool kind)" || die "kind not found after test/rig/tools/build.sh kind"
KUBECTL="$(tool kubectl)" || die "kubectl not found after test/rig/tools/build.sh kubectl"
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

step images
node_image="${JETSCALE_RIG_NODE_IMAGE:-$NODE_IMAGE}"
if [ "$node_image" = "$NODE_IMAGE" ]; then
  bash "$RIG_DIR/images/build.sh" all
  node_recipe="$(image_recipe "$node_image")"
else
  # A node image made elsewhere (npm run main-job pulls kind's published one, pinned by digest): Docker must
  # already have it, since kind would try to pull it and nothing can be pulled on the rig's machines. Every
  # image but the rig's own node image is still built here. Its identity for reuse is its image ID.
  docker image inspect "$node_image" >/dev/null 2>&1 ||
    die "JETSCALE_RIG_NODE_IMAGE is '$node_image', which Docker does not have; pull it first (docker pull $node_image) or unset JETSCALE_RIG_NODE_IMAGE to build the rig's own $NODE_IMAGE"
  bash "$RIG_DIR/images/build.sh" base stand-ins examples services registry ingress wait
  node_recipe="image:$(docker image inspect -f '{{.Id}}' "$node_image")"
fi

step cluster
want_workers=$((nodes - 1))
reuse=0
if "$KIND" get clusters 2>/dev/null | grep -qx "$name"; then
  have_nodes="$("$KIND" get nodes --name "$name" 2>/dev/null | wc -l)"
  # the node image's recipe label (the rig's own image), else image:<its ID> (a pulled one; see step images)
  have_recipe="$(docker inspect -f '{{with index .Config.Labels "jetscale.rig.recipe"}}{{.}}{{else}}image:{{$.Image}}{{end}}' "$name-control-plane" 2>/dev/null || true)"
  if [ "$have_nodes" = "$nodes" ] && [ "$have_recipe" = "$node_recipe" ] &&
    "$KIND" get kubeconfig --name "$name" >"$KUBECONFIG_PATH.tmp" 2>/dev/null &&
    mv "$KUBECONFIG_PATH.tmp" "$KUBECONFIG_PATH" && kc get --raw /readyz >/dev/null 2>&1; then
    reuse=1
    log "cluster $name exists ($nodes node(s), node image recipe $node_recipe): reusing it"
  else
    log "cluster $name exists but differs (nodes $have_nodes, recipe ${have_recipe:-?}; want $nodes, $node_recipe): recreating"
    "$KIND" delete cluster --name "$name" >&2
  fi
fi
if [ $reuse = 0 ]; then
  log "kind create cluster --name $name --image $node_image --config ${config#"$REPO_ROOT"/}"
  "$KIND" create cluster --name "$name" --image "$node_image" --config "$config" \
    --kubeconfig "$KUBECONFIG_PATH" --wait 0s >&2
fi
log "waiting for $nodes node(s) Ready"
kc wait --for=condition=Ready nodes --all --timeout=300s >&2
[ "$(kc get nodes --no-headers | wc -l)" = "$nodes" ] || die "expected $nodes nodes, found: $(kc get nodes --no-headers)"
[ "$want_workers" -ge 0 ]

step load
LOAD_IMAGES=("${STANDIN_IMAGES[@]}" "$INGRESS_IMAGE")
for ex in "${EXAMPLE_IMAGES[@]}" "${SERVICE_IMAGES[@]}"; do
  if [ -n "$(image_recipe "$ex")" ]; then LOAD_IMAGES+=("$ex"); fi
done
if [ -n "$(image_recipe "$WAIT_IMAGE")" ]; then LOAD_IMAGES+=("$WAIT_IMAGE"); fi
if [ "$load" = kind ]; then
  log "kind load docker-image ${LOAD_IMAGES[*]}"
  "$KIND" load docker-image --name "$name" "${LOAD_IMAGES[@]}" >&2
  export RIG_IMAGE_PREFIX=""
else
  reg_name=jetscale-registry reg_port=5001
  if [ "$(docker inspect -f '{{.State.Running}}' "$reg_name" 2>/dev/null || true)" != true ]; then
    docker rm -f "$reg_name" >/dev/null 2>&1 || true
    log "starting the local registry $reg_name (127.0.0.1:$reg_port, $REGISTRY_IMAGE)"
    docker run -d --restart=always -p "127.0.0.1:$reg_port:5000" --name "$reg_name" "$REGISTRY_IMAGE" >/dev/null
  fi
  docker network connect kind "$reg_name" >/dev/null 2>&1 || true
  for n in $("$KIND" get nodes --name "$name"); do
    docker exec "$n" mkdir -p "/etc/containerd/certs.d/localhost:$reg_port"
    docker exec -i "$n" cp /dev/stdin "/etc/containerd/certs.d/localhost:$reg_port/hosts.toml" <"$REPO_ROOT/kind/registry-hosts.toml"
  done
  kc apply -f "$REPO_ROOT/kind/local-registry-hosting.yaml" >/dev/null
  for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$reg_port/v2/" >/dev/null && break; sleep 0.2; done
  for i in "${LOAD_IMAGES[@]}"; do
    log "docker push localhost:$reg_port/$i"
    docker tag "$i" "localhost:$reg_port/$i"
    docker push "localhost:$reg_port/$i" >/dev/null
  done
  export RIG_IMAGE_PREFIX="localhost:$reg_port/"
fi

step ingress
bash "$RIG_DIR/ingress/install.sh" "$name" "$KUBECONFIG_PATH" "$KUBECTL" "${RIG_IMAGE_PREFIX}$INGRESS_IMAGE"

step checks
check_images=()
for i in "${LOAD_IMAGES[@]}"; do [ "$i" = "$INGRESS_IMAGE" ] || check_images+=("$i"); done # ingress: checked by its step
bash "$RIG_DIR/checks/run.sh" "$KUBECONFIG_PATH" "$KUBECTL" "${check_images[@]}"

step_end
total=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
timings="$(paste -sd' ' "$RIG_TIMINGS")"
printf 'rig: kubeconfig %s\n' "$KUBECONFIG_PATH"
printf 'rig: cluster ready in %ss (%s node(s), images by %s; step timings %s)\n' "$total" "$nodes" "$load" "$timings"
