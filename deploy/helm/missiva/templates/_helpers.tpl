{{/*
Names and labels.
*/}}
{{- define "missiva.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "missiva.fullname" -}}
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

{{- define "missiva.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selects every pod of the release (the deny-by-default NetworkPolicy uses it). */}}
{{- define "missiva.selectorLabels" -}}
app.kubernetes.io/name: {{ include "missiva.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "missiva.labels" -}}
helm.sh/chart: {{ include "missiva.chart" . }}
{{ include "missiva.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: missiva
{{- end }}

{{/* Name of one service's objects. Args: dict "root" $ "name" <services key>. */}}
{{- define "missiva.componentName" -}}
{{- printf "%s-%s" (include "missiva.fullname" .root) .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The headless Service of a gRPC service: its DNS name resolves to every ready replica, so a
client channel balances round robin over them (see missiva_platform.channels).
*/}}
{{- define "missiva.podsServiceName" -}}
{{- printf "%s-pods" (include "missiva.componentName" . | trunc 58 | trimSuffix "-") }}
{{- end }}

{{/*
Selects all pods of one service: its server, migration and retention pods, so the service's
NetworkPolicy covers all of them. Args: dict "root" $ "name" <key>.
*/}}
{{- define "missiva.componentSelectorLabels" -}}
{{ include "missiva.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/*
Selects only the server pods of one service (Deployment, Service, PodDisruptionBudget), so a
migration or retention pod never receives traffic. Args: dict "root" $ "name" <key>.
*/}}
{{- define "missiva.serverSelectorLabels" -}}
{{ include "missiva.componentSelectorLabels" . }}
missiva.io/workload: server
{{- end }}

{{/* Args: dict "root" $ "name" <key>. */}}
{{- define "missiva.componentLabels" -}}
{{ include "missiva.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/*
One service's configuration: the `default:` block with the entry merged over it, as YAML
(read it back with fromYaml). Maps merge key by key and the entry wins; probes are taken whole
from the entry when it sets them, because a probe may have only one handler.
Args: dict "root" $ "name" <key>.
*/}}
{{- define "missiva.config" -}}
{{- $entry := index .root.Values.services .name | default dict }}
{{- $cfg := mustMergeOverwrite (deepCopy .root.Values.default) (deepCopy $entry) }}
{{- range $probe := list "startupProbe" "readinessProbe" "livenessProbe" }}
{{- if hasKey $entry $probe }}
{{- $_ := set $cfg $probe (get $entry $probe) }}
{{- end }}
{{- end }}
{{- if not $cfg.module }}
{{- $_ := set $cfg "module" (printf "missiva_%s" $.name) }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* The names of enabled services, sorted. Output: YAML list (read with fromYamlArray). */}}
{{- define "missiva.enabledServices" -}}
{{- $names := list }}
{{- range $name := keys .Values.services | sortAlpha }}
{{- $cfg := include "missiva.config" (dict "root" $ "name" $name) | fromYaml }}
{{- if $cfg.enabled }}
{{- $names = append $names $name }}
{{- end }}
{{- end }}
{{- toYaml $names }}
{{- end }}

{{/* Args: dict "root" $ "name" <key> "cfg" <config>. */}}
{{- define "missiva.serviceAccountName" -}}
{{- if .cfg.serviceAccount.create }}
{{- default (include "missiva.componentName" .) .cfg.serviceAccount.name }}
{{- else }}
{{- default "default" .cfg.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "missiva.sharedSecretName" -}}
{{- default (printf "%s-shared" (include "missiva.fullname" .)) .Values.secrets.shared.existingSecret }}
{{- end }}

{{/* Args: dict "root" $ "name" <key> "cfg" <config>. */}}
{{- define "missiva.secretName" -}}
{{- default (include "missiva.componentName" .) .cfg.secret.existingSecret }}
{{- end }}

{{/*
Service credentials (values: serviceCredentials, <entry>.serviceClient). A client's pods get
a file with its own entry only; the verifier's (identity's) pods get every client's entry.
*/}}

{{/* Enabled services that are OAuth clients, sorted. Output: YAML list. */}}
{{- define "missiva.serviceClients" -}}
{{- $clients := list }}
{{- range $name := include "missiva.enabledServices" . | fromYamlArray }}
{{- $cfg := include "missiva.config" (dict "root" $ "name" $name) | fromYaml }}
{{- if $cfg.serviceClient.enabled }}
{{- $clients = append $clients $name }}
{{- end }}
{{- end }}
{{- toYaml $clients }}
{{- end }}

{{/* "true" when the service's pods get a credentials file. Args: dict "root" $ "name" <key> "cfg" <config>. */}}
{{- define "missiva.hasCredentials" -}}
{{- if or .cfg.serviceClient.enabled (eq .name .root.Values.serviceCredentials.verifier) }}true{{ end }}
{{- end }}

{{/* The services whose entries the service's file holds. Output: YAML list. Args: as above. */}}
{{- define "missiva.credentialEntries" -}}
{{- if eq .name .root.Values.serviceCredentials.verifier }}
{{- include "missiva.serviceClients" .root }}
{{- else if .cfg.serviceClient.enabled }}
{{- toYaml (list .name) }}
{{- else }}
{{- toYaml list }}
{{- end }}
{{- end }}

{{/* The Secret holding the service's credentials file. Args: dict "root" $ "name" <key> "cfg" <config>. */}}
{{- define "missiva.credentialsSecretName" -}}
{{- default (include "missiva.secretName" .) .cfg.serviceClient.existingSecret }}
{{- end }}

{{/*
The service's credentials file (JSON) from values, for secrets.create. With "strict" a missing
client secret fails the render; without, it is empty (for checksums).
Args: dict "root" $ "name" <key> "cfg" <config> [ "strict" true ].
*/}}
{{- define "missiva.credentialsFile" -}}
{{- $root := .root }}
{{- $strict := .strict }}
{{- $file := dict }}
{{- range $client := include "missiva.credentialEntries" . | fromYamlArray }}
{{- $cfg := include "missiva.config" (dict "root" $root "name" $client) | fromYaml }}
{{- $secret := $cfg.serviceClient.clientSecret }}
{{- if $strict }}
{{- $secret = required (printf "secrets.create is true: set services.%s.serviceClient.clientSecret" $client) $secret }}
{{- end }}
{{- $_ := set $file $client (dict "client_id" (default (printf "missiva-%s" $client) $cfg.serviceClient.clientId) "client_secret" $secret) }}
{{- end }}
{{- toJson $file }}
{{- end }}

{{/* Args: dict "root" $ "name" <key> "cfg" <config>. */}}
{{- define "missiva.image" -}}
{{- printf "%s:%s" .cfg.image.repository (default .root.Chart.AppVersion .cfg.image.tag) }}
{{- end }}

{{/*
A service's plain configuration (its ConfigMap's data), as YAML of strings.
Args: dict "root" $ "name" <key> "cfg" <config> [ "mode" "migrate" ].
*/}}
{{- define "missiva.configData" -}}
{{- $root := .root }}
{{- $cfg := .cfg }}
{{- $data := dict "BIND_HOST" "0.0.0.0" "HTTP_PORT" (toString $cfg.ports.http) "LOG_LEVEL" $cfg.logLevel }}
{{- if eq $cfg.protocol "grpc" }}
{{- $_ := set $data "GRPC_PORT" (toString $cfg.ports.grpc) }}
{{- if $cfg.ports.smtpInbound }}
{{- $_ := set $data "INBOUND_SMTP_PORT" (toString $cfg.ports.smtpInbound) }}
{{- end }}
{{- else if $cfg.ports.metrics }}
{{- $_ := set $data "METRICS_PORT" (toString $cfg.ports.metrics) }}
{{- end }}
{{- if $cfg.nats }}
{{- $_ := set $data "NATS_URL" $root.Values.nats.url }}
{{- end }}
{{- with $root.Values.publicUrl }}
{{- $_ := set $data "PUBLIC_BASE_URL" (trimSuffix "/" .) }}
{{- end }}
{{- with $root.Values.otel.endpoint }}
{{- $_ := set $data "OTEL_EXPORTER_OTLP_ENDPOINT" . }}
{{- $_ := set $data "OTEL_SERVICE_NAME" (printf "missiva-%s" $.name) }}
{{- end }}
{{- range $target := $cfg.calls }}
{{- if not (hasKey $root.Values.services $target) }}
{{- fail (printf "services.%s.calls names %q, which is not an entry of services" $.name $target) }}
{{- end }}
{{- $targetCfg := include "missiva.config" (dict "root" $root "name" $target) | fromYaml }}
{{- $host := include "missiva.podsServiceName" (dict "root" $root "name" $target) }}
{{- $_ := set $data (printf "%s_TARGET" (upper $target)) (printf "dns:///%s:%v" $host $targetCfg.ports.grpc) }}
{{- end }}
{{- /* The migration Job gets no key files, so it gets no paths to them either. */}}
{{- if ne (.mode | default "server") "migrate" }}
{{- if $cfg.secret.mountShared }}
{{- range $env, $key := $root.Values.secrets.shared.files }}
{{- $_ := set $data $env (printf "%s/%s" $root.Values.secrets.mountPath $key) }}
{{- end }}
{{- end }}
{{- range $env, $key := $cfg.secret.files }}
{{- $_ := set $data $env (printf "%s/%s" $root.Values.secrets.mountPath $key) }}
{{- end }}
{{- if include "missiva.hasCredentials" . }}
{{- $_ := set $data $root.Values.serviceCredentials.env (printf "%s/%s" $root.Values.secrets.mountPath $root.Values.serviceCredentials.key) }}
{{- end }}
{{- end }}
{{- range $key, $value := $cfg.env }}
{{- $_ := set $data $key (toString $value) }}
{{- end }}
{{- toYaml $data }}
{{- end }}

{{/*
Environment variables read from the service's own Secret.
Args: dict "root" $ "name" <key> "cfg" <config>.
*/}}
{{- define "missiva.secretEnv" -}}
{{- $secretName := include "missiva.secretName" . }}
{{- range $key := .cfg.secret.envKeys }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $secretName }}
      key: {{ $key }}
{{- end }}
{{- end }}

{{/*
The pod of a server, a migration, a retention run or a scheduled admin command (`jobs:`). Every pod gets a writable /tmp (the root
filesystem is read-only) and no service-account token (no service talks to the Kubernetes API).
The migration Job is a pre-install hook: it runs before the release's ConfigMaps, ServiceAccounts
and shared Secret exist, so it carries its configuration inline, uses the namespace's default
ServiceAccount and gets only its database URL, never the key files.
Args: dict "root" $ "name" <key> "cfg" <config> "mode" ("server" | "migrate" | "retention" | "job")
[ "jobArgs" <list> ]. A job runs `python -m <module> <jobArgs...>`; the other modes run
`python -m <module> <mode>` (the server: `command`, if set).
*/}}
{{- define "missiva.podSpec" -}}
{{- $root := .root }}
{{- $cfg := .cfg }}
{{- $mode := .mode }}
{{- $ownKeys := list }}
{{- $credentialsSecret := "" }}
{{- if ne $mode "migrate" }}
{{- $credentials := $root.Values.serviceCredentials }}
{{- range $env, $key := $cfg.secret.files }}
{{- if or (eq $env $credentials.env) (eq $key $credentials.key) }}
{{- fail (printf "services.%s.secret.files: %s/%s is the service credentials file, set by serviceCredentials and serviceClient: remove it" $.name $env $key) }}
{{- end }}
{{- $ownKeys = append $ownKeys $key }}
{{- end }}
{{- if include "missiva.hasCredentials" . }}
{{- $credentialsSecret = include "missiva.credentialsSecretName" . }}
{{- if eq $credentialsSecret (include "missiva.secretName" .) }}
{{- $ownKeys = append $ownKeys $credentials.key }}
{{- $credentialsSecret = "" }}
{{- end }}
{{- end }}
{{- end }}
{{- $mountShared := and $cfg.secret.mountShared (ne $mode "migrate") }}
{{- $command := list "python" "-m" $cfg.module $mode }}
{{- if eq $mode "server" }}
{{- $command = $cfg.command | default (list "python" "-m" $cfg.module "serve") }}
{{- else if eq $mode "job" }}
{{- if not .jobArgs }}
{{- fail (printf "services.%s.jobs: a job needs args" .name) }}
{{- end }}
{{- $command = concat (list "python" "-m" $cfg.module) .jobArgs }}
{{- end }}
{{- with $cfg.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if ne $mode "migrate" }}
serviceAccountName: {{ include "missiva.serviceAccountName" . }}
{{- end }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml $cfg.podSecurityContext | nindent 2 }}
{{- if eq $mode "server" }}
terminationGracePeriodSeconds: {{ $cfg.terminationGracePeriodSeconds }}
{{- else }}
restartPolicy: Never
{{- end }}
containers:
  - name: {{ .name }}
    image: {{ include "missiva.image" . | quote }}
    imagePullPolicy: {{ $cfg.image.pullPolicy }}
    command:
      {{- toYaml $command | nindent 6 }}
    {{- if eq $mode "server" }}
    ports:
      {{- if eq $cfg.protocol "grpc" }}
      - name: grpc
        containerPort: {{ $cfg.ports.grpc }}
        protocol: TCP
      - name: http-metrics
        containerPort: {{ $cfg.ports.http }}
        protocol: TCP
      {{- if $cfg.ports.smtpInbound }}
      - name: smtp-inbound
        containerPort: {{ $cfg.ports.smtpInbound }}
        protocol: TCP
      {{- end }}
      {{- else }}
      - name: http
        containerPort: {{ $cfg.ports.http }}
        protocol: TCP
      {{- if $cfg.ports.metrics }}
      - name: http-metrics
        containerPort: {{ $cfg.ports.metrics }}
        protocol: TCP
      {{- end }}
      {{- end }}
    {{- range $probe := list "startupProbe" "readinessProbe" "livenessProbe" }}
    {{- with get $cfg $probe }}
    {{ $probe }}:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- end }}
    {{- end }}
    {{- if eq $mode "migrate" }}
    env:
      {{- range $key, $value := include "missiva.configData" . | fromYaml }}
      - name: {{ $key }}
        value: {{ $value | quote }}
      {{- end }}
      {{- if $cfg.database }}
      {{- /* Migrations run as the database's owner role; the service itself as a role that
      may only read and write rows (see the chart's README). */}}
      - name: DATABASE_URL
        valueFrom:
          secretKeyRef:
            name: {{ include "missiva.secretName" . }}
            key: MIGRATION_DATABASE_URL
      {{- end }}
    {{- else }}
    envFrom:
      - configMapRef:
          name: {{ include "missiva.componentName" . }}
    {{- with include "missiva.secretEnv" . | trim }}
    env:
      {{- . | nindent 6 }}
    {{- end }}
    {{- end }}
    resources:
      {{- toYaml $cfg.resources | nindent 6 }}
    securityContext:
      {{- toYaml $cfg.securityContext | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      {{- if or $mountShared $ownKeys $credentialsSecret }}
      - name: secret-files
        mountPath: {{ $root.Values.secrets.mountPath }}
        readOnly: true
      {{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
  {{- if or $mountShared $ownKeys $credentialsSecret }}
  - name: secret-files
    projected:
      # 0440: readable by the pod's fsGroup, never writable.
      defaultMode: 288
      sources:
        {{- if $mountShared }}
        - secret:
            name: {{ include "missiva.sharedSecretName" $root }}
            items:
              {{- range $env, $key := $root.Values.secrets.shared.files }}
              - key: {{ $key }}
                path: {{ $key }}
              {{- end }}
        {{- end }}
        {{- with $ownKeys }}
        - secret:
            name: {{ include "missiva.secretName" $ }}
            items:
              {{- range $key := . }}
              - key: {{ $key }}
                path: {{ $key }}
              {{- end }}
        {{- end }}
        {{- with $credentialsSecret }}
        - secret:
            name: {{ . }}
            items:
              - key: {{ $root.Values.serviceCredentials.key }}
                path: {{ $root.Values.serviceCredentials.key }}
        {{- end }}
  {{- end }}
{{- with $cfg.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $cfg.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $cfg.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if eq $mode "server" }}
{{- with $cfg.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Checksum of the chart-created Secret data a service's pods read (secrets.create only), so a
changed dev secret rolls the pods. Args: dict "root" $ "name" <key> "cfg" <config>.
*/}}
{{- define "missiva.secretChecksum" -}}
{{- $shared := dict }}
{{- if .cfg.secret.mountShared }}
{{- $shared = .root.Values.secrets.shared.data }}
{{- end }}
{{- list $shared .cfg.secret.data (include "missiva.credentialsFile" .) | toJson | sha256sum }}
{{- end }}

{{/* A NetworkPolicyEgressRule from {to, ports}; an empty `to` allows any destination. */}}
{{- define "missiva.egressRule" -}}
{{- $rule := dict "ports" .ports }}
{{- with .to }}
{{- $_ := set $rule "to" . }}
{{- end }}
{{- toYaml (list $rule) }}
{{- end }}
