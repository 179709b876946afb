#!/usr/bin/env bash
# Rig only: install the rig's ingress controller into a rig cluster (called by up.sh).
#   install.sh CLUSTER KUBECONFIG KUBECTL IMAGE
# Creates, once per rig cache, a CA (ca.crt, ca.key) and a default certificate for *.app.jetscale.ai and
# app.jetscale.ai signed by it under $JETSCALE_RIG_CACHE/ingress/. Tests trust the CA with
# NODE_EXTRA_CA_CERTS (or curl --cacert) and reach a host through the controller with --resolve / the
# action's `resolve` input, pointed at the node's address on Docker's `kind` network. Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -eq 4 ] || die "usage: install.sh CLUSTER KUBECONFIG KUBECTL IMAGE"
cluster="$1" kubeconfig="$2" kubectl="$3" image="$4"
kc() { "$kubectl" --kubeconfig "$kubeconfig" "$@"; }
command -v openssl >/dev/null || die "openssl not found: install the Debian package openssl"

dir="$RIG_CACHE/ingress"
mkdir -p "$dir"
if [ ! -s "$dir/ca.crt" ] || [ ! -s "$dir/tls.crt" ]; then
  log "   ingress: creating the rig CA and a certificate for *.app.jetscale.ai in $dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=jetscale rig test CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=*.app.jetscale.ai" \
    -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
  printf 'subjectAltName=DNS:*.app.jetscale.ai,DNS:app.jetscale.ai\nextendedKeyUsage=serverAuth\n' >"$dir/tls.ext"
  openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 825 \
    -extfile "$dir/tls.ext" -out "$dir/tls.crt" 2>/dev/null
  rm -f "$dir/tls.csr" "$dir/tls.ext"
fi

sed "s|image: IMAGE|image: $image|" "$RIG_DIR/ingress/ingress.yaml" | kc apply -f - >/dev/null
kc -n jetscale-ingress create secret tls default-cert --cert "$dir/tls.crt" --key "$dir/tls.key" \
  --dry-run=client -o yaml | kc apply -f - >/dev/null
# a new image (same tag) or certificate: restart, so the pods run what was just applied
want="$(image_recipe "$INGRESS_IMAGE")-$(sha256sum <"$dir/tls.crt" | cut -c1-12)"
if [ "$(kc -n jetscale-ingress get ds rig-ingress -o jsonpath='{.spec.template.metadata.annotations.jetscale\.ai/recipe}')" != "$want" ]; then
  kc -n jetscale-ingress patch ds rig-ingress --type merge \
    -p "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"jetscale.ai/recipe\":\"$want\"}}}}}" >/dev/null
fi
kc -n jetscale-ingress rollout status ds/rig-ingress --timeout=180s >&2

# reachable from this machine: the controller answers 404 for a host no Ingress names, over HTTPS with the
# rig CA's certificate
ip="$(docker inspect -f '{{with index .NetworkSettings.Networks "kind"}}{{.IPAddress}}{{end}}' "$cluster-control-plane")"
[ -n "$ip" ] || die "no address of $cluster-control-plane on Docker's kind network"
code=000
for _ in $(seq 1 60); do # after an engine restart the pod comes back a little after its status says so
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$dir/ca.crt" \
    --resolve "rig-check.app.jetscale.ai:443:$ip" https://rig-check.app.jetscale.ai/ || true)"
  [ "$code" = 404 ] && break
  sleep 1
done
[ "$code" = 404 ] || die "the rig ingress on $ip:443 answered '$code' for an unknown host; expected 404"
log "   ingress: https://*.app.jetscale.ai served on $ip (CA $dir/ca.crt)"
