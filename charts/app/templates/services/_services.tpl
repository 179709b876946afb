{{/*
The services declaration (.Values.services): one entry per workload the team runs, keyed by name. Every
template under templates/services ranges over the result of "app.services": the enabled entries, each
merged onto "app.service.defaults" (so a service a values file adds gets the same defaults as the examples).
*/}}

{{/* Defaults of every declared service; values.yaml's backend and frontend state only what differs. */}}
{{- define "app.service.defaults" -}}
enabled: true
image:
  repository: ""
  tag: ""
  digest: ""
  pullPolicy: IfNotPresent
servicePort: 80
command: []
args: []
workingDir: ""
env: {}
envFrom: []
needs: []
routes: {}
migrations: {}
seed: {}
replicas: 1
autoscaling:
  enabled: false
  minReplicas: 3
  maxReplicas: 10
  targetCPUUtilizationPercentage: 70
podDisruptionBudget:
  enabled: false
  maxUnavailable: 1
resources:
  requests: {cpu: 100m, memory: 128Mi}
  limits: {cpu: 500m, memory: 256Mi}
securityContext:
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
writablePaths: []
tmpSizeLimit: 256Mi
terminationGracePeriodSeconds: 30
preStopSleepSeconds: 5
podAnnotations: {}
topologySpreadConstraints: []
nodeSelector: {}
tolerations: []
affinity: {}
{{- end -}}

{{/* JSON map name → service (defaults merged) of the enabled services; read with fromJson. */}}
{{- define "app.services" -}}
{{- $out := dict -}}
{{- range $name, $svc := (.Values.services | default dict) -}}
{{- if not (kindIs "invalid" $svc) -}}
{{- /* Helm's null deletes only keys values.yaml has; for a service a values file adds, null deletes too. */ -}}
{{- $merged := mergeOverwrite (fromYaml (include "app.service.defaults" $)) (fromJson (include "app.stripNulls" $svc)) -}}
{{- if $merged.enabled -}}
{{- $_ := set $out $name $merged -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* A map without its null values, at every depth (JSON). */}}
{{- define "app.stripNulls" -}}
{{- $out := dict -}}
{{- range $k, $v := . -}}
{{- if kindIs "map" $v -}}
{{- $_ := set $out $k (fromJson (include "app.stripNulls" $v)) -}}
{{- else if not (kindIs "invalid" $v) -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
Text for an env value: whole numbers without an exponent (JSON made 10485760 a float), and every "$" doubled,
because Kubernetes reads "$(NAME)" as a reference and "$$" as "$": the container gets the text as written.
*/}}
{{- define "app.envText" -}}
{{- $v := . -}}
{{- if and (kindIs "float64" $v) (eq $v (float64 (int64 $v))) -}}
{{- int64 $v | toString | replace "$" "$$" -}}
{{- else -}}
{{- toString $v | replace "$" "$$" -}}
{{- end -}}
{{- end -}}

{{/* The platform keys an env entry may map (platform: <key>) and the Secret key each reads. */}}
{{- define "app.platformSecretKeys" -}}
postgres.url: DATABASE_URL
postgres.host: PGHOST
postgres.port: PGPORT
postgres.user: PGUSER
postgres.password: PGPASSWORD
postgres.database: PGDATABASE
redis.url: REDIS_URL
redis.password: REDIS_PASSWORD
{{- end -}}

