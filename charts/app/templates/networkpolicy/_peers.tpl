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
