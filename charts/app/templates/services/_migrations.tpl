{{/*
Migrations (services.<n>.migrations): a plain Job per service, "<release>-<svc>-migrate-<h8>", run with the
service's image and env, and a "wait" init container in the service's pods that holds them until that Job is
Complete (and fails them when it Failed). Not a Helm hook: the Job is applied with the release's Secrets,
Postgres and NetworkPolicies, so a first install has what the migration connects to, and `helm template`
users (Tilt) get the same order.
*/}}

{{/* Whether the service declares a migration: "true" or "". Takes the service. */}}
{{- define "app.migration.enabled" -}}
{{- if (dig "command" list (.migrations | default dict)) }}true{{ end -}}
{{- end -}}

{{/*
Whether this render runs the service's seed (services.<n>.seed): it declares one, the deployer asked for seeds
(global.seed: the action sets it when a preview is created or reseeded, and in ci-kind) and the stage is one of
seed.stages (default [preview]). "true" or "". Takes (dict "context" $ "svc" <service>).
*/}}
{{- define "app.seed.enabled" -}}
{{- $s := .svc.seed | default dict -}}
{{- if and (dig "command" list $s) .context.Values.global.seed (has (include "app.environment" .context) ($s.stages | default (list "preview"))) }}true{{ end -}}
{{- end -}}

