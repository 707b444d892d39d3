{{- define "kopf-operator-lib.deployment" -}}
{{- $patterns := include "operator.namespacePatterns" . }}
{{- $webhook := default dict .Values.webhook }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "operator.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "operator.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      {{- include "operator.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "operator.labels" . | nindent 8 }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "operator.serviceAccountName" . }}
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      # The restricted Pod Security Standard.
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001  # the image's user
        runAsGroup: 10001
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: operator
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          # The image's entrypoint is `kopf run --standalone`: these are its options and file.
          args:
            - --liveness=http://0.0.0.0:{{ .Values.health.port }}/healthz
            {{- if $patterns }}
            {{- range splitList "," $patterns }}
            - --namespace={{ . }}
            {{- end }}
            {{- else }}
            - --all-namespaces
            {{- end }}
            {{- range .Values.operator.extraArgs }}
            - {{ . | quote }}
            {{- end }}
            - {{ .Values.operator.file }}
          env:
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            {{- if $patterns }}
            - name: KOPF_INFORMERS_NAMESPACES
              value: {{ $patterns | quote }}
            {{- end }}
            - name: KOPF_INFORMERS_LEADER_ELECTION
              value: {{ .Values.leaderElection.enabled | quote }}
            {{- if .Values.leaderElection.enabled }}
            - name: KOPF_INFORMERS_LEADER_ELECTION_ID
              value: {{ include "operator.leaseName" . }}
            - name: KOPF_INFORMERS_LEADER_ELECTION_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            {{- end }}
            {{- if .Values.metrics.enabled }}
            - name: KOPF_INFORMERS_METRICS_PORT
              value: {{ .Values.metrics.port | quote }}
            - name: KOPF_INFORMERS_METRICS_HOST
              value: 0.0.0.0
            {{- end }}
            {{- if $webhook.enabled }}
            # Kopf's webhook server (the operator reads these): it listens on all interfaces,
            # and the webhook configurations name the Service below; its certificate is made
            # for that Service's DNS name and written to the in-memory volume webhook-tls.
            - name: WEBHOOK_SERVICE
              value: {{ .Release.Namespace }}/{{ include "operator.webhookService" . }}
            - name: WEBHOOK_HOST
              value: {{ include "operator.webhookService" . }}.{{ .Release.Namespace }}.svc
            - name: WEBHOOK_ADDR
              value: 0.0.0.0
            - name: WEBHOOK_PORT
              value: {{ $webhook.port | quote }}
            - name: WEBHOOK_CERT_DIR
              value: /webhook-tls
            {{- end }}
          ports:
            - name: health
              containerPort: {{ .Values.health.port }}
              protocol: TCP
            {{- if .Values.metrics.enabled }}
            - name: metrics
              containerPort: {{ .Values.metrics.port }}
              protocol: TCP
            {{- end }}
            {{- if $webhook.enabled }}
            - name: webhook
              containerPort: {{ $webhook.port }}
              protocol: TCP
            {{- end }}
          # Kopf serves /healthz once its startup handlers are done (the caches synced: 2
          # minutes at most); a standby of the leader election answers it too.
          startupProbe:
            httpGet:
              path: /healthz
              port: health
            periodSeconds: 5
            failureThreshold: 36
          livenessProbe:
            httpGet:
              path: /healthz
              port: health
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /healthz
              port: health
            periodSeconds: 10
            timeoutSeconds: 5
          securityContext:
            runAsNonRoot: true
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [ALL]
          {{- with .Values.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          volumeMounts:
            - name: tmp  # writable paths are emptyDirs: the root filesystem is read-only
              mountPath: /tmp
            {{- if $webhook.enabled }}
            - name: webhook-tls
              mountPath: /webhook-tls
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- if $webhook.enabled }}
        - name: webhook-tls  # the webhook server's certificate and key: in memory only
          emptyDir:
            medium: Memory
            sizeLimit: 1Mi
        {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
