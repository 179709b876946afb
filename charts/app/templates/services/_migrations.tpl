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

{{/* Whether any enabled service declares a migration: "true" or "". Takes the root context. */}}
{{- define "app.migrations.any" -}}
{{- range $name, $svc := fromJson (include "app.services" .) -}}
{{- include "app.migration.enabled" $svc -}}
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
  {{- include "app.migration.podSpec" (dict "c" $c "m" $m "waitPostgres" $waitPostgres) | nindent 2 }}
{{- end -}}

{{- define "app.migration.podSpec" -}}
{{- $ctx := .c.context -}}
{{- $name := .c.component -}}
{{- $svc := .c.svc -}}
{{- $m := .m -}}
{{- $c := .c -}}
{{- $waitPostgres := .waitPostgres -}}
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
{{- if or $waitPostgres $svc.writablePaths }}
initContainers:
  {{- if $waitPostgres }}
  {{- include "app.wait.container" (dict "context" $ctx "svc" $svc "name" "wait-postgres" "args" (list "statefulset" (include "app.postgres.fullname" $ctx))) | nindent 2 }}
  {{- end }}
  {{- with (include "app.writablePaths.initContainer" $c | trim) }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end }}
containers:
  - name: migrate
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
  {{- if $waitPostgres }}
  {{- include "app.wait.volume" $ctx | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* The migration Job's name, "<release>-<svc>-migrate-<h8>". Takes (dict "context" $ "component" <svc> "svc" <service>). */}}
{{- define "app.migration.name" -}}
{{- $h8 := include "app.migration.template" . | sha256sum | trunc 8 -}}
{{- printf "%s-%s-migrate-%s" .context.Release.Name .component $h8 -}}
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