{{/*
The components of a service's Job pods this render has, as a JSON list: "<svc>-migrate" (migrations) and
"<svc>-seed" (a seed it runs). Their NetworkPolicies and the peers that let them in name them. Takes (dict
"context" $ "component" <svc> "svc" <service>).
*/}}
{{- define "app.jobs.components" -}}
{{- $out := list -}}
{{- if include "app.migration.enabled" .svc }}{{ $out = append $out (printf "%s-migrate" .component) }}{{ end -}}
{{- if include "app.seed.enabled" . }}{{ $out = append $out (printf "%s-seed" .component) }}{{ end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Whether the service's pods or Jobs run the wait container (a migration, or a seed): "true" or "". */}}
{{- define "app.wait.used" -}}
{{- if or (include "app.migration.enabled" .svc) (include "app.seed.enabled" .) }}true{{ end -}}
{{- end -}}

{{/* Whether any enabled service runs the wait container: "true" or "". Takes the root context. */}}
{{- define "app.migrations.any" -}}
{{- range $name, $svc := fromJson (include "app.services" .) -}}
{{- include "app.wait.used" (dict "context" $ "svc" $svc) -}}
{{- end -}}
{{- end -}}

{{/*
The migration Job's pod template (metadata and spec) of a service. Takes (dict "context" $ "component" <svc>
"svc" <service>). Its hash names the Job: a Job's pod template is immutable, so anything that changes it (the
image, command, args, env, and also a label or GIT_SHA) makes a new Job, which runs the migration again (a
migration must be idempotent), and Helm prunes the old one.
*/}}
{{- define "app.migration.template" -}}
{{- $ctx := .context -}}
{{- $name := .component -}}
{{- $svc := .svc -}}
{{- $m := $svc.migrations -}}
{{- $c := dict "context" $ctx "component" $name "svc" $svc -}}
{{- $waitPostgres := and $ctx.Values.postgres.enabled (has "postgres" $svc.needs) -}}
metadata:
  labels:
    {{- include "app.labels" (dict "context" $ctx "component" (printf "%s-migrate" $name)) | nindent 4 }}
    app.kubernetes.io/component: migration
  {{- with $svc.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- $wait := and $waitPostgres (dict "name" "wait-postgres" "args" (list "statefulset" (include "app.postgres.fullname" $ctx))) }}
  {{- include "app.migration.podSpec" (dict "c" $c "m" $m "container" "migrate" "wait" $wait) | nindent 2 }}
{{- end -}}

{{- define "app.migration.podSpec" -}}
{{- $ctx := .c.context -}}
{{- $name := .c.component -}}
{{- $svc := .c.svc -}}
{{- $m := .m -}}
{{- $c := .c -}}
{{- $wait := .wait -}}
serviceAccountName: {{ include "app.dependency.fullname" $c }}
automountServiceAccountToken: false
enableServiceLinks: false
restartPolicy: Never
{{- with (include "app.imagePullSecrets" $ctx | trim) }}
{{ . }}
{{- end }}
securityContext:
  {{- include "app.podSecurityContext" $svc | nindent 2 }}
{{- with $svc.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $svc.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if or $wait $svc.writablePaths }}
initContainers:
  {{- if $wait }}
  {{- include "app.wait.container" (dict "context" $ctx "svc" $svc "name" $wait.name "args" $wait.args) | nindent 2 }}
  {{- end }}
  {{- with (include "app.writablePaths.initContainer" $c | trim) }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end }}
containers:
  - name: {{ .container }}
    image: {{ include "app.image" (dict "image" $svc.image "key" (printf "services.%s.image" $name)) }}
    imagePullPolicy: {{ $svc.image.pullPolicy }}
    command:
      {{- toYaml $m.command | nindent 6 }}
    {{- with $m.args }}
    args:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $svc.workingDir }}
    workingDir: {{ . | quote }}
    {{- end }}
    env:
      {{- include "app.service.env" $c | nindent 6 }}
    {{- with (include "app.service.envFrom" $c | trim) }}
    envFrom:
      {{- . | nindent 6 }}
    {{- end }}
    securityContext:
      {{- include "app.containerSecurityContext" $svc | nindent 6 }}
    resources:
      {{- toYaml $svc.resources | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      {{- with (include "app.writablePaths.mounts" $svc | trim) }}
      {{- . | nindent 6 }}
      {{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ $svc.tmpSizeLimit }}
  {{- with (include "app.writablePaths.volumes" $svc | trim) }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- if $wait }}
  {{- include "app.wait.volume" $ctx | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* The migration Job's name, "<release>-<svc>-migrate-<h8>". Takes (dict "context" $ "component" <svc> "svc" <service>). */}}
{{- define "app.migration.name" -}}
{{- $h8 := include "app.migration.template" . | sha256sum | trunc 8 -}}
{{- printf "%s-%s-migrate-%s" .context.Release.Name .component $h8 -}}
{{- end -}}

{{/*
The seed Job's pod template (services.<n>.seed): the service's image, env and pod settings, like its migration.
It waits for the service's migration Job when it has one (the seed runs on the migrated schema), else for the
in-cluster Postgres when the service needs it. Takes (dict "context" $ "component" <svc> "svc" <service>).
*/}}
{{- define "app.seed.template" -}}
{{- $ctx := .context -}}
{{- $name := .component -}}
{{- $svc := .svc -}}
{{- $c := dict "context" $ctx "component" $name "svc" $svc -}}
{{- $wait := dict -}}
{{- if include "app.migration.enabled" $svc -}}
{{- $wait = dict "name" "wait-migrations" "args" (list "job" (include "app.migration.name" $c)) -}}
{{- else if and $ctx.Values.postgres.enabled (has "postgres" $svc.needs) -}}
{{- $wait = dict "name" "wait-postgres" "args" (list "statefulset" (include "app.postgres.fullname" $ctx)) -}}
{{- end -}}
metadata:
  labels:
    {{- include "app.labels" (dict "context" $ctx "component" (printf "%s-seed" $name)) | nindent 4 }}
    app.kubernetes.io/component: seed
  {{- with $svc.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- include "app.migration.podSpec" (dict "c" $c "m" $svc.seed "container" "seed" "wait" $wait) | nindent 2 }}
{{- end -}}

{{/* The seed Job's name, "<release>-<svc>-seed-<h8>" (h8: its pod template's hash, as for migrations). */}}
{{- define "app.seed.name" -}}
{{- $h8 := include "app.seed.template" . | sha256sum | trunc 8 -}}
{{- printf "%s-%s-seed-%s" .context.Release.Name .component $h8 -}}
{{- end -}}

{{/*
The "wait" container (global.waitImage, images/wait): `wait job <name>` or `wait statefulset <name>` polls the
API with the pod's ServiceAccount token (mounted in this container only). Takes (dict "context" $ "svc" <service>
"name" <container name> "args" <list>).
*/}}
{{- define "app.wait.container" -}}
{{- $img := .context.Values.global.waitImage -}}
- name: {{ .name }}
  image: {{ include "app.image" (dict "image" $img "key" "global.waitImage") }}
  imagePullPolicy: {{ $img.pullPolicy }}
  args:
    {{- toYaml .args | nindent 4 }}
  securityContext:
    {{- include "app.containerSecurityContext" .svc | nindent 4 }}
  resources:
    requests: {cpu: 10m, memory: 16Mi}
    limits: {cpu: 100m, memory: 32Mi}
  volumeMounts:
    - name: wait-api-access
      mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      readOnly: true
{{- end -}}

{{/*
The API credentials of the wait container: what Kubernetes would automount (a bound token, the cluster CA, the
namespace), as a projected volume mounted by that container only; the pod keeps automountServiceAccountToken
false, so the service's own container never holds a token. Restricted Pod Security allows projected volumes.
*/}}
{{- define "app.wait.volume" -}}
- name: wait-api-access
  projected:
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3607
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                apiVersion: v1
                fieldPath: metadata.namespace
{{- end -}}

{{/* Egress to the Kubernetes API server (networkPolicy.apiServer), for pods that run the wait container. */}}
{{- define "app.networkPolicy.apiServerEgress" -}}
- to:
    {{- range .Values.networkPolicy.apiServer.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range .Values.networkPolicy.apiServer.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
{{- end -}}
