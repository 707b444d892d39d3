{{- define "kopf-operator-lib.webhook-service" -}}
{{- if (default dict .Values.webhook).enabled }}
# The API server calls the admission webhooks through this Service (the webhook configurations,
# which Kopf manages, name it), on 443 as they default to.
apiVersion: v1
kind: Service
metadata:
  name: {{ include "operator.webhookService" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "operator.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "operator.selectorLabels" . | nindent 4 }}
  ports:
    - name: webhook
      port: 443
      targetPort: webhook
      protocol: TCP
{{- end }}
{{- end }}
