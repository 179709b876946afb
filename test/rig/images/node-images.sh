#!/usr/bin/env bash
# Rig only (sourced by build.sh): the images a kind node runs, and the node image itself.
# shellcheck disable=SC2154

K8S_BIN="$RIG_CACHE/k8s/$K8S_VERSION/bin"
KIND_MODULE_DIR=""
CNI_IMAGE=jetscale-rig/cni:v1
NETPOL_IMAGE="jetscale-rig/kube-network-policies:$NETPOL_VERSION"
PROVISIONER_IMAGE=docker.io/kindest/local-path-provisioner:v20250214-acbabc1a
HELPER_IMAGE=docker.io/kindest/local-path-helper:v20241212-8ac705d0
KIND_BASE_IMAGE=jetscale-rig/kind-base:bookworm

# The kind module source (images/base files, the storage manifest) from the Go module cache.
kind_module() {
  if [ -z "$KIND_MODULE_DIR" ]; then
    KIND_MODULE_DIR="$(cd "$RIG_CACHE/tmp" && go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | jq -r '.Dir // empty')"
    [ -d "$KIND_MODULE_DIR/images/base/files" ] || die "go mod download sigs.k8s.io/kind@$KIND_VERSION gave no images/base/files"
  fi
  printf '%s' "$KIND_MODULE_DIR"
}

k8s_bins() {
  local b
  for b in kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
    [ -x "$K8S_BIN/$b" ] || return 1
  done
  [ -f "$K8S_BIN/.complete" ]
}
ensure_k8s_bins() {
  if ! k8s_bins; then
    log "   Kubernetes $K8S_VERSION binaries: building with test/rig/tools/build.sh k8s-server (long the first time)"
    bash "$RIG_DIR/tools/build.sh" k8s-server >&2
  fi
  k8s_bins || die "Kubernetes binaries missing in $K8S_BIN after test/rig/tools/build.sh k8s-server"
}
k8s_bin_hash() { cat "$K8S_BIN/.recipe" 2>/dev/null || sha256sum "$K8S_BIN/$1" | cut -c1-12; }

gobin() { bash "$IMG/gobin.sh" "$@" | tail -n1; }
etcd_bin() {
  gobin etcd go.etcd.io/etcd/server/v3 "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" "go.etcd.io/etcd/api/v3@v$ETCD_VERSION" \
    "go.etcd.io/etcd/client/pkg/v3@v$ETCD_VERSION" "go.etcd.io/etcd/client/v3@v$ETCD_VERSION" "go.etcd.io/etcd/pkg/v3@v$ETCD_VERSION"
}
coredns_bin() { gobin coredns github.com/coredns/coredns "github.com/coredns/coredns@$COREDNS_VERSION"; }
provisioner_bin() { gobin local-path-provisioner github.com/rancher/local-path-provisioner "github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION"; }
netpol_bin() { gobin kube-network-policies sigs.k8s.io/kube-network-policies/cmd "sigs.k8s.io/kube-network-policies@$NETPOL_VERSION"; }
crictl_bin() { gobin crictl sigs.k8s.io/cri-tools/cmd/crictl "sigs.k8s.io/cri-tools@$CRICTL_VERSION"; }

