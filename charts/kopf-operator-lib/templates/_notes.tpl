{{- define "kopf-operator-lib.notes" -}}
{{ .Chart.Name }} {{ .Chart.AppVersion }} is installed as {{ include "operator.fullname" . }} in {{ .Release.Namespace }}.

Serving: {{ if eq (include "operator.clusterwide" .) "true" }}{{ if eq .Values.watch.scope "all" }}all namespaces{{ else }}the namespaces matching {{ include "operator.namespacePatterns" . }} (granted cluster-wide: globs){{ end }}{{ else }}the namespaces {{ include "operator.namespacePatterns" . }} (a Role in each){{ end }}.
{{- if (default dict .Values.webhook).enabled }}
Admission webhooks: served on port {{ .Values.webhook.port }} behind the Service {{ .Release.Namespace }}/{{ include "operator.webhookService" . }}; the operator creates and updates their configurations itself (kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations).
{{- end }}
Replicas: {{ .Values.replicaCount }}{{ if .Values.leaderElection.enabled }}, one active: the leader holds the Lease {{ .Release.Namespace }}/{{ include "operator.leaseName" . }}{{ end }}.

See it work:

  kubectl -n {{ .Release.Namespace }} rollout status deployment/{{ include "operator.fullname" . }}
  kubectl -n {{ .Release.Namespace }} logs deployment/{{ include "operator.fullname" . }}
{{- if .Values.leaderElection.enabled }}
  kubectl -n {{ .Release.Namespace }} get lease {{ include "operator.leaseName" . }} -o jsonpath='{.spec.holderIdentity}'
{{- end }}
{{- if .Values.metrics.enabled }}
  kubectl -n {{ .Release.Namespace }} port-forward deployment/{{ include "operator.fullname" . }} {{ .Values.metrics.port }}   # then: curl localhost:{{ .Values.metrics.port }}/metrics
{{- end }}

The CRDs of crds/ were installed with the chart; `helm uninstall` leaves them (and so every
custom resource) in place, as Helm does with CRDs.
{{- end }}