{{/*
A container's env from the declaration: PORT (when it listens) and GIT_SHA unless the env map sets them, then
the env map by name. Forms: "text" | {value} | {valueFrom} | {serviceURL: <service>, path} | {platform: <key>, query}. A
platform entry with a query reads the Secret into a hidden JETSCALE_<KEY> first and appends the query with
Kubernetes' $(VAR) expansion, so a DSN gains sslmode=disable without a Secret of its own. Plain values have
"$(" escaped to "$$(": they are text, not references. Takes (dict "context" $ "name" <svc> "svc" <svc>).
*/}}
{{- define "app.service.env" -}}
{{- $ctx := .context -}}
{{- $svc := .svc -}}
{{- $keys := fromYaml (include "app.platformSecretKeys" $ctx) -}}
{{- $services := fromJson (include "app.services" $ctx) -}}
{{- if and $svc.port (not (hasKey $svc.env "PORT")) }}
- name: PORT
  value: {{ $svc.port | toString | quote }}
{{- end }}
{{- if not (hasKey $svc.env "GIT_SHA") }}
- name: GIT_SHA
  value: {{ dig "gitSha" "" ($ctx.Values.global | default dict) | default "unknown" | quote }}
{{- end }}
{{- $hidden := dict }}
{{- range $name, $e := $svc.env }}
{{- if and (kindIs "map" $e) (hasKey $e "platform") (hasKey $keys (toString $e.platform)) $e.query }}
{{- $secretKey := index $keys $e.platform }}
{{- if not (hasKey $hidden $secretKey) }}
{{- $_ := set $hidden $secretKey true }}
- name: {{ printf "JETSCALE_%s" $secretKey }}
  valueFrom:
    secretKeyRef:
      name: {{ include (printf "app.%s.secretName" (index (splitList "." $e.platform) 0)) $ctx }}
      key: {{ $secretKey }}
{{- end }}
{{- end }}
{{- end }}
{{- range $name, $e := $svc.env }}
- name: {{ $name }}
{{- if not (kindIs "map" $e) }}
  value: {{ include "app.envText" $e | quote }}
{{- else if hasKey $e "valueFrom" }}
  valueFrom:
    {{- toYaml $e.valueFrom | nindent 4 }}
{{- else if hasKey $e "serviceURL" }}
{{- $peer := index $services (toString $e.serviceURL) }}
  value: {{ printf "http://%s:%s%s" (include "app.dependency.fullname" (dict "context" $ctx "component" $e.serviceURL)) (include "app.envText" $peer.servicePort) (include "app.envText" ($e.path | default "")) | quote }}
{{- else if hasKey $e "platform" }}
{{- if eq (toString $e.platform) "port" }}
  value: {{ $svc.port | toString | quote }}
{{- else if eq (toString $e.platform) "gitSha" }}
  value: {{ dig "gitSha" "" ($ctx.Values.global | default dict) | default "unknown" | quote }}
{{- else if eq (toString $e.platform) "release" }}
  value: {{ $ctx.Release.Name | quote }}
{{- else }}
{{- $secretKey := index $keys $e.platform }}
{{- if $e.query }}
{{- $q := list }}
{{- range $k, $v := $e.query }}{{ $q = append $q (printf "%s=%s" ($k | urlquery) (include "app.envText" $v | urlquery)) }}{{ end }}
  value: {{ printf "$(JETSCALE_%s)?%s" $secretKey (join "&" $q) | quote }}
{{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ include (printf "app.%s.secretName" (index (splitList "." $e.platform) 0)) $ctx }}
      key: {{ $secretKey }}
{{- end }}
{{- end }}
{{- else }}
  value: {{ include "app.envText" $e.value | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* envFrom: {platform: postgres|redis} mounts that connection Secret; secretRef/configMapRef as Kubernetes. */}}
{{- define "app.service.envFrom" -}}
{{- $ctx := .context -}}
{{- range .svc.envFrom }}
{{- if hasKey . "platform" }}
- secretRef:
    name: {{ include (printf "app.%s.secretName" .platform) $ctx }}
{{- else }}
- {{ toYaml . | nindent 2 | trim }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
One probe from the declaration ({httpGet|tcpSocket|exec|grpc, timings, enabled}); an httpGet or tcpSocket
without a port probes the container's "http" port. Empty when off. Takes (dict "probe" <p>).
*/}}
{{- define "app.service.probe" -}}
{{- $p := deepCopy (.probe | default dict) -}}
{{- if and $p (ne (toString (dig "enabled" true $p)) "false") -}}
{{- $_ := unset $p "enabled" -}}
{{- range $handler := list "httpGet" "tcpSocket" -}}
{{- if hasKey $p $handler -}}
{{- $h := (index $p $handler) | default dict -}}
{{- if not $h.port }}{{ $_ := set $h "port" "http" }}{{ end -}}
{{- $_ := set $p $handler $h -}}
{{- end -}}
{{- end -}}
{{- toYaml $p -}}
{{- end -}}
{{- end -}}

