{{/*
The services of the chart, in the order they are rendered, and what each one
reads: the aggregator Kafka, the sink Kafka and Redis, the gateway Redis. Only
the aggregator and the sink consume Kafka, so only they have a consumer-lag
metric to scale on.
*/}}
{{- define "tickcompact.services" -}}
aggregator: {kafka: true, redis: false, consumer: true}
sink: {kafka: true, redis: true, consumer: true}
gateway: {kafka: false, redis: true, consumer: false}
{{- end }}

{{/*
The release's base name, at most 44 characters, so that every name built from
it ("<base>-aggregator-metrics") stays a valid 63-character DNS label.
*/}}
{{- define "tickcompact.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 44 | trimSuffix "-" }}
{{- else if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 44 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 44 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The name of one service's objects: dict "root" $ "service" "aggregator". */}}
{{- define "tickcompact.name" -}}
{{- printf "%s-%s" (include "tickcompact.fullname" .root) .service }}
{{- end }}

{{/* The labels that select one service's pods, and nothing else. */}}
{{- define "tickcompact.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end }}

{{/* Every object's labels. */}}
{{- define "tickcompact.labels" -}}
{{ include "tickcompact.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: tickcompact
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end }}

{{/*
Where the pods find their configuration file, the Kafka TLS files and the Redis
CA file.
*/}}
{{- define "tickcompact.configDir" -}}/etc/tickcompact/config{{- end }}
{{- define "tickcompact.kafkaTLSDir" -}}/etc/tickcompact/kafka-tls{{- end }}
{{- define "tickcompact.redisTLSDir" -}}/etc/tickcompact/redis-tls{{- end }}

{{/*
The service's configuration file, in its own YAML format (configs/<service>.yaml):
the shared kafka: and redis: values, then <service>.config, then http.addr from
<service>.port. It fails, naming the value, on what would pin an instance or put
a secret into the ConfigMap.
*/}}
{{- define "tickcompact.config" -}}
{{- $root := .root }}
{{- $name := .service }}
{{- $svc := index $root.Values $name }}
{{- $reads := index (include "tickcompact.services" $root | fromYaml) $name }}
{{- $cfg := dict }}
{{- if $reads.kafka }}
{{- $_ := set $cfg "kafka" (omit $root.Values.kafka "secretProperties" "tlsSecret" | deepCopy) }}
{{- end }}
{{- if $reads.redis }}
{{- $_ := set $cfg "redis" (omit $root.Values.redis "passwordSecret" "tlsSecret" | deepCopy) }}
{{- end }}
{{- $cfg = mustMergeOverwrite $cfg (deepCopy ($svc.config | default dict)) }}
{{- $http := $cfg.http | default dict }}
{{- if hasKey $http "addr" }}
{{- fail (printf "%s.config.http.addr: set %s.port instead; the probes and Services use it" $name $name) }}
{{- end }}
{{- $_ := set $http "addr" (printf ":%v" $svc.port) }}
{{- $_ := set $cfg "http" $http }}
{{- with $cfg.kafka }}
{{- if .transactional_id }}
{{- fail (printf "%s.config.kafka.transactional_id: pods derive their own from their host names; one fixed id would make every pod fence the others" $name) }}
{{- end }}
{{- range $property, $_ := .properties | default dict }}
{{- if regexMatch "(?i)password|passphrase|secret|sasl\\.jaas\\.config|ssl\\.key\\.pem|private\\.key|token" $property }}
{{- fail (printf "kafka.properties %s (%s): it holds a credential, which must not be in the chart's values; keep it in a Secret and name it under kafka.secretProperties" $property $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- with $cfg.redis }}
{{- if or (contains "@" (toString .addr)) (contains "://" (toString .addr)) }}
{{- fail (printf "redis.addr (%s): a URL may hold credentials, and the services refuse one; give host:port, and the password in redis.passwordSecret" $name) }}
{{- end }}
{{- if .password }}
{{- fail (printf "redis.password (%s): it must not be in the chart's values; keep it in a Secret and name it in redis.passwordSecret" $name) }}
{{- end }}
{{- if and (eq $name "sink") $root.Values.gateway.enabled }}
{{- if and .format (ne .format "envelope") }}
{{- fail (printf "sink.config.redis.format %s: the gateway reads envelopes; leave it unset or envelope" .format) }}
{{- end }}
{{- $_ := set . "format" "envelope" }}
{{- end }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
The environment: only the secrets, each from a key of an existing Secret.
Everything else is in the configuration file.
*/}}
{{- define "tickcompact.env" -}}
{{- $root := .root }}
{{- $name := .service }}
{{- $reads := index (include "tickcompact.services" $root | fromYaml) $name }}
{{- if $reads.kafka }}
{{- range $property, $ref := $root.Values.kafka.secretProperties }}
{{- if contains "_" $property }}
{{- fail (printf "kafka.secretProperties %s: librdkafka property names have dots, not underscores" $property) }}
{{- end }}
{{- if not (and $ref.secret $ref.key) }}
{{- fail (printf "kafka.secretProperties %s: name the Secret and its key: {secret: NAME, key: KEY}" $property) }}
{{- end }}
- name: {{ printf "%s_KAFKA_PROPERTIES_%s" $name (replace "." "_" $property) | upper }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.secret }}
      key: {{ $ref.key }}
{{- end }}
{{- end }}
{{- if and $reads.redis $root.Values.redis.passwordSecret.secret }}
- name: {{ printf "%s_REDIS_PASSWORD" $name | upper }}
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.redis.passwordSecret.secret }}
      key: {{ required "redis.passwordSecret.key: the key of the password in the Secret" $root.Values.redis.passwordSecret.key }}
{{- end }}
{{- end }}
