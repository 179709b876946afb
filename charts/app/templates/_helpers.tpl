{{/*
Component names and the wiring between components. Everything here reads only .Release and
.Values.global, so it gives the same answer from the umbrella chart and from any subchart.
*/}}

{{- define "app.postgres.fullname" -}}
{{- include "app.dependency.fullname" (dict "context" . "component" "postgres") -}}
{{- end -}}

{{- define "app.redis.fullname" -}}
{{- include "app.dependency.fullname" (dict "context" . "component" "redis") -}}
{{- end -}}

{{/*
The Secret with the database connection: global.postgres.existingSecret, or the one the postgres
subchart generates on first install ("<release>-postgres"). Keys: PGHOST, PGPORT, PGUSER, PGPASSWORD,
PGDATABASE and DATABASE_URL (an existing Secret needs at least PGHOST, PGUSER, PGPASSWORD, PGDATABASE).
*/}}
{{- define "app.postgres.secretName" -}}
{{- $existing := dig "postgres" "existingSecret" "" (.Values.global | default dict) -}}
{{- if $existing -}}
{{- $existing -}}
{{- else -}}
{{- include "app.postgres.fullname" . -}}
{{- end -}}
{{- end -}}

{{/*
The Secret with the Redis connection: global.redis.existingSecret, or the generated "<release>-redis".
Keys: REDIS_URL and REDIS_PASSWORD.
*/}}
{{- define "app.redis.secretName" -}}
{{- $existing := dig "redis" "existingSecret" "" (.Values.global | default dict) -}}
{{- if $existing -}}
{{- $existing -}}
{{- else -}}
{{- include "app.redis.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* Whether any enabled service needs a platform service ("postgres" or "redis"): "true" or "". */}}
{{- define "app.needed" -}}
{{- $platform := .platform -}}
{{- range $name, $svc := fromJson (include "app.services" .context) -}}
{{- if has $platform $svc.needs }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/*
Settings a stage cannot run without. Each failure names the setting, the value and what is accepted.
Called from templates/validate.yaml (umbrella context: it sees every subchart's values).
*/}}
{{- define "app.validate" -}}
{{- $env := include "app.environment" . -}}
{{- $g := .Values.global -}}
{{- if and $g.seed (eq $env "live") -}}
{{- fail "global.seed is true with global.environment=live: a seed writes data, so it never runs in live; accepted: false (seeds run in local, ci and preview)" -}}
{{- end -}}
{{- if and .Values.ingress.enabled (has $env (list "preview" "live")) -}}
{{- $_ := required (printf "ingress.host is required when global.environment=%s: the DNS name the deployer gives this release (e.g. pr-42.preview.example.com)" $env) .Values.ingress.host -}}
{{- end -}}
{{- if not (has .Values.ingress.stripPrefix (list "" "annotation" "traefik")) -}}
{{- fail (printf "ingress.stripPrefix is %s; accepted: annotation (jetscale.dev/strip-prefix on the Ingress, which the rig's controller reads), traefik (a Traefik Middleware) or \"\" (traefik when ingress.className is traefik and the cluster serves Traefik Middlewares, else annotation)" (toJson .Values.ingress.stripPrefix)) -}}
{{- end -}}
{{- if and .Values.ingress.enabled .Values.ingress.tls.enabled -}}
{{- $_ := required "ingress.host is required when ingress.tls.enabled=true: the certificate is issued for that DNS name" .Values.ingress.host -}}
{{- $_ := required "ingress.tls.secretName is required when ingress.tls.enabled=true: the Secret that holds (or that cert-manager writes) the certificate, e.g. jetscale-tls" .Values.ingress.tls.secretName -}}
{{- end -}}
{{- include "app.validate.services" . -}}
{{- $needsPostgres := include "app.needed" (dict "context" . "platform" "postgres") -}}
{{- $needsRedis := include "app.needed" (dict "context" . "platform" "redis") -}}
{{- if and (eq $env "live") (or $needsPostgres .Values.postgres.enabled) -}}
{{- $_ := required "global.postgres.existingSecret is required when global.environment=live: name an existing Secret with PGHOST, PGUSER, PGPASSWORD, PGDATABASE (optionally PGPORT, DATABASE_URL); live never generates database credentials" $g.postgres.existingSecret -}}
{{- end -}}
{{- if and (eq $env "live") (or $needsRedis .Values.redis.enabled) -}}
{{- $_ := required "global.redis.existingSecret is required when global.environment=live: name an existing Secret with REDIS_URL (and REDIS_PASSWORD when redis.enabled=true); live never generates credentials" $g.redis.existingSecret -}}
{{- end -}}
{{- if and (not .Values.postgres.enabled) $needsPostgres -}}
{{- $_ := required "global.postgres.existingSecret is required when postgres.enabled=false and a service needs postgres: it reads its database connection (PGHOST, PGUSER, PGPASSWORD, PGDATABASE) from that Secret" $g.postgres.existingSecret -}}
{{- end -}}
{{- if and (not .Values.redis.enabled) $needsRedis -}}
{{- $_ := required "global.redis.existingSecret is required when redis.enabled=false and a service needs redis: it reads REDIS_URL from that Secret" $g.redis.existingSecret -}}
{{- end -}}
{{- if and .Values.gateway.enabled (not .Values.gateway.parentRefs) -}}
{{- fail "gateway.parentRefs is required when gateway.enabled=true: list the Gateway(s) the HTTPRoute attaches to, e.g. [{name: shared, namespace: gateway}]" -}}
{{- end -}}
{{- end -}}

{{/*
How the strip Ingress asks for its strip: ingress.stripPrefix, or when it is "" a Traefik Middleware where the
class is traefik and the cluster serves Traefik's Middleware API (so a stripped route never reaches Traefik
unstripped in silence), else the annotation for traefik (a cluster without Traefik's CRDs, a CI Kind cluster whose
checks go through port-forwards, cannot take a Middleware) and the rig's class; any other class must say which.
*/}}
{{- define "app.stripMechanism" -}}
{{- if .Values.ingress.stripPrefix -}}{{ .Values.ingress.stripPrefix }}
{{- else if and (eq .Values.ingress.className "traefik") (.Capabilities.APIVersions.Has "traefik.io/v1alpha1/Middleware") -}}traefik
{{- else if has .Values.ingress.className (list "traefik" "jetscale-rig") -}}annotation
{{- else -}}
{{- fail (printf "ingress.stripPrefix is unset and ingress.className is %s, a class whose controller may not read the jetscale.dev/strip-prefix annotation, so a route with stripPrefix would reach its service unstripped; set ingress.stripPrefix: traefik (a Traefik Middleware) or annotation (your controller reads jetscale.dev/strip-prefix), or drop stripPrefix from the routes" (toJson .Values.ingress.className)) -}}
{{- end -}}
{{- end -}}
