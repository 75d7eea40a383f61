{{/* Names, labels and the pieces every workload shares. */}}

{{- define "luckygas.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object's name: the release name, plus the chart's unless the release name holds it. */}}
{{- define "luckygas.fullname" -}}
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

{{/* The name of one component's objects: "<fullname>-<component>". Call with (list $ "gateway"). */}}
{{- define "luckygas.componentName" -}}
{{- printf "%s-%s" (include "luckygas.fullname" (index . 0)) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select one component's pods. Call with (list $ "gateway"). */}}
{{- define "luckygas.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "luckygas.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Every label of one component's objects. Call with (list $ "gateway"). */}}
{{- define "luckygas.labels" -}}
{{- $root := index . 0 -}}
{{ include "luckygas.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: luckygas
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The labels every pod of the release carries (the NetworkPolicies' default deny selects them). */}}
{{- define "luckygas.releaseSelector" -}}
app.kubernetes.io/name: {{ include "luckygas.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "luckygas.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "luckygas.secretName" -}}
{{- default (include "luckygas.componentName" (list . "secrets")) .Values.secrets.existingSecret }}
{{- end }}

{{/* The gRPC port every service listens on, its metrics port, and the gateway's HTTP port. */}}
{{- define "luckygas.grpcPort" -}}50051{{- end }}
{{- define "luckygas.metricsPort" -}}9090{{- end }}
{{- define "luckygas.httpPort" -}}8000{{- end }}

{{/*
One deployable's settings: its entry of .Values.deployables over .Values.defaults. A key the deployable sets wins
(autoscaling key by key, so `enabled: false` overrides a default of true; the rest whole).
Call with (list $ "gateway"); returns YAML (use `| fromYaml`).
*/}}
{{- define "luckygas.spec" -}}
{{- $root := index . 0 }}
{{- $spec := index $root.Values.deployables (index . 1) }}
{{- $merged := dict }}
{{- range $key, $value := $root.Values.defaults }}
{{- if and (hasKey $spec $key) (eq $key "autoscaling") }}
{{- $autoscaling := deepCopy $value }}
{{- range $field, $setting := index $spec $key }}
{{- $_ := set $autoscaling $field $setting }}
{{- end }}
{{- $_ := set $merged $key $autoscaling }}
{{- else if hasKey $spec $key }}
{{- $_ := set $merged $key (index $spec $key) }}
{{- else }}
{{- $_ := set $merged $key $value }}
{{- end }}
{{- end }}
{{- range $key, $value := $spec }}
{{- if not (hasKey $merged $key) }}
{{- $_ := set $merged $key $value }}
{{- end }}
{{- end }}
{{- toYaml $merged }}
{{- end }}

{{/* The deployables that call one: they may reach its gRPC port. Call with (list $ "customer"); a YAML list. */}}
{{- define "luckygas.callers" -}}
{{- $name := index . 1 }}
{{- $callers := list }}
{{- range $other, $spec := (index . 0).Values.deployables }}
{{- if has $name ($spec.calls | default list) }}
{{- $callers = append $callers $other }}
{{- end }}
{{- end }}
{{- toYaml $callers }}
{{- end }}

{{/* The settings every process of the platform gets (deployables, the migration Job). */}}
{{- define "luckygas.commonEnv" -}}
- name: LUCKYGAS_ENVIRONMENT
  value: {{ .Values.environment | quote }}
- name: LUCKYGAS_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: LUCKYGAS_DATABASE_POOL_SIZE
  value: {{ .Values.database.poolSize | quote }}
- name: LUCKYGAS_SHUTDOWN_GRACE_SECONDS
  value: {{ .Values.shutdown.drainSeconds | quote }}
- name: LUCKYGAS_FLAGS_ADDRESS
  value: {{ printf "%s:%s" (include "luckygas.componentName" (list . "flags")) (include "luckygas.grpcPort" .) | quote }}
- name: LUCKYGAS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "luckygas.secretName" . }}
      key: database-url
- name: LUCKYGAS_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "luckygas.secretName" . }}
      key: redis-url
{{- with .Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.otel.sampler }}
- name: OTEL_TRACES_SAMPLER
  value: {{ . | quote }}
{{- end }}
{{- with .Values.otel.samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* One deployable's own settings: where it listens, whom it calls, its secrets, its extra env. (list $ "name") */}}
{{- define "luckygas.deployableEnv" -}}
{{- $root := index . 0 }}
{{- $name := index . 1 }}
{{- $spec := include "luckygas.spec" . | fromYaml }}
{{- $prefix := printf "LUCKYGAS_%s" (upper $name) }}
{{- if eq $name "gateway" }}
- name: LUCKYGAS_GATEWAY_HOST
  value: "0.0.0.0"
- name: LUCKYGAS_GATEWAY_PORT
  value: {{ include "luckygas.httpPort" $root | quote }}
- name: LUCKYGAS_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "luckygas.secretName" $root }}
      key: jwt-secret
{{- else }}
- name: {{ $prefix }}_GRPC_HOST
  value: "0.0.0.0"
- name: {{ $prefix }}_GRPC_PORT
  value: {{ include "luckygas.grpcPort" $root | quote }}
- name: {{ $prefix }}_METRICS_PORT
  value: {{ include "luckygas.metricsPort" $root | quote }}
- name: LUCKYGAS_METRICS_HOST
  value: "0.0.0.0"
{{- end }}
{{- if eq $name "migration" }}
- name: LUCKYGAS_LEGACY_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "luckygas.secretName" $root }}
      key: legacy-database-url
{{- end }}
{{- range $callee := $spec.calls }}
{{- if ne $callee "flags" }}
- name: {{ printf "LUCKYGAS_%s_ADDRESS" (upper $callee) }}
  value: {{ printf "%s:%s" (include "luckygas.componentName" (list $root $callee)) (include "luckygas.grpcPort" $root) | quote }}
{{- end }}
{{- end }}
{{- range $variable, $value := $spec.env }}
- name: {{ $variable }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* The pod-level security context of our image: the fixed non-root user of the Containerfile. */}}
{{- define "luckygas.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Every container's security context: nothing to escalate, no capability, nothing written but /tmp. */}}
{{- define "luckygas.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end }}

{{/* What rolls the pods when the configuration changes: the Secret's data and the shared settings. */}}
{{- define "luckygas.configChecksum" -}}
{{- $secret := "" }}
{{- if not .Values.secrets.existingSecret }}
{{- $secret = include "luckygas.secretData" . }}
{{- end }}
{{- printf "%s\n%s" (include "luckygas.commonEnv" .) $secret | sha256sum }}
{{- end }}

{{/*
The generated Secret's data (base64). Passwords and the JWT key are made once and kept: on an upgrade they are read
back from the Secret in the cluster. URLs follow the values (in-cluster stores, or the external URLs).
*/}}
{{- define "luckygas.secretData" -}}
{{- $name := include "luckygas.componentName" (list . "secrets") }}
{{- $existing := (lookup "v1" "Secret" .Release.Namespace $name).data | default dict }}
{{- $jwt := get $existing "jwt-secret" | default (randAlphaNum 64 | b64enc) }}
{{- $admin := get $existing "admin-password" | default (randAlphaNum 24 | b64enc) }}
{{- $postgresPassword := get $existing "postgres-password" | default (randAlphaNum 32 | b64enc) }}
{{- $redisPassword := get $existing "redis-password" | default (randAlphaNum 32 | b64enc) }}
{{- $databaseUrl := .Values.externalDatabase.url }}
{{- $legacyUrl := .Values.externalDatabase.legacyUrl }}
{{- if .Values.postgres.enabled }}
{{- $host := printf "%s:5432" (include "luckygas.componentName" (list . "postgres")) }}
{{- $databaseUrl = printf "postgresql+asyncpg://luckygas:%s@%s/luckygas" (b64dec $postgresPassword) $host }}
{{- $legacyUrl = printf "postgresql+asyncpg://luckygas:%s@%s/luckygas_legacy" (b64dec $postgresPassword) $host }}
{{- end }}
{{- $redisUrl := .Values.externalRedis.url }}
{{- if .Values.redis.enabled }}
{{- $redisUrl = printf "redis://:%s@%s:6379/0" (b64dec $redisPassword) (include "luckygas.componentName" (list . "redis")) }}
{{- end }}
jwt-secret: {{ $jwt }}
admin-password: {{ $admin }}
{{- if .Values.postgres.enabled }}
postgres-password: {{ $postgresPassword }}
{{- end }}
{{- if .Values.redis.enabled }}
redis-password: {{ $redisPassword }}
{{- end }}
database-url: {{ required "externalDatabase.url is required when postgres.enabled is false (or use secrets.existingSecret)" $databaseUrl | b64enc }}
legacy-database-url: {{ required "externalDatabase.legacyUrl is required when postgres.enabled is false (or use secrets.existingSecret)" $legacyUrl | b64enc }}
redis-url: {{ required "externalRedis.url is required when redis.enabled is false (or use secrets.existingSecret)" $redisUrl | b64enc }}
{{- end }}

{{/*
Hook annotations of what the migration Job needs before the release's other objects exist: the Secret and the
in-cluster stores, lower weights first. Hook objects are not deleted by `helm uninstall` (see NOTES.txt); a new
hook replaces an old one of the same name (before-hook-creation). Call with (list $ "pre-install" -20).
*/}}
{{- define "luckygas.preInstallHook" -}}
helm.sh/hook: {{ index . 1 }}
helm.sh/hook-weight: {{ index . 2 | quote }}
helm.sh/hook-delete-policy: before-hook-creation
{{- end }}

{{/* Egress rules to the stores: the in-cluster ones by pod, external ones as networkPolicy.externalStoresEgress says. */}}
{{- define "luckygas.storesEgress" -}}
{{- if .Values.postgres.enabled }}
- ports:
    - {port: 5432, protocol: TCP}
  to:
    - podSelector:
        matchLabels:
          {{- include "luckygas.selectorLabels" (list . "postgres") | nindent 10 }}
{{- end }}
{{- if .Values.redis.enabled }}
- ports:
    - {port: 6379, protocol: TCP}
  to:
    - podSelector:
        matchLabels:
          {{- include "luckygas.selectorLabels" (list . "redis") | nindent 10 }}
{{- end }}
{{- with .Values.networkPolicy.externalStoresEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}
