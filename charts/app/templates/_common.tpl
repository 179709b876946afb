{{/*
Chart-wide helpers shared by the umbrella chart, its declared services and its subcharts (postgres, redis).
Helm parses every template of a chart and its subcharts into one set, so the subcharts call these too.
Each helper that needs a component takes (dict "context" $ "component" "<name>").
*/}}

{{/*
Full name of a component of this release: "<release>-<component>", at most 63 characters.
This is also the dependency-fullname helper: a subchart wires another component's Service or Secret
through it (cf. bitnami's common.names.dependency.fullname), e.g. the backend finds Postgres at
(include "app.dependency.fullname" (dict "context" $ "component" "postgres")).
*/}}
{{- define "app.dependency.fullname" -}}
{{- printf "%s-%s" .context.Release.Name .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* helm.sh/chart label value. */}}
{{- define "app.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels for every object of a component. */}}
{{- define "app.labels" -}}
helm.sh/chart: {{ include "app.chart" .context }}
{{ include "app.selectorLabels" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
app.kubernetes.io/part-of: jetscale
jetscale.dev/environment: {{ include "app.environment" .context }}
{{- with (dig "ownerLabels" dict (.context.Values.global | default dict)) }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of a component (immutable on Deployments/StatefulSets: keep them small). */}}
{{- define "app.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
{{- end -}}

{{/* The stage this release runs in: local | ci | preview | live (global.environment). */}}
{{- define "app.environment" -}}
{{- dig "environment" "local" (.Values.global | default dict) -}}
{{- end -}}

{{/*
Image reference "<repository>:<tag>" (or "@<digest>"). A tag is required and "latest" is refused: every
environment runs a pinned image. Takes (dict "image" <image> "key" "services.backend.image").
*/}}
{{- define "app.image" -}}
{{- $repo := required (printf "%s.repository is required (an image repository, e.g. ghcr.io/acme/api)" .key) .image.repository -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repo .image.digest -}}
{{- else -}}
{{- /* skaffold sets tag to "<tag>@<digest>", which leaves a bare "@" when it has no digest */ -}}
{{- $tag := required (printf "%s.tag is required: pin an image tag (e.g. 0.1.0 or a git sha)" .key) (toString .image.tag | trimSuffix "@") -}}
{{- if eq $tag "latest" -}}
{{- fail (printf "%s.tag is \"latest\": pin an image tag (e.g. 0.1.0 or a git sha); \"latest\" is not allowed" .key) -}}
{{- end -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/*
Pod-level securityContext of the Restricted Pod Security Standard. The numeric user/group come from
.Values.securityContext; the rest is fixed so no values file can weaken it. Takes the component's .Values.
*/}}
{{- define "app.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .securityContext.runAsUser }}
runAsGroup: {{ .securityContext.runAsGroup }}
fsGroup: {{ .securityContext.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level securityContext of the Restricted Pod Security Standard, read-only root filesystem. */}}
{{- define "app.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .securityContext.runAsUser }}
runAsGroup: {{ .securityContext.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* imagePullSecrets from global.imagePullSecrets (a list of Secret names). */}}
{{- define "app.imagePullSecrets" -}}
{{- with (dig "imagePullSecrets" list (.Values.global | default dict)) }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
topologySpreadConstraints of a declared service, each completed with the service's labelSelector and
matchLabelKeys [pod-template-hash] (so a rollout's new ReplicaSet spreads on its own).
Takes (dict "context" $ "component" <name> "svc" <service>).
*/}}
{{- define "app.topologySpreadConstraints" -}}
{{- with .svc.topologySpreadConstraints }}
topologySpreadConstraints:
{{- range . }}
  - maxSkew: {{ .maxSkew | default 1 }}
    topologyKey: {{ .topologyKey }}
    whenUnsatisfiable: {{ .whenUnsatisfiable | default "ScheduleAnyway" }}
    nodeTaintsPolicy: {{ .nodeTaintsPolicy | default "Honor" }}
    matchLabelKeys: ["pod-template-hash"]
    labelSelector:
      matchLabels:
        {{- include "app.selectorLabels" $ | nindent 8 }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Writable copies of image paths (a service's writablePaths) for hot reload under a read-only root filesystem:
an init container copies each path from the image into an emptyDir, which the app container then mounts
at the same path. The volumes, the init container and the mounts are three helpers; volumes and mounts take
the service, the init container (dict "context" $ "component" <name> "svc" <service>).
*/}}
{{- define "app.writablePaths.volumes" -}}
{{- range $i, $p := .writablePaths }}
- name: writable-{{ $i }}
  emptyDir: {}
{{- end }}
{{- end -}}

{{- define "app.writablePaths.mounts" -}}
{{- range $i, $p := .writablePaths }}
- name: writable-{{ $i }}
  mountPath: {{ $p }}
{{- end }}
{{- end -}}

{{- define "app.writablePaths.initContainer" -}}
{{- $svc := .svc -}}
{{- with $svc.writablePaths }}
- name: copy-writable-paths
  image: {{ include "app.image" (dict "image" $svc.image "key" (printf "services.%s.image" $.component)) }}
  imagePullPolicy: {{ $svc.image.pullPolicy }}
  command: ["/bin/sh", "-c"]
  args:
    - |
      set -eu
      {{- range $i, $p := . }}
      if [ -d {{ $p | quote }} ]; then cp -R {{ printf "%s/." $p | quote }} /writable/{{ $i }}/; fi
      {{- end }}
  securityContext:
    {{- include "app.containerSecurityContext" $svc | nindent 4 }}
  resources:
    {{- toYaml $svc.resources | nindent 4 }}
  volumeMounts:
    {{- range $i, $p := . }}
    - name: writable-{{ $i }}
      mountPath: /writable/{{ $i }}
    {{- end }}
{{- end }}
{{- end -}}
