{{/* Names, labels, images and the env every service shares. */}}

{{- define "playcorder.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "playcorder.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "playcorder.component" (dict "ctx" $ "component" "gateway"): the name of one component's objects. */}}
{{- define "playcorder.componentName" -}}
{{- printf "%s-%s" (include "playcorder.fullname" .ctx | trunc 50 | trimSuffix "-") .component }}
{{- end }}

{{- define "playcorder.selectorLabels" -}}
app.kubernetes.io/name: {{ include "playcorder.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "playcorder.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 }}
{{ include "playcorder.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: playcorder
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The image of a service: "playcorder.image" (dict "ctx" $ "repository" "playcorder-gateway"). */}}
{{- define "playcorder.image" -}}
{{- $img := .ctx.Values.image -}}
{{- $tag := default .ctx.Chart.AppVersion $img.tag -}}
{{- if $img.registry }}{{ printf "%s/%s" $img.registry .repository }}{{ else }}{{ .repository }}{{ end }}
{{- if $img.digest }}@{{ $img.digest }}{{ else }}:{{ $tag }}{{ end }}
{{- end }}

{{- define "playcorder.secretName" -}}
{{- include "playcorder.componentName" (dict "ctx" . "component" "secrets") }}
{{- end }}

{{- define "playcorder.configName" -}}
{{- include "playcorder.componentName" (dict "ctx" . "component" "config") }}
{{- end }}

{{/* The NATS client URL: the bundled chart's service, or nats.external.url (then from the chart's Secret, as a
URL may carry credentials, or from nats.external.existingSecret). */}}
{{- /* The nats chart's "nats.fullname", repeated here as the subchart's helpers are not callable from the parent. */}}
{{- define "playcorder.natsServiceHost" -}}
{{- if .Values.nats.fullnameOverride }}
{{- .Values.nats.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default "nats" .Values.nats.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "playcorder.natsMonitoringEndpoint" -}}
{{- if .Values.nats.enabled -}}
{{ printf "%s-headless.%s.svc.%s:8222" (include "playcorder.natsServiceHost" .) .Release.Namespace .Values.clusterDomain }}
{{- else -}}
{{ .Values.nats.external.monitoringEndpoint }}
{{- end }}
{{- end }}

{{/* The S3 endpoint host:port: the bundled MinIO's service or s3.endpoint. */}}
{{- define "playcorder.s3Endpoint" -}}
{{- if .Values.minio.enabled -}}
{{ printf "%s:9000" (include "playcorder.componentName" (dict "ctx" . "component" "minio")) }}
{{- else -}}
{{ .Values.s3.endpoint }}
{{- end }}
{{- end }}

{{/* secretKeyRef to one key: "playcorder.secretRef" (dict "name" NAME "key" KEY). */}}
{{- define "playcorder.secretRef" -}}
valueFrom:
  secretKeyRef:
    name: {{ .name }}
    key: {{ .key }}
{{- end }}

{{/* Env every service reads: NATS, PostgreSQL, S3, the metrics token; non-secret values from the ConfigMap, secret
ones only through secretKeyRef. "playcorder.commonEnv" (dict "ctx" $ "database" true "s3" true). */}}
{{- define "playcorder.commonEnv" -}}
{{- $ := .ctx -}}
{{- $secret := include "playcorder.secretName" $ -}}
- name: NATS_URL
  {{- if $.Values.nats.enabled }}
  value: {{ printf "nats://%s:4222" (include "playcorder.natsServiceHost" $) | quote }}
  {{- else if $.Values.nats.external.existingSecret }}
  {{- include "playcorder.secretRef" (dict "name" $.Values.nats.external.existingSecret "key" $.Values.nats.external.existingSecretKey) | nindent 2 }}
  {{- else }}
  {{- include "playcorder.secretRef" (dict "name" $secret "key" "NATS_URL") | nindent 2 }}
  {{- end }}
{{- if .database }}
- name: DATABASE_URL
  {{- include "playcorder.secretRef" (dict "name" (default $secret $.Values.database.existingSecret) "key" $.Values.database.existingSecretKey) | nindent 2 }}
{{- end }}
{{- if .s3 }}
{{- $s3secret := $secret }}
{{- if and $.Values.minio.enabled $.Values.minio.auth.existingSecret }}{{ $s3secret = $.Values.minio.auth.existingSecret }}{{ end }}
{{- if and (not $.Values.minio.enabled) $.Values.s3.existingSecret }}{{ $s3secret = $.Values.s3.existingSecret }}{{ end }}
- name: S3_ACCESS_KEY
  {{- include "playcorder.secretRef" (dict "name" $s3secret "key" (ternary $.Values.minio.auth.rootUserKey $.Values.s3.accessKeyKey $.Values.minio.enabled)) | nindent 2 }}
- name: S3_SECRET_KEY
  {{- include "playcorder.secretRef" (dict "name" $s3secret "key" (ternary $.Values.minio.auth.rootPasswordKey $.Values.s3.secretKeyKey $.Values.minio.enabled)) | nindent 2 }}
{{- end }}
{{- if or $.Values.metrics.token $.Values.metrics.existingSecret }}
- name: METRICS_TOKEN
  {{- include "playcorder.secretRef" (dict "name" (default $secret $.Values.metrics.existingSecret) "key" $.Values.metrics.existingSecretKey) | nindent 2 }}
{{- end }}
{{- end }}

{{/* The pod-level securityContext every pod shares (numeric non-root user of the images). */}}
{{- define "playcorder.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "playcorder.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end }}

{{/* Probes on a service's /healthz (startup, liveness) and /readyz (readiness): "playcorder.probes" (dict "p"
.Values.gateway.probes). */}}
{{- define "playcorder.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ .p.startup.periodSeconds }}
  failureThreshold: {{ .p.startup.failureThreshold }}
  timeoutSeconds: {{ .p.timeoutSeconds }}
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: {{ .p.readiness.periodSeconds }}
  failureThreshold: {{ .p.readiness.failureThreshold }}
  timeoutSeconds: {{ .p.timeoutSeconds }}
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ .p.liveness.periodSeconds }}
  failureThreshold: {{ .p.liveness.failureThreshold }}
  timeoutSeconds: {{ .p.timeoutSeconds }}
{{- end }}

{{/* Pod spec parts every service shares. */}}
{{- define "playcorder.podCommon" -}}
{{- with .ctx.Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
securityContext:
  {{- include "playcorder.podSecurityContext" .ctx | nindent 2 }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .ctx.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}

{{/* Egress every service needs: DNS, NATS and (storage: true) PostgreSQL and S3/MinIO. */}}
{{- define "playcorder.egressCommon" -}}
{{- $ := .ctx }}
{{- if $.Values.networkPolicy.allowDns }}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- end }}
{{- if $.Values.nats.enabled }}
- to:
    - podSelector:
        matchLabels: {app.kubernetes.io/name: {{ default "nats" $.Values.nats.nameOverride }}, app.kubernetes.io/instance: {{ $.Release.Name }}, app.kubernetes.io/component: nats}
  ports:
    - {port: 4222, protocol: TCP}
{{- else }}
- to:
    - ipBlock: {cidr: {{ $.Values.nats.external.cidr }}}
  ports:
    - {port: {{ $.Values.nats.external.port }}, protocol: TCP}
{{- end }}
{{- if .storage }}
- to:
    - ipBlock: {cidr: {{ $.Values.database.cidr }}}
  ports:
    - {port: {{ $.Values.database.port }}, protocol: TCP}
{{- if $.Values.minio.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "playcorder.selectorLabels" (dict "ctx" $ "component" "minio") | nindent 10 }}
  ports:
    - {port: 9000, protocol: TCP}
{{- else }}
- to:
    - ipBlock: {cidr: {{ $.Values.s3.cidr }}}
  ports:
    - {port: {{ $.Values.s3.port }}, protocol: TCP}
{{- end }}
{{- end }}
{{- end }}
