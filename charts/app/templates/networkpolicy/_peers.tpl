{{/* NetworkPolicy peers used by several policies. */}}

{{/* The ingress controller's pods (networkPolicy.ingressController.namespaceSelector/podSelector). */}}
{{- define "app.networkPolicy.ingressControllerPeer" -}}
- namespaceSelector:
    {{- toYaml .Values.networkPolicy.ingressController.namespaceSelector | nindent 4 }}
  {{- with .Values.networkPolicy.ingressController.podSelector }}
  podSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- with .Values.networkPolicy.ingressController.extraPeers }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Egress to the cluster DNS (UDP and TCP 53). */}}
{{- define "app.networkPolicy.dnsEgress" -}}
- to:
    - namespaceSelector:
        {{- toYaml .Values.networkPolicy.dns.namespaceSelector | nindent 8 }}
      {{- with .Values.networkPolicy.dns.podSelector }}
      podSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end -}}

{{/*
Egress to what a service needs: declared services on their port, Postgres and Redis as pods when in-cluster, else
their port on networkPolicy.externalServices.cidrs. Takes (dict "context" $ "svc" <service> "services" <all>).
*/}}
{{- define "app.networkPolicy.needsEgress" -}}
{{- $ctx := .context -}}
{{- $services := .services -}}
{{- range $need := .svc.needs }}
{{- if has $need (list "postgres" "redis") }}
{{- if (index $ctx.Values $need).enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "app.selectorLabels" (dict "context" $ctx "component" $need) | nindent 10 }}
  ports:
    - protocol: TCP
      port: {{ ternary 5432 6379 (eq $need "postgres") }}
{{- else }}
- to:
    {{- range $ctx.Values.networkPolicy.externalServices.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    - protocol: TCP
      port: {{ index $ctx.Values.networkPolicy.externalServices.ports $need }}
{{- end }}
{{- else }}
- to:
    - podSelector:
        matchLabels:
          {{- include "app.selectorLabels" (dict "context" $ctx "component" $need) | nindent 10 }}
  ports:
    - protocol: TCP
      port: {{ (index $services $need).port }}
{{- end }}
{{- end }}
{{- end -}}
