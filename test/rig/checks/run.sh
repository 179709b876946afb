#!/usr/bin/env bash
# Rig only: acceptance checks on a running rig cluster.
#   run.sh KUBECONFIG KUBECTL IMAGE...
# In namespace rig-check: a Ready pod of each given image (postgres and redis stand-ins with a
# password, Postgres on a PVC; the Node runtime serving HTTP; the example backend/frontend wired to
# them), then a Job in another pod resolves the Services through CoreDNS and fetches from them.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
kubeconfig="$1" kubectl="$2"
shift 2
kc() { "$kubectl" --kubeconfig "$kubeconfig" "$@"; }
ns=rig-check
# Images come either from `kind load` (their own names, never pulled) or from the local registry
# (RIG_IMAGE_PREFIX=localhost:5001/, pulled by the nodes when missing).
prefix="${RIG_IMAGE_PREFIX:-}"
policy=Never
[ -n "$prefix" ] && policy=IfNotPresent
images=" $* "
has() { [[ "$images" == *" $1 "* ]]; }

manifests() {
  cat <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
---
apiVersion: v1
kind: Secret
metadata:
  name: rig-credentials
  namespace: $ns
stringData:
  POSTGRES_USER: rig
  POSTGRES_PASSWORD: rig-check-pw
  POSTGRES_DB: rig
  REDIS_PASSWORD: rig-check-pw
  DATABASE_URL: postgres://rig:rig-check-pw@rig-postgres:5432/rig
  REDIS_URL: redis://:rig-check-pw@rig-redis:6379/0
YAML
  if has jetscale-rig/postgres:15; then
    cat <<YAML
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: rig-postgres
  namespace: $ns
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: rig-postgres
  namespace: $ns
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: rig-postgres}}
  template:
    metadata: {labels: {app: rig-postgres, rig-check: "true"}}
    spec:
      securityContext: {runAsNonRoot: true}
      containers:
        - name: postgres
          image: ${prefix}jetscale-rig/postgres:15
          imagePullPolicy: $policy
          envFrom: [{secretRef: {name: rig-credentials}}]
          env: [{name: PGDATA, value: /var/lib/postgresql/data/pgdata}]
          ports: [{containerPort: 5432}]
          readinessProbe:
            exec: {command: ["/bin/sh", "-c", "exec pg_isready -q -h 127.0.0.1 -U \"\$POSTGRES_USER\" -d \"\$POSTGRES_DB\""]}
            periodSeconds: 2
          volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
      volumes: [{name: data, persistentVolumeClaim: {claimName: rig-postgres}}]
---
apiVersion: v1
kind: Service
metadata: {name: rig-postgres, namespace: $ns}
spec: {selector: {app: rig-postgres}, ports: [{port: 5432, targetPort: 5432}]}
YAML
  fi
  if has jetscale-rig/redis:7; then
    cat <<YAML
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: rig-redis
  namespace: $ns
spec:
  replicas: 1
  selector: {matchLabels: {app: rig-redis}}
  template:
    metadata: {labels: {app: rig-redis, rig-check: "true"}}
    spec:
      securityContext: {runAsNonRoot: true}
      containers:
        - name: redis
          image: ${prefix}jetscale-rig/redis:7
          imagePullPolicy: $policy
          command: [redis-server]
          args: [--requirepass, \$(REDIS_PASSWORD)]
          env:
            - {name: REDIS_PASSWORD, valueFrom: {secretKeyRef: {name: rig-credentials, key: REDIS_PASSWORD}}}
            - {name: REDISCLI_AUTH, valueFrom: {secretKeyRef: {name: rig-credentials, key: REDIS_PASSWORD}}}
          ports: [{containerPort: 6379}]
          readinessProbe:
            exec: {command: [redis-cli, ping]}
            periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata: {name: rig-redis, namespace: $ns}
spec: {selector: {app: rig-redis}, ports: [{port: 6379, targetPort: 6379}]}
YAML
  fi
  if has jetscale-rig/node:24; then
    cat <<YAML
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: rig-node
  namespace: $ns
spec:
  replicas: 1
  selector: {matchLabels: {app: rig-node}}
  template:
    metadata: {labels: {app: rig-node, rig-check: "true"}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 1000}
      containers:
        - name: node
          image: ${prefix}jetscale-rig/node:24
          imagePullPolicy: $policy
          command: [node, -e]
          args:
            - |
              require('node:http').createServer((q, s) => { s.setHeader('content-type', 'application/json'); s.end(JSON.stringify({ok: true, node: process.version})); }).listen(8080);
          ports: [{containerPort: 8080}]
          readinessProbe:
            httpGet: {path: /, port: 8080}
            periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata: {name: rig-node, namespace: $ns}