{{/*
The probes of a service: its declared ones; with no probes block, a TCP readiness probe on its port (a
worker, with no port, gets none). Returns YAML {startupProbe, livenessProbe, readinessProbe}.
*/}}
{{- define "app.service.probes" -}}
{{- $svc := .svc -}}
{{- $probes := $svc.probes | default dict -}}
{{- if and (not $probes) $svc.port -}}
{{- $probes = dict "readiness" (dict "tcpSocket" dict "periodSeconds" 5 "timeoutSeconds" 3 "failureThreshold" 3) -}}
{{- end -}}
{{- range $kind := list "startup" "liveness" "readiness" }}
{{- with (include "app.service.probe" (dict "probe" (index $probes $kind)) | trim) }}
{{ $kind }}Probe:
  {{- . | nindent 2 }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The routes of every service, longest path first within a host (so /api wins over /), as a JSON list of
{host, path, pathType, stripPrefix, service, servicePort, name}. host "" is the stage's ingress.host.
*/}}
{{- define "app.routes" -}}
{{- $byKey := dict -}}
{{- range $svcName, $svc := fromJson (include "app.services" .) -}}
{{- range $routeName, $r := $svc.routes -}}
{{- $host := $r.host | default $.Values.ingress.host | default "" -}}
{{- $key := printf "%s|%04d|%s|%s|%s" $host (sub 9999 (len $r.path)) $r.path $svcName $routeName -}}
{{- $_ := set $byKey $key (dict "host" $host "path" $r.path "pathType" ($r.pathType | default "Prefix") "stripPrefix" ($r.stripPrefix | default false) "service" $svcName "servicePort" $svc.servicePort "name" $routeName) -}}
{{- end -}}
{{- end -}}
{{- $out := list -}}
{{- range $key := keys $byKey | sortAlpha -}}
{{- $out = append $out (index $byKey $key) -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
Cross-references a schema cannot check (one map's keys against another's). Each failure names the field, the
value and the accepted form. Called from app.validate.
*/}}
{{- define "app.validate.services" -}}
{{- $services := fromJson (include "app.services" .) -}}
{{- $keys := fromYaml (include "app.platformSecretKeys" .) -}}
{{- range $old := list "backend" "frontend" -}}
{{- if hasKey $.Values $old -}}
{{- fail (printf "%s: moved to services.%s (replicaCount is now replicas, extraEnv the map env, logLevel env.LOG_LEVEL); see charts/app/README.md" $old $old) -}}
{{- end -}}
{{- end -}}
{{- $seen := dict -}}
{{- range $name, $svc := $services -}}
{{- $at := printf "services.%s" $name -}}
{{- if and $svc.migrations (not $svc.migrations.command) -}}
{{- fail (printf "%s.migrations has no command: give command, a non-empty list such as [/usr/local/bin/api, migrate], or set migrations: {} for none" $at) -}}
{{- end -}}
{{- if and $svc.migrations.command (gt (len (printf "%s-%s-migrate-xxxxxxxx" $.Release.Name $name)) 63) -}}
{{- fail (printf "%s.migrations: the Job name %s-%s-migrate-xxxxxxxx is over 63 characters; shorten the service name or the release" $at $.Release.Name $name) -}}
{{- end -}}
{{- if and $svc.migrations.command (hasKey $services (printf "%s-migrate" $name)) -}}
{{- fail (printf "services.%s-migrate: the name is taken by %s.migrations (its Job's pods and NetworkPolicy are named %s-migrate); accepted: a service name other than %s-migrate while %s declares migrations" $name $at $name $name $name) -}}
{{- end -}}
{{- if and $svc.seed (not $svc.seed.command) -}}
{{- fail (printf "%s.seed has no command: give command, a non-empty list such as [npm, run, seed], or set seed: {} for none" $at) -}}
{{- end -}}
{{- if has "live" ($svc.seed.stages | default list) -}}
{{- fail (printf "%s.seed.stages has \"live\": a seed writes data, so it never runs in live; accepted: local, ci, preview (default [preview])" $at) -}}
{{- end -}}
{{- if and $svc.seed.command (gt (len (printf "%s-%s-seed-xxxxxxxx" $.Release.Name $name)) 63) -}}
{{- fail (printf "%s.seed: the Job name %s-%s-seed-xxxxxxxx is over 63 characters; shorten the service name or the release" $at $.Release.Name $name) -}}
{{- end -}}
{{- if and $svc.seed.command (hasKey $services (printf "%s-seed" $name)) -}}
{{- fail (printf "services.%s-seed: the name is taken by %s.seed (its Job's pods and NetworkPolicy are named %s-seed); accepted: a service name other than %s-seed while %s declares a seed" $name $at $name $name $name) -}}
{{- end -}}
{{- if gt (len (printf "%s-%s" $.Release.Name $name)) 63 -}}
{{- fail (printf "%s: the name %s-%s is over 63 characters; shorten the service name or the release" $at $.Release.Name $name) -}}
{{- end -}}
{{- $_ := required (printf "%s.image.repository is required: an image repository, e.g. ghcr.io/acme/%s" $at $name) $svc.image.repository -}}
{{- range $need := $svc.needs -}}
{{- if not (or (has $need (list "postgres" "redis")) (hasKey $services $need)) -}}
{{- fail (printf "%s.needs has %q: not an enabled service; accepted: postgres, redis, or one of [%s]" $at $need (keys $services | sortAlpha | join ", ")) -}}
{{- end -}}
{{- if eq $need $name -}}
{{- fail (printf "%s.needs has %q: a service cannot need itself" $at $need) -}}
{{- end -}}
{{- if and (hasKey $services $need) (not (index $services $need).port) -}}
{{- fail (printf "%s.needs has %q, which has no port (a worker): a service is needed to be called; remove it from needs" $at $need) -}}
{{- end -}}
{{- end -}}
{{- range $envName, $e := $svc.env -}}
{{- if kindIs "map" $e -}}
{{- if hasKey $e "serviceURL" -}}
{{- $peer := toString $e.serviceURL -}}
{{- if not (hasKey $services $peer) -}}
{{- fail (printf "%s.env.%s.serviceURL is %q: not an enabled service; accepted: one of [%s]" $at $envName $peer (keys $services | sortAlpha | join ", ")) -}}
{{- end -}}
{{- if not (has $peer $svc.needs) -}}
{{- fail (printf "%s.env.%s.serviceURL is %q, which is not in %s.needs; add it there (it opens the network path and orders startup)" $at $envName $peer $at) -}}
{{- end -}}
{{- else if hasKey $e "platform" -}}
{{- $p := toString $e.platform -}}
{{- if hasKey $keys $p -}}
{{- $platform := index (splitList "." $p) 0 -}}
{{- if not (has $platform $svc.needs) -}}
{{- fail (printf "%s.env.%s.platform is %q, but %s.needs has no %s; add it there" $at $envName $p $at $platform) -}}
{{- end -}}
{{- else if not (has $p (list "port" "gitSha" "release")) -}}
{{- fail (printf "%s.env.%s.platform is %q; accepted: %s, port, gitSha, release" $at $envName $p (keys $keys | sortAlpha | join ", ")) -}}
{{- else if and (eq $p "port") (not $svc.port) -}}
{{- fail (printf "%s.env.%s.platform is \"port\", but the service has no port (a worker); give it a port or drop the entry" $at $envName) -}}
{{- end -}}
{{- if and $e.query (not (has $p (list "postgres.url" "redis.url"))) -}}
{{- fail (printf "%s.env.%s.query is set on platform %q; accepted: query only on postgres.url or redis.url (it appends ?key=value to the URL)" $at $envName $p) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $i, $ef := $svc.envFrom -}}
{{- if and (hasKey $ef "platform") (not (has $ef.platform $svc.needs)) -}}
{{- fail (printf "%s.envFrom[%d].platform is %q, but %s.needs has no %s; add it there" $at $i $ef.platform $at $ef.platform) -}}
{{- end -}}
{{- end -}}
{{- range $kind, $p := ($svc.probes | default dict) -}}
{{- if and $p (ne (toString (dig "enabled" true $p)) "false") -}}
{{- $handlers := list -}}
{{- range $h := list "httpGet" "tcpSocket" "exec" "grpc" }}{{ if hasKey $p $h }}{{ $handlers = append $handlers $h }}{{ end }}{{ end -}}
{{- if ne (len $handlers) 1 -}}
{{- fail (printf "%s.probes.%s has %s: give exactly one of httpGet, tcpSocket, exec, grpc (set the default's to null to replace it, e.g. httpGet: null)" $at $kind (ternary "none" (join " and " $handlers) (empty $handlers))) -}}
{{- end -}}
{{- if and (not $svc.port) (or (hasKey $p "httpGet") (hasKey $p "tcpSocket")) (not (dig (index $handlers 0) "port" "" $p)) -}}
{{- fail (printf "%s.probes.%s.%s has no port and the service has none (a worker): give the probe a port, or use exec" $at $kind (index $handlers 0)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $checkName, $c := ($svc.checks | default dict) -}}
{{- $method := upper (dig "request" "method" "GET" ($c | default dict)) -}}
{{- if and (not (has $method (list "GET" "HEAD" "OPTIONS"))) (or (not (hasKey ($c | default dict) "stages")) (has "live" $c.stages)) -}}
{{- fail (printf "%s.checks.%s sends %s and would run in live, which only reads; add stages: [local, ci, preview] to it" $at $checkName $method) -}}
{{- end -}}
{{- end -}}
{{- if and $svc.routes (not $svc.port) -}}
{{- fail (printf "%s.routes: the service has no port (a worker); give it a port or remove its routes" $at) -}}
{{- end -}}
{{- range $routeName, $r := $svc.routes -}}
{{- $where := printf "%s %s (%s)" ($r.host | default $.Values.ingress.host | default "*") $r.path ($r.pathType | default "Prefix") -}}
{{- if hasKey $seen $where -}}
{{- fail (printf "%s.routes.%s: host and path %q are already routed by %s; each host and path goes to one service" $at $routeName $where (index $seen $where)) -}}
{{- end -}}
{{- $_ := set $seen $where (printf "services.%s.routes.%s" $name $routeName) -}}
{{- if $r.stripPrefix -}}
{{- if eq ($r.pathType | default "Prefix") "Exact" -}}
{{- fail (printf "%s.routes.%s.stripPrefix is true with pathType Exact; accepted: stripPrefix only on a Prefix route (an Exact path leaves nothing to keep)" $at $routeName) -}}
{{- end -}}
{{- if eq $r.path "/" -}}
{{- fail (printf "%s.routes.%s.stripPrefix is true on path \"/\"; accepted: stripPrefix only on a path below /, e.g. /py" $at $routeName) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
