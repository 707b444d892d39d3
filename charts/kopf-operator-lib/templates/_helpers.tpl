{{/*
Helpers of the kopf-informers operator charts' templates (this library's _<kind>.tpl, each
included by the operator chart's <kind>.yaml). Nothing here names an operator: each chart has
its own Chart.yaml, crds/, and values.yaml (operator.file and rbac.rules; webhook.enabled for
an operator serving admission webhooks). Rendered in the operator chart's context: .Chart and
.Values are the operator chart's.
*/}}

{{- define "operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: kopf-informers
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "operator.serviceAccountName" -}}
{{- default (include "operator.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "operator.leaseName" -}}
{{- default (include "operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The patterns given to `kopf run --namespace`: none when all namespaces are served. */}}
{{- define "operator.namespacePatterns" -}}
{{- if eq .Values.watch.scope "release" }}
{{- .Release.Namespace }}
{{- else if eq .Values.watch.scope "namespaces" }}
{{- join "," .Values.watch.namespaces }}
{{- end }}
{{- end }}

{{/* "true" if a pattern is a Kopf glob or negation: its namespaces are not known in advance. */}}
{{- define "operator.globbed" -}}
{{- $globbed := false }}
{{- range .Values.watch.namespaces }}
{{- if regexMatch "^!|[*?\\[]" . }}{{ $globbed = true }}{{ end }}
{{- end }}
{{- $globbed }}
{{- end }}

{{/* "true" if the operator's rules are granted cluster-wide (all namespaces, or globs). */}}
{{- define "operator.clusterwide" -}}
{{- or (eq .Values.watch.scope "all") (eq (include "operator.globbed" .) "true") }}
{{- end }}

{{/* The Service in front of the webhook server; the webhook configurations name it. */}}
{{- define "operator.webhookService" -}}
{{- printf "%s-webhook" (include "operator.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}
