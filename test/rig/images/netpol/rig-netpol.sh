#!/bin/sh
# Rig only: kube-network-policies, with the first packet of each pod connection steered to its NFQUEUE by iptables.
# kube-network-policies steers them with an nftables `queue` rule, but the test machines' kernel is built without
# nft's queue expression (CONFIG_NFT_QUEUE unset; its own sync then fails with "no such file or directory" and
# changes nothing), while iptables' NFQUEUE target is there. So this installs the rules its nftables table would
# hold (kube-network-policies v0.8.0, syncNFTablesRules), in mangle POSTROUTING (before SNAT, after DNAT):
#   traffic of the node's root processes (kubelet probes) and established/related packets pass;
#   every other packet from or to a pod address (POD_SUBNET) goes to queue QUEUE_ID, fail-closed (no bypass).
# The kernel has the conntrack fix kube-network-policies' DNS workaround is for (6.12+), so DNS is queued too.
# The rules go when kube-network-policies exits (as its own table does), and come back with the next start.
set -u
: "${POD_SUBNET:?POD_SUBNET is required}" "${QUEUE_ID:?QUEUE_ID is required}"
chain=RIG-NETPOL
log() { echo "rig-netpol: $*"; }

rules() {
  iptables -t mangle -N "$chain" 2>/dev/null || iptables -t mangle -F "$chain"
  iptables -t mangle -A "$chain" -m owner --uid-owner 0 -j RETURN
  iptables -t mangle -A "$chain" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
  iptables -t mangle -A "$chain" -s "$POD_SUBNET" -j NFQUEUE --queue-num "$QUEUE_ID"
  iptables -t mangle -A "$chain" -d "$POD_SUBNET" -j NFQUEUE --queue-num "$QUEUE_ID"
  iptables -t mangle -C POSTROUTING -j "$chain" 2>/dev/null || iptables -t mangle -A POSTROUTING -j "$chain"
}
cleanup() {
  iptables -t mangle -D POSTROUTING -j "$chain" 2>/dev/null
  iptables -t mangle -F "$chain" 2>/dev/null
  iptables -t mangle -X "$chain" 2>/dev/null
  log "rules removed"
}

/usr/local/bin/kube-network-policies --nfqueue-id="$QUEUE_ID" --netfilter-bug-1766-fix=false "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
# its queue must be bound before packets are sent to it (fail-closed): wait for the bind in /proc
for _ in $(seq 1 120); do
  awk -v q="$QUEUE_ID" '$1 == q { found = 1 } END { exit !found }' /proc/net/netfilter/nfnetlink_queue 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if kill -0 "$pid" 2>/dev/null; then
  rules && log "queue $QUEUE_ID bound: pod traffic ($POD_SUBNET) steered to it"
fi
wait "$pid"
code=$?
# wait returns early when a signal arrives: wait again for the process itself
kill -0 "$pid" 2>/dev/null && { wait "$pid"; code=$?; }
cleanup
exit "$code"