# ctx_with RECIPE_DIR FILE...: a temporary build context with the recipe and the given files.
ctx_with() {
  local dir="$1" ctx
  shift
  ctx="$(mktemp -d "$RIG_CACHE/tmp/ctx.XXXXXX")"
  cp -r "$IMG/$dir/." "$ctx/"
  [ $# -gt 0 ] && cp -L "$@" "$ctx/"
  printf '%s' "$ctx"
}
build_in_ctx() {
  local image="$1" hash="$2" ctx="$3"
  docker_build "$image" "$hash" "$ctx"
  rm -rf "$ctx"
}

pause_c() {
  local zip
  command -v unzip >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip >/dev/null
  zip="$(cd "$RIG_CACHE/tmp" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | jq -r '.Zip // empty')"
  unzip -p "$zip" "k8s.io/kubernetes@$K8S_VERSION/build/pause/linux/pause.c"
}
build_pause() {
  local ctx
  ctx="$(ctx_with pause)"
  command -v gcc >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
  pause_c >"$ctx/pause.c"
  gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_TAG-rig" -o "$ctx/pause" "$ctx/pause.c"
  build_in_ctx "$1" "$2" "$ctx"
}
build_etcd() { build_in_ctx "$1" "$2" "$(ctx_with etcd "$(etcd_bin)")"; }
build_coredns() { build_in_ctx "$1" "$2" "$(ctx_with coredns "$(coredns_bin)")"; }
build_kube() {
  local ctx
  ctx="$(ctx_with kube)"
  mkdir -p "$ctx/bin"
  cp "$K8S_BIN/$KUBE_BIN" "$ctx/bin/"
  build_in_ctx "$1" "$2" "$ctx"
}
build_kube_proxy() { build_in_ctx "$1" "$2" "$(ctx_with kube-proxy "$K8S_BIN/kube-proxy" "$IMG/common/iptables-wrapper" "$IMG/common/install-iptables-wrapper.sh")"; }
build_provisioner() { build_in_ctx "$1" "$2" "$(ctx_with local-path-provisioner "$(provisioner_bin)")"; }
build_helper() { build_in_ctx "$1" "$2" "$(ctx_with local-path-helper)"; }
build_cni() { build_in_ctx "$1" "$2" "$(ctx_with cni "$IMG/common/iptables-wrapper" "$IMG/common/install-iptables-wrapper.sh")"; }
build_netpol() { build_in_ctx "$1" "$2" "$(ctx_with netpol "$(netpol_bin)" "$IMG/common/iptables-wrapper" "$IMG/common/install-iptables-wrapper.sh")"; }
build_kind_base() {
  local ctx
  ctx="$(ctx_with kind-base "$(crictl_bin)")"
  mkdir -p "$ctx/kind"
  cp -r "$(kind_module)/images/base/files/." "$ctx/kind/"
  chmod -R u+w "$ctx/kind"
  build_in_ctx "$1" "$2" "$ctx"
}

# Every image preloaded into the node: "IMAGE HASH BUILD_FN" lines (hash = recipe + inputs + base).
NODE_IMAGE_LIST=()
plan_node_images() {
  local b bh
  bh="=$(base_hash)"
  NODE_IMAGE_LIST=(
    "registry.k8s.io/pause:$PAUSE_TAG $(hash_of "$IMG/pause" "=$K8S_VERSION") build_pause"
    "registry.k8s.io/etcd:$ETCD_TAG $(hash_of "$IMG/etcd" "=$ETCD_VERSION") build_etcd"
    "registry.k8s.io/coredns/coredns:$COREDNS_VERSION $(hash_of "$IMG/coredns" "=$COREDNS_VERSION") build_coredns"
    "registry.k8s.io/kube-proxy:$K8S_VERSION $(hash_of "$IMG/kube-proxy" "$IMG/common" "$bh" "=$(k8s_bin_hash kube-proxy)") build_kube_proxy"
    "$PROVISIONER_IMAGE $(hash_of "$IMG/local-path-provisioner" "=$LOCAL_PATH_VERSION") build_provisioner"
    "$HELPER_IMAGE $(hash_of "$IMG/local-path-helper" "$bh") build_helper"
    "$CNI_IMAGE $(hash_of "$IMG/cni" "$IMG/common" "$bh") build_cni"
    "$NETPOL_IMAGE $(hash_of "$IMG/netpol" "$IMG/common" "$bh" "=$NETPOL_VERSION") build_netpol"
  )
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    NODE_IMAGE_LIST+=("registry.k8s.io/$b:$K8S_VERSION $(hash_of "$IMG/kube" "=$b" "=$(k8s_bin_hash "$b")") build_kube")
  done
}

build_node_images() {
  local line image hash fn
  ensure_image "$BASE_IMAGE" "$(base_hash)" build_base
  ensure_k8s_bins
  plan_node_images
  for line in "${NODE_IMAGE_LIST[@]}"; do
    read -r image hash fn <<<"$line"
    KUBE_BIN="$(basename "${image%%:*}")" ensure_image "$image" "$hash" "$fn"
  done
}

kind_base_hash() { hash_of "$IMG/kind-base" "=$(base_hash)" "=$KIND_VERSION" "=$CRICTL_VERSION"; }
kind_node_hash() {
  local line parts=()
  plan_node_images
  for line in "${NODE_IMAGE_LIST[@]}"; do parts+=("=$line"); done
  hash_of "$IMG/node-images.sh" "$IMG/cni/manifest.yaml" "=$(kind_base_hash)" "=$K8S_VERSION" \
    "=$(k8s_bin_hash kubeadm)" "${parts[@]}"
}

# The node image: kind-base + kubeadm/kubelet/kubectl + /kind/version + manifests + every image above
# imported into containerd's k8s.io namespace (pinned), committed, as `kind build node-image` does.
assemble_kind_node() {
  local image="$1" hash="$2" id line img tar
  id="rig-node-build-$$"
  docker rm -f "$id" >/dev/null 2>&1 || true
  docker run -d --name "$id" --entrypoint=sleep --security-opt seccomp=unconfined "$KIND_BASE_IMAGE" infinity >/dev/null
  # shellcheck disable=SC2064
  trap "docker rm -f -v $id >/dev/null 2>&1 || true" RETURN
  for b in kubeadm kubelet kubectl; do
    docker cp "$K8S_BIN/$b" "$id:/usr/bin/$b"
    docker exec "$id" chmod 0755 "/usr/bin/$b"
  done
  docker exec "$id" chown root:root /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl
  docker exec "$id" mkdir -p /kind/manifests
  printf '%s' "$K8S_VERSION" | docker exec -i "$id" sh -c 'cat > /kind/version'
  sed -e "s#RIG_CNI_IMAGE#docker.io/$CNI_IMAGE#" -e "s#RIG_NETPOL_IMAGE#docker.io/$NETPOL_IMAGE#" "$IMG/cni/manifest.yaml" | docker exec -i "$id" sh -c 'cat > /kind/manifests/default-cni.yaml'
  awk '/^const defaultStorageManifest = `/ { on = 1; next } on && /^`/ { exit } on { print }' \
    "$(kind_module)/pkg/build/nodeimage/const_storage.go" |
    sed -e "s#\` + storageProvisionerImage + \`#$PROVISIONER_IMAGE#" -e "s#\` + storageHelperImage + \`#$HELPER_IMAGE#" |
    docker exec -i "$id" sh -c 'cat > /kind/manifests/default-storage.yaml'
  docker exec "$id" grep -q "image: $PROVISIONER_IMAGE" /kind/manifests/default-storage.yaml ||
    die "could not extract kind's default storage manifest from the kind module"
  docker exec "$id" bash -c 'nohup containerd >/tmp/containerd.log 2>&1 &'
  for _ in $(seq 1 60); do docker exec "$id" ctr version >/dev/null 2>&1 && break; sleep 0.5; done
  plan_node_images
  for line in "${NODE_IMAGE_LIST[@]}"; do
    img="${line%% *}"
    tar="$(image_tar "$img")"
    [ -f "$tar" ] || die "missing $tar (run build.sh node-images)"
    log "   preloading $img"
    docker exec -i "$id" ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned \
      --all-platforms --no-unpack --digests - <"$tar" >/dev/null
  done
  docker exec "$id" ctr --namespace=k8s.io images list -q | grep -v '^sha256:\|^import-' | sed 's/^/rig:      /' >&2
  docker exec "$id" bash -c 'pkill containerd; for i in $(seq 1 50); do pgrep containerd >/dev/null || exit 0; sleep 0.2; done'
  docker exec "$id" rm -f /tmp/containerd.log
  docker commit --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' \
    --change "LABEL jetscale.rig.recipe=$hash" "$id" "$image" >/dev/null
}

build_kind_node() {
  build_node_images
  ensure_image "$KIND_BASE_IMAGE" "$(kind_base_hash)" build_kind_base
  ensure_image "$NODE_IMAGE" "$(kind_node_hash)" assemble_kind_node
}