spec: {selector: {app: rig-node}, ports: [{port: 80, targetPort: 8080}]}
YAML
  fi
  for ex in backend frontend; do
    has "jetscale-rig/$ex:rig" || continue
    cat <<YAML
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: rig-$ex
  namespace: $ns
spec:
  replicas: 1
  selector: {matchLabels: {app: rig-$ex}}
  template:
    metadata: {labels: {app: rig-$ex, rig-check: "true"}}
    spec:
      securityContext: {runAsNonRoot: true}
      containers:
        - name: $ex
          image: ${prefix}jetscale-rig/$ex:rig
          imagePullPolicy: $policy
          env:
            - {name: PORT, value: "8080"}
            - {name: GIT_SHA, value: rig-check}
            - {name: BACKEND_URL, value: "http://rig-backend:80"}
            - {name: DATABASE_URL, valueFrom: {secretKeyRef: {name: rig-credentials, key: DATABASE_URL}}}
            - {name: REDIS_URL, valueFrom: {secretKeyRef: {name: rig-credentials, key: REDIS_URL}}}
          ports: [{containerPort: 8080}]
          readinessProbe:
            httpGet: {path: $([ $ex = backend ] && echo /readyz || echo /healthz), port: 8080}
            periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata: {name: rig-$ex, namespace: $ns}
spec: {selector: {app: rig-$ex}, ports: [{port: 80, targetPort: 8080}]}
YAML
  done
}

log "applying the check workloads (namespace $ns)"
manifests | kc apply -f - >/dev/null
log "waiting for a Ready pod of each image: $*"
for d in $(kc -n "$ns" get deploy -o name); do
  kc -n "$ns" rollout status "$d" --timeout=300s >/dev/null || {
    kc -n "$ns" get pods -o wide >&2
    kc -n "$ns" describe "$d" >&2
    die "$d did not become Ready"
  }
  log "   $d Ready"
done
if has jetscale-rig/postgres:15; then
  phase="$(kc -n "$ns" get pvc rig-postgres -o jsonpath='{.status.phase}')"
  [ "$phase" = Bound ] || die "PVC rig-postgres is '$phase', expected Bound"
  log "   pvc/rig-postgres Bound ($(kc -n "$ns" get pvc rig-postgres -o jsonpath='{.spec.volumeName}'))"
fi

# DNS + Service routing from another pod: resolve each Service's name through CoreDNS and connect.
targets=()
for s in $(kc -n "$ns" get svc -o jsonpath='{range .items[*]}{.metadata.name}:{.spec.ports[0].port}{" "}{end}'); do targets+=("$s"); done
kc -n "$ns" delete job rig-dns --ignore-not-found --wait=true >/dev/null
cat <<YAML | kc apply -f - >/dev/null
apiVersion: batch/v1
kind: Job
metadata: {name: rig-dns, namespace: $ns}
spec:
  backoffLimit: 0
  activeDeadlineSeconds: 120
  template:
    spec:
      restartPolicy: Never
      securityContext: {runAsNonRoot: true, runAsUser: 1000}
      containers:
        - name: dns
          image: ${prefix}jetscale-rig/node:24
          imagePullPolicy: $policy
          command: [node, -e]
          args:
            - |
              const dns = require('node:dns/promises'); const net = require('node:net');
              const targets = '${targets[*]}'.split(' ').filter(Boolean);
              (async () => {
                for (const t of targets) {
                  const [name, port] = t.split(':');
                  const fqdn = name + '.$ns.svc.cluster.local';
                  const { address } = await dns.lookup(fqdn);
                  await new Promise((ok, bad) => { const c = net.connect(+port, address, () => { c.end(); ok(); }); c.on('error', bad); c.setTimeout(5000, () => bad(new Error('timeout ' + t))); });
                  console.log('resolved ' + fqdn + ' -> ' + address + ', connected to port ' + port);
                }
              })().catch((e) => { console.error(String(e)); process.exit(1); });
YAML
if ! kc -n "$ns" wait --for=condition=Complete job/rig-dns --timeout=150s >/dev/null 2>&1; then
  kc -n "$ns" logs job/rig-dns >&2 || true
  die "the DNS check (job rig-dns) failed"
fi
kc -n "$ns" logs job/rig-dns | sed 's/^/rig:    /' >&2
