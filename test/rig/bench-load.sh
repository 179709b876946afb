#!/usr/bin/env bash
# Rig only: how fast do our images reach the nodes? `kind load docker-image` against a local
# registry wired into the nodes' containerd (kind's local-registry recipe, as kind/create.sh does:
# registry `jetscale-registry` on 127.0.0.1:5001 and the kind network, kind/registry-hosts.toml as
# /etc/containerd/certs.d/localhost:5001/hosts.toml, kind/local-registry-hosting.yaml).
#   bash test/rig/bench-load.sh [--nodes 1|4]      (default 4; run after up.sh has built the images)
# Each round gets a new cluster `jetscale-rig-bench` (containerd keeps unpacked layers after an image
# is removed, so a reused node would flatter whichever round comes second); cluster creation is not
# timed. Prints the figures and deletes the bench cluster and registry at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
nodes=4
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes="${2:-}"; shift 2 ;;
    *) die "unknown argument '$1'; accepted: --nodes 1|4" ;;
  esac
done
case "$nodes" in
  1) config="$REPO_ROOT/kind/cluster.ci.yaml" ;;
  4) config="$REPO_ROOT/kind/cluster.multinode.yaml" ;;
  *) die "--nodes is '$nodes'; accepted: 1 or 4" ;;
esac
KIND="$(tool kind)" || die "kind not found"
KUBECTL="$(tool kubectl)" || die "kubectl not found"
name=jetscale-rig-bench
kubeconfig="$RIG_CACHE/kubeconfig.bench"
kc() { "$KUBECTL" --kubeconfig "$kubeconfig" "$@"; }
images=("${STANDIN_IMAGES[@]}")
for ex in "${EXAMPLE_IMAGES[@]}"; do [ -n "$(image_recipe "$ex")" ] && images+=("$ex"); done
for i in "${images[@]}"; do [ -n "$(image_recipe "$i")" ] || die "$i is not built; run bash test/rig/up.sh first"; done
[ -n "$(image_recipe "$NODE_IMAGE")" ] || die "$NODE_IMAGE is not built; run bash test/rig/up.sh first"
reg_name=jetscale-registry
reg_port=5001
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
size_mb=$(docker image inspect -f '{{.Size}}' "${images[@]}" | awk '{ s += $1 } END { printf "%.0f", s / 1048576 }')
log "${#images[@]} images (${size_mb} MB unpacked, sharing base layers), $nodes node(s)"

cleanup() {
  "$KIND" delete cluster --name "$name" >/dev/null 2>&1 || true
  docker rm -f -v "$reg_name" >/dev/null 2>&1 || true
  rm -f "$kubeconfig"
}
trap cleanup EXIT
fresh_cluster() {
  "$KIND" delete cluster --name "$name" >/dev/null 2>&1 || true
  log "   new cluster $name ($nodes node(s), not timed)"
  "$KIND" create cluster --name "$name" --image "$NODE_IMAGE" --config "$config" --kubeconfig "$kubeconfig" --wait 0s >/dev/null 2>&1
  mapfile -t node_names < <("$KIND" get nodes --name "$name")
}

log "round 1: kind load docker-image"
fresh_cluster
t=$(now)
"$KIND" load docker-image --name "$name" "${images[@]}" >/dev/null 2>&1
t_load=$(since "$t")
log "   kind load: ${t_load}s"

log "round 2: local registry"
bash "$RIG_DIR/images/build.sh" registry
fresh_cluster
docker rm -f -v "$reg_name" >/dev/null 2>&1 || true
docker run -d -p "127.0.0.1:$reg_port:5000" --name "$reg_name" "$REGISTRY_IMAGE" >/dev/null
docker network connect kind "$reg_name" 2>/dev/null || true
for n in "${node_names[@]}"; do
  docker exec "$n" mkdir -p "/etc/containerd/certs.d/localhost:$reg_port"
  docker exec -i "$n" cp /dev/stdin "/etc/containerd/certs.d/localhost:$reg_port/hosts.toml" <"$REPO_ROOT/kind/registry-hosts.toml"
done
kc apply -f "$REPO_ROOT/kind/local-registry-hosting.yaml" >/dev/null
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$reg_port/v2/" >/dev/null && break; sleep 0.2; done
t=$(now)
for i in "${images[@]}"; do
  docker tag "$i" "localhost:$reg_port/$i"
  docker push "localhost:$reg_port/$i" >/dev/null
done
t_push=$(since "$t")
t=$(now)
pids=()
for n in "${node_names[@]}"; do
  (for i in "${images[@]}"; do docker exec "$n" crictl pull "localhost:$reg_port/$i" >/dev/null; done) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
t_pull=$(since "$t")
t=$(now)
for i in "${images[@]}"; do docker push "localhost:$reg_port/$i" >/dev/null; done
t_repush=$(since "$t")
t_reg=$(awk -v a="$t_push" -v b="$t_pull" 'BEGIN { printf "%.1f", a + b }')
log "   push ${t_push}s + pull on every node ${t_pull}s = ${t_reg}s; push again unchanged ${t_repush}s"

faster=$(awk -v a="$t_load" -v b="$t_reg" 'BEGIN { print (a <= b) ? "kind load" : "registry" }')
printf 'bench-load: %d images (%s MB), %d node(s): kind load %ss; registry push %ss + pull on every node %ss = %ss (re-push unchanged %ss); faster: %s\n' \
  "${#images[@]}" "$size_mb" "$nodes" "$t_load" "$t_push" "$t_pull" "$t_reg" "$t_repush" "$faster"
