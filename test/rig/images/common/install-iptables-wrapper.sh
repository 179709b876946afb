#!/bin/sh
# Point iptables/ip6tables(-save,-restore) at the wrapper that picks the node's backend on first use.
set -e
install -m 0755 /tmp/iptables-wrapper /usr/sbin/iptables-wrapper
for c in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  ln -sf /usr/sbin/iptables-wrapper "/usr/sbin/$c"
done
rm -f /tmp/iptables-wrapper
