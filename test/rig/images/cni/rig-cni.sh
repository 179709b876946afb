#!/bin/sh
# Rig CNI daemon: what kindnetd does for a kind cluster, minus network policies (kube-network-policies, its own
# DaemonSet in manifest.yaml, enforces them).
#  - writes /etc/cni/net.d/10-kindnet.conflist (ptp + host-local on this node's podCIDR, portmap)
#  - keeps a route to every other node's podCIDR via that node's InternalIP
#  - masquerades traffic from pods to anything outside POD_SUBNET
# Env: NODE_NAME, POD_SUBNET, CONTROL_PLANE_ENDPOINT (host:port; kind adds it) or the in-cluster
# KUBERNETES_SERVICE_HOST/PORT.
set -u
sa=/var/run/secrets/kubernetes.io/serviceaccount
api="https://${CONTROL_PLANE_ENDPOINT:-${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}}"
conf=/etc/cni/net.d/10-kindnet.conflist
log() { echo "rig-cni: $*"; }
log "node ${NODE_NAME}, pod subnet ${POD_SUBNET}, API ${api}"

ensure_masq() {
  iptables -t nat -C POSTROUTING -s "$POD_SUBNET" ! -d "$POD_SUBNET" -m comment --comment rig-cni -j MASQUERADE 2>/dev/null ||
    iptables -t nat -A POSTROUTING -s "$POD_SUBNET" ! -d "$POD_SUBNET" -m comment --comment rig-cni -j MASQUERADE
}

trap 'exit 0' TERM INT
while :; do
  if nodes=$(curl -sS --fail --max-time 10 --cacert "$sa/ca.crt" -H "Authorization: Bearer $(cat "$sa/token")" "$api/api/v1/nodes"); then
    cidr=$(printf '%s' "$nodes" | jq -r --arg n "$NODE_NAME" '.items[] | select(.metadata.name == $n) | .spec.podCIDR // empty')
    if [ -n "$cidr" ]; then
      want=$(jq -n --arg cidr "$cidr" '{cniVersion: "0.3.1", name: "kindnet", plugins: [
        {type: "ptp", ipMasq: false, mtu: 1500, ipam: {type: "host-local", dataDir: "/run/cni-ipam-state",
          routes: [{dst: "0.0.0.0/0"}], ranges: [[{subnet: $cidr}]]}},
        {type: "portmap", capabilities: {portMappings: true}}]}')
      if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
        printf '%s\n' "$want" >"$conf.tmp" && mv "$conf.tmp" "$conf"
        log "wrote $conf for $cidr"
      fi
      ensure_masq
      printf '%s' "$nodes" | jq -r --arg n "$NODE_NAME" '.items[] | select(.metadata.name != $n and (.spec.podCIDR // "") != "")
          | "\(.spec.podCIDR) \([.status.addresses[] | select(.type == "InternalIP") | .address][0] // "")"' |
        while read -r other ip; do
          [ -n "$ip" ] || continue
          case "$ip" in *:*) continue ;; esac
          if ! ip route show "$other" | grep -q "via $ip "; then
            ip route replace "$other" via "$ip" && log "route $other via $ip"
          fi
        done
    fi
  else
    log "cannot list nodes yet"
  fi
  sleep 5 &
  wait $!
done
