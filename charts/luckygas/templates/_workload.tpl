{{/*
luckygas.deployable: every object of one deployable (the gateway or a gRPC service) from its values: its
ServiceAccount, Service, Deployment, and when they apply its PodDisruptionBudget and HorizontalPodAutoscaler.
Call with (list $ "customer"). Its NetworkPolicy is in networkpolicies.yaml with the others.
*/}}
{{- define "luckygas.deployable" -}}
{{- $root := index . 0 }}
{{- $name := index . 1 }}
{{- $spec := include "luckygas.spec" . | fromYaml }}
{{- $fullname := include "luckygas.componentName" . }}
{{- $http := eq $name "gateway" }}
{{- $autoscaling := $spec.autoscaling }}
{{- $minReplicas := ternary $autoscaling.minReplicas $spec.replicas $autoscaling.enabled | int }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $fullname }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "luckygas.labels" . | nindent 4 }}
# No process of the platform talks to the Kubernetes API.
automountServiceAccountToken: false
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullname }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "luckygas.labels" . | nindent 4 }}
spec:
  {{- if $http }}
  type: {{ $spec.service.type }}
  {{- else }}
  # Headless: the name resolves to every ready pod, and the clients' round_robin policy spreads calls over them (a
  # ClusterIP would pin each client's one HTTP/2 connection to a single pod, and autoscaling would add idle pods).
  type: ClusterIP
  clusterIP: None
  {{- end }}
  selector:
    {{- include "luckygas.selectorLabels" . | nindent 4 }}
  ports:
    {{- if $http }}
    - name: http
      port: {{ $spec.service.port }}
      targetPort: http
      protocol: TCP
      {{- if and (ne $spec.service.type "ClusterIP") $spec.service.nodePort }}
      nodePort: {{ $spec.service.nodePort }}
      {{- end }}
    {{- else }}
    - name: grpc
      port: {{ include "luckygas.grpcPort" $root }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    - name: metrics
      port: {{ include "luckygas.metricsPort" $root }}
      targetPort: metrics
      protocol: TCP
    {{- end }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "luckygas.labels" . | nindent 4 }}
spec:
  {{- if not $autoscaling.enabled }}
  replicas: {{ $spec.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "luckygas.selectorLabels" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        {{- include "luckygas.labels" . | nindent 8 }}
        {{- with $spec.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "luckygas.configChecksum" $root }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ ternary (include "luckygas.httpPort" $root) (include "luckygas.metricsPort" $root) $http | quote }}
        prometheus.io/path: /metrics
        {{- with $spec.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ $fullname }}
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "luckygas.podSecurityContext" $root | nindent 8 }}
      # preStop pause + drain + 5 s: SIGKILL never cuts a draining process short.
      terminationGracePeriodSeconds: {{ add $root.Values.shutdown.preStopSeconds $root.Values.shutdown.drainSeconds 5 }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: {{ $spec.topologySpread }}
          labelSelector:
            matchLabels:
              {{- include "luckygas.selectorLabels" . | nindent 14 }}
      {{- with $spec.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $spec.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $name }}
          image: {{ include "luckygas.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: ["python", "-m", "services.{{ $name }}", "serve"]
          env:
            {{- include "luckygas.commonEnv" $root | nindent 12 }}
            {{- include "luckygas.deployableEnv" . | nindent 12 }}
          ports:
            {{- if $http }}
            - name: http
              containerPort: {{ include "luckygas.httpPort" $root }}
              protocol: TCP
            {{- else }}
            - name: grpc
              containerPort: {{ include "luckygas.grpcPort" $root }}
              protocol: TCP
            - name: metrics
              containerPort: {{ include "luckygas.metricsPort" $root }}
              protocol: TCP
            {{- end }}
          {{- if $http }}
          # Alive while the process answers; ready while its own database and Redis do (not the services it calls:
          # one of them down must not take every gateway out of rotation).
          startupProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 2
            failureThreshold: 60
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet: {path: /readyz, port: http}
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          {{- else }}
          # The standard gRPC health service (grpc.health.v1): SERVING once started, NOT_SERVING while draining.
          startupProbe:
            grpc: {port: {{ include "luckygas.grpcPort" $root }}}
            periodSeconds: 2
            failureThreshold: 60
          livenessProbe:
            grpc: {port: {{ include "luckygas.grpcPort" $root }}}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            grpc: {port: {{ include "luckygas.grpcPort" $root }}}
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          {{- end }}
          lifecycle:
            preStop:
              sleep:
                seconds: {{ $root.Values.shutdown.preStopSeconds }}
          resources:
            {{- toYaml $spec.resources | nindent 12 }}
          securityContext:
            {{- include "luckygas.containerSecurityContext" $root | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
{{- if gt $minReplicas 1 }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $fullname }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "luckygas.labels" . | nindent 4 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "luckygas.selectorLabels" . | nindent 6 }}
{{- end }}
{{- if $autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $fullname }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "luckygas.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $fullname }}
  minReplicas: {{ $autoscaling.minReplicas }}
  maxReplicas: {{ $autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end }}
