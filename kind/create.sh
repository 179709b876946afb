#!/bin/sh
# Create (or reuse) a kind cluster wired to a local registry on 127.0.0.1:5001, the way kind's
# "local registry" guide does it (kind-with-registry.sh):
#   1. start the registry container `jetscale-registry` (-p 127.0.0.1:5001:5000) unless it runs;
#   2. kind create cluster --config <config> --name <name> [--image <node image>] unless it exists
#      (the configs set containerd's config_path = "/etc/containerd/certs.d");
#   3. copy kind/registry-hosts.toml into every node as /etc/containerd/certs.d/localhost:5001/hosts.toml;
#   4. connect the registry to the `kind` docker network;
#   5. apply kind/local-registry-hosting.yaml (KEP-1755 ConfigMap, read by Tilt and skaffold).
#
# Usage: kind/create.sh [--config kind/cluster.local.yaml] [--name jetscale-local] [--image kindest/node:v1.34.4]
#                       [--no-registry]
# Environment: JETSCALE_REGISTRY_IMAGE  image of the registry container (default registry:3)
#              KIND, KUBECTL, DOCKER    binaries to use (default: from PATH)
set -eu

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
config="$here/cluster.local.yaml"
name=jetscale-local
image=
registry=yes
reg_name=jetscale-registry
reg_port=5001
reg_image=${JETSCALE_REGISTRY_IMAGE:-registry:3}
KIND=${KIND:-kind}
KUBECTL=${KUBECTL:-kubectl}
DOCKER=${DOCKER:-docker}

usage() {
  sed -n 's/^# \{0,1\}//; 2,/^set -eu/p' "$0" | sed '$d' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --config) config=${2:?--config needs a file, e.g. kind/cluster.local.yaml}; shift 2 ;;
    --name) name=${2:?--name needs a cluster name, e.g. jetscale-local}; shift 2 ;;
    --image) image=${2:?--image needs a node image, e.g. kindest/node:v1.34.4}; shift 2 ;;
    --no-registry) registry=no; shift ;;
    -h | --help) usage ;;
    *) echo "kind/create.sh: unknown argument '$1' (accepted: --config FILE, --name NAME, --image IMAGE, --no-registry)" >&2; exit 2 ;;
  esac
done

if [ ! -f "$config" ]; then
  echo "kind/create.sh: --config '$config' is not a file (expected one of $here/cluster.*.yaml)" >&2
  exit 2
fi
case "$name" in
  *[!a-z0-9.-]* | '') echo "kind/create.sh: --name '$name' is not a valid cluster name (lower-case letters, digits, '.', '-')" >&2; exit 2 ;;
esac

# 1. registry
if [ "$registry" = yes ] && [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$reg_name" 2>/dev/null || true)" != true ]; then
  "$DOCKER" rm -f "$reg_name" >/dev/null 2>&1 || true
  "$DOCKER" run -d --restart=always -p "127.0.0.1:${reg_port}:5000" --network bridge --name "$reg_name" "$reg_image"
fi

# 2. cluster
if "$KIND" get clusters 2>/dev/null | grep -qx "$name"; then
  echo "kind/create.sh: reusing kind cluster '$name'"
else
  set -- create cluster --config "$config" --name "$name"
  [ -n "$image" ] && set -- "$@" --image "$image"
  "$KIND" "$@"
fi

[ "$registry" = yes ] || exit 0

# 3. containerd hosts file on every node
reg_dir="/etc/containerd/certs.d/localhost:${reg_port}"
for node in $("$KIND" get nodes --name "$name"); do
  "$DOCKER" exec "$node" mkdir -p "$reg_dir"
  "$DOCKER" exec -i "$node" cp /dev/stdin "$reg_dir/hosts.toml" <"$here/registry-hosts.toml"
done

# 4. registry on the kind network
if [ "$("$DOCKER" inspect -f '{{json .NetworkSettings.Networks.kind}}' "$reg_name")" = null ]; then
  "$DOCKER" network connect kind "$reg_name"
fi

# 5. tell tools about it
"$KUBECTL" --context "kind-$name" apply -f "$here/local-registry-hosting.yaml"
