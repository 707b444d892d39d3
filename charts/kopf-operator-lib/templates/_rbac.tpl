{{- define "kopf-operator-lib.rbac" -}}
{{- /*
Least privilege, by what is called (tests/charts/ checks this against the operator's calls):
- the operator's own rules (values: rbac.rules), in each served namespace: a Role and a
  RoleBinding per namespace; cluster-wide only when all namespaces (or globs) are served;
- its cluster-wide rules (values: rbac.clusterRules: cluster-scoped resources, or objects it
  handles outside the served namespaces) in the ClusterRole, whatever the watch scope;
- Kopf's scanning lists and watches CustomResourceDefinitions (cluster-scoped, read-only);
- globs in watch.namespaces need namespaces list/watch, to follow the namespaces they match;
- leader election gets, creates and updates its one Lease in the release's namespace.
Kopf's discovery (/api, /apis) is granted to every account by the system:discovery role; with
--standalone, Kopf makes no peering calls.
*/ -}}
{{- if .Values.rbac.create }}
{{- $fullname := include "operator.fullname" . }}
{{- $clusterwide := eq (include "operator.clusterwide" .) "true" }}
{{- $subjects := list (dict "kind" "ServiceAccount" "name" (include "operator.serviceAccountName" .) "namespace" .Release.Namespace) }}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ .Release.Namespace }}-{{ $fullname }}
  labels:
    {{- include "operator.labels" . | nindent 4 }}
rules:
  - apiGroups: [apiextensions.k8s.io]
    resources: [customresourcedefinitions]
    verbs: [list, watch]
  {{- if eq (include "operator.globbed" .) "true" }}
  - apiGroups: [""]
    resources: [namespaces]
    verbs: [list, watch]
  {{- end }}
  {{- with .Values.rbac.clusterRules }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  {{- if $clusterwide }}
  {{- toYaml .Values.rbac.rules | nindent 2 }}
  {{- end }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ .Release.Namespace }}-{{ $fullname }}
  labels:
    {{- include "operator.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ .Release.Namespace }}-{{ $fullname }}
subjects:
  {{- toYaml $subjects | nindent 2 }}
{{- if not $clusterwide }}
{{- range $namespace := splitList "," (include "operator.namespacePatterns" $) }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $fullname }}
  namespace: {{ $namespace }}
  labels:
    {{- include "operator.labels" $ | nindent 4 }}
rules:
  {{- toYaml $.Values.rbac.rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $fullname }}
  namespace: {{ $namespace }}
  labels:
    {{- include "operator.labels" $ | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $fullname }}
subjects:
  {{- toYaml $subjects | nindent 2 }}
{{- end }}
{{- end }}
{{- if .Values.leaderElection.enabled }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $fullname }}-leader-election
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "operator.labels" . | nindent 4 }}
rules:
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [create]  # create cannot be limited to a name
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    resourceNames: [{{ include "operator.leaseName" . }}]
    verbs: [get, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $fullname }}-leader-election
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "operator.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $fullname }}-leader-election
subjects:
  {{- toYaml $subjects | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}
