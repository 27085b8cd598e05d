{{/* vim: set filetype=mustache: */}}

{{- define "pixyproxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or <release> when the release name already contains the
chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "pixyproxy.fullname" -}}
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

{{- define "pixyproxy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Names of the other components (kept short enough for Service names). */}}
{{- define "pixyproxy.mysql.fullname" -}}
{{- printf "%s-mysql" (include "pixyproxy.fullname" . | trunc 57 | trimSuffix "-") }}
{{- end }}

{{- define "pixyproxy.mock.fullname" -}}
{{- printf "%s-openai-mock" (include "pixyproxy.fullname" . | trunc 51 | trimSuffix "-") }}
{{- end }}

{{/*
Labels. Call with (dict "ctx" $ "component" "api").
*/}}
{{- define "pixyproxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pixyproxy.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "pixyproxy.labels" -}}
helm.sh/chart: {{ include "pixyproxy.chart" .ctx }}
{{ include "pixyproxy.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: pixyproxy
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Annotations of a resource: commonAnnotations plus its own (its own win), as an
"annotations:" block, or nothing. Call with (dict "ctx" $ "extra" <dict>) and print it with
{{ with include ... }}{{ . | nindent 2 }}{{ end }} under metadata.
*/}}
{{- define "pixyproxy.annotations" -}}
{{- $all := merge (dict) (.extra | default dict) (.ctx.Values.commonAnnotations | default dict) }}
{{- with $all }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* imagePullSecrets of every pod: global.imagePullSecrets, then imagePullSecrets. */}}
{{- define "pixyproxy.imagePullSecrets" -}}
{{- $secrets := concat (dig "imagePullSecrets" list (.Values.global | default dict)) .Values.imagePullSecrets | uniq }}
{{- with $secrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "pixyproxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pixyproxy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: [registry/]repository:tag[@digest]. global.imageRegistry (a mirror)
replaces every image's registry; an empty registry leaves the repository as it is (local
images, e.g. kind). The tag defaults to the chart's appVersion and "latest" is refused.
Call with (dict "image" .Values.image "ctx" $ "what" "image").
*/}}
{{- define "pixyproxy.imageRef" -}}
{{- $tag := toString (default .ctx.Chart.AppVersion .image.tag) }}
{{- if eq $tag "latest" }}
{{- fail (printf "%s.tag must not be \"latest\": pin a version so every pod runs the same code" .what) }}
{{- end }}
{{- $registry := default .image.registry (dig "imageRegistry" "" (.ctx.Values.global | default dict)) }}
{{- $name := ternary (printf "%s/%s" $registry .image.repository) .image.repository (ne $registry "") }}
{{- if .image.digest }}
{{- printf "%s:%s@%s" $name $tag .image.digest }}
{{- else }}
{{- printf "%s:%s" $name $tag }}
{{- end }}
{{- end }}

{{- define "pixyproxy.image" -}}
{{- include "pixyproxy.imageRef" (dict "image" .Values.image "ctx" . "what" "image") }}
{{- end }}

{{- define "pixyproxy.mock.image" -}}
{{- include "pixyproxy.imageRef" (dict "image" .Values.openaiMock.image "ctx" . "what" "openaiMock.image") }}
{{- end }}

{{- define "pixyproxy.contentServer.image" -}}
{{- include "pixyproxy.imageRef" (dict "image" .Values.contentServer.image "ctx" . "what" "contentServer.image") }}
{{- end }}

{{- define "pixyproxy.mysql.image" -}}
{{- include "pixyproxy.imageRef" (dict "image" .Values.mysql.image "ctx" . "what" "mysql.image") }}
{{- end }}

{{/* ------------------------------------------------------------------ storage */}}

{{/* "true" when images are objects in a bucket: no volume. */}}
{{- define "pixyproxy.s3" -}}
{{- if eq .Values.storage.backend "s3" }}true{{ end }}
{{- end }}

{{/* "true" when every pod on every node sees the same images: a bucket, or a volume that
several pods on several nodes can mount. */}}
{{- define "pixyproxy.storageShared" -}}
{{- if include "pixyproxy.s3" . }}true{{ else if and .Values.persistence.enabled (has "ReadWriteMany" .Values.persistence.accessModes) }}true{{ end }}
{{- end }}

{{- define "pixyproxy.pvcName" -}}
{{- default (printf "%s-images" (include "pixyproxy.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/* ---------------------------------------------------------------- lifecycle */}}

{{- define "pixyproxy.terminationGracePeriodSeconds" -}}
{{- $min := add (int .Values.lifecycle.preStopSleepSeconds) (int .Values.config.gracefulTimeoutSeconds) }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $min 15 }}
{{- else }}
{{- $set := int .Values.terminationGracePeriodSeconds }}
{{- if le $set $min }}
{{- fail (printf "terminationGracePeriodSeconds=%d is too low: it must exceed lifecycle.preStopSleepSeconds (%d) + config.gracefulTimeoutSeconds (%d) = %d, or in-flight generations are killed on shutdown (leave it null to compute %d)" $set (int .Values.lifecycle.preStopSleepSeconds) (int .Values.config.gracefulTimeoutSeconds) $min (add $min 15)) }}
{{- end }}
{{- $set }}
{{- end }}
{{- end }}

{{/* ------------------------------------------------------------------ secrets */}}

{{/* Name of the Secret the chart makes for the API (OpenAI key, JWT key, DB password). */}}
{{- define "pixyproxy.secretName" -}}
{{- include "pixyproxy.fullname" . }}
{{- end }}

{{- define "pixyproxy.mysql.secretName" -}}
{{- default (include "pixyproxy.mysql.fullname" .) .Values.mysql.auth.existingSecret }}
{{- end }}

{{/* "hs" or "asym": the family of the configured JWT algorithms (mixing them fails). */}}
{{- define "pixyproxy.jwt.family" -}}
{{- $hs := 0 }}{{ $asym := 0 }}
{{- range .Values.auth.jwt.algorithms }}
{{- if hasPrefix "HS" . }}{{ $hs = add1 $hs }}{{ else }}{{ $asym = add1 $asym }}{{ end }}
{{- end }}
{{- if and (gt $hs 0) (gt $asym 0) }}
{{- fail (printf "auth.jwt.algorithms %v mixes HS* with RS*/ES*: use one family only" .Values.auth.jwt.algorithms) }}
{{- end }}
{{- if gt $hs 0 }}hs{{ else }}asym{{ end }}
{{- end }}

{{/*
Where the JWT key comes from: one of secret, publicKey, jwksUrl, existingSecret,
generated, or "" (none).
*/}}
{{- define "pixyproxy.jwt.source" -}}
{{- $j := .Values.auth.jwt }}
{{- $family := include "pixyproxy.jwt.family" . }}
{{- $sources := list }}
{{- if $j.secret }}{{ $sources = append $sources "secret" }}{{ end }}
{{- if $j.publicKey }}{{ $sources = append $sources "publicKey" }}{{ end }}
{{- if $j.jwksUrl }}{{ $sources = append $sources "jwksUrl" }}{{ end }}
{{- if $j.existingSecret }}{{ $sources = append $sources "existingSecret" }}{{ end }}
{{- if gt (len $sources) 1 }}
{{- fail (printf "auth.jwt: set only one key source, got %s" (join ", " $sources)) }}
{{- end }}
{{- if and (eq $family "hs") (or $j.publicKey $j.jwksUrl) }}
{{- fail (printf "auth.jwt.algorithms %v are HS* (shared secret) but a public key source is set: use RS256/ES256 with auth.jwt.publicKey or auth.jwt.jwksUrl" $j.algorithms) }}
{{- end }}
{{- if and $j.secret (lt (len $j.secret) 32) }}
{{- fail "auth.jwt.secret must be at least 32 random characters (the service refuses shorter HS* secrets)" }}
{{- end }}
{{- if and (eq $family "asym") $j.secret }}
{{- fail (printf "auth.jwt.algorithms %v need a public key (auth.jwt.publicKey, auth.jwt.jwksUrl or auth.jwt.existingSecret), not auth.jwt.secret" $j.algorithms) }}
{{- end }}
{{- if $sources }}
{{- first $sources }}
{{- else if and $j.generateSecret (eq $family "hs") }}
{{- "generated" }}
{{- end }}
{{- end }}

{{/* Where the OpenAI key comes from: mock, existingSecret, value or "". */}}
{{- define "pixyproxy.openai.source" -}}
{{- if .Values.openaiMock.enabled }}
{{- if or .Values.openai.apiKey .Values.openai.existingSecret }}
{{- fail "openaiMock.enabled sends every generation to the mock: unset openai.apiKey and openai.existingSecret so a real key is never sent to it" }}
{{- end }}
{{- "mock" }}
{{- else if and .Values.openai.apiKey .Values.openai.existingSecret }}
{{- fail "openai: set either openai.apiKey or openai.existingSecret, not both" }}
{{- else if .Values.openai.existingSecret }}
{{- "existingSecret" }}
{{- else if .Values.openai.apiKey }}
{{- "value" }}
{{- end }}
{{- end }}

{{/* Where the database password comes from: mysql, existingSecret, value. */}}
{{- define "pixyproxy.database.source" -}}
{{- if .Values.mysql.enabled }}
{{- if .Values.externalDatabase.host }}
{{- fail "set either mysql.enabled (bundled MySQL) or externalDatabase.host, not both: add --set mysql.enabled=false to use the external database" }}
{{- end }}
{{- "mysql" }}
{{- else }}
{{- if not .Values.externalDatabase.host }}
{{- fail "no database: set externalDatabase.host (with externalDatabase.existingSecret) or mysql.enabled=true for the bundled MySQL" }}
{{- end }}
{{- if and .Values.externalDatabase.password .Values.externalDatabase.existingSecret }}
{{- fail "externalDatabase: set either password or existingSecret, not both" }}
{{- else if .Values.externalDatabase.existingSecret }}
{{- "existingSecret" }}
{{- else if .Values.externalDatabase.password }}
{{- "value" }}
{{- else }}
{{- fail "externalDatabase needs a password: set externalDatabase.existingSecret (recommended) or externalDatabase.password" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "pixyproxy.databaseUrl" -}}
{{- if .Values.mysql.enabled }}
{{- printf "mysql://%s@%s:3306/%s" (urlquery .Values.mysql.auth.username) (include "pixyproxy.mysql.fullname" .) .Values.mysql.auth.database }}
{{- else }}
{{- $d := .Values.externalDatabase }}
{{- printf "mysql://%s@%s:%d/%s" (urlquery $d.user) $d.host (int $d.port) $d.database }}
{{- end }}
{{- end }}

{{/*
The keys the chart-made Secret holds, as a dict of key -> plain value. Generated values
reuse what the live Secret already holds (lookup), so "helm upgrade" keeps them; offline
renders (helm template, Argo CD) get a fresh random value.
*/}}
{{- define "pixyproxy.secretData" -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "pixyproxy.secretName" .) }}
{{- $data := dict }}
{{- $openai := include "pixyproxy.openai.source" . }}
{{- if eq $openai "mock" }}
{{- $_ := set $data "openai-api-key" .Values.openaiMock.apiKey }}
{{- else if eq $openai "value" }}
{{- $_ := set $data "openai-api-key" .Values.openai.apiKey }}
{{- end }}
{{- $jwt := include "pixyproxy.jwt.source" . }}
{{- if eq $jwt "secret" }}
{{- $_ := set $data "jwt-secret" .Values.auth.jwt.secret }}
{{- else if eq $jwt "publicKey" }}
{{- $_ := set $data "jwt-public-key" .Values.auth.jwt.publicKey }}
{{- else if eq $jwt "generated" }}
{{- $old := dig "data" "jwt-secret" "" $existing }}
{{- $_ := set $data "jwt-secret" (ternary (b64dec $old) (randAlphaNum 64) (ne $old "")) }}
{{- end }}
{{- if eq (include "pixyproxy.database.source" .) "value" }}
{{- $_ := set $data "database-password" .Values.externalDatabase.password }}
{{- end }}
{{- toJson $data }}
{{- end }}

{{/* ------------------------------------------------------------ environment */}}

{{/* Secret-backed environment of the API and migration containers. */}}
{{- define "pixyproxy.secretEnv" -}}
{{- $secret := include "pixyproxy.secretName" . }}
{{- if and (include "pixyproxy.s3" .) .Values.storage.s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.storage.s3.existingSecret }}
      key: {{ .Values.storage.s3.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.storage.s3.existingSecret }}
      key: {{ .Values.storage.s3.secretAccessKeyKey }}
{{- end }}
{{- $db := include "pixyproxy.database.source" . }}
- name: PIXY_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
{{- if eq $db "mysql" }}
      name: {{ include "pixyproxy.mysql.secretName" . }}
      key: {{ .Values.mysql.auth.passwordKey }}
{{- else if eq $db "existingSecret" }}
      name: {{ .Values.externalDatabase.existingSecret }}
      key: {{ .Values.externalDatabase.passwordKey }}
{{- else }}
      name: {{ $secret }}
      key: database-password
{{- end }}
{{- $openai := include "pixyproxy.openai.source" . }}
{{- if $openai }}
- name: OPENAI_API_KEY
  valueFrom:
    secretKeyRef:
{{- if eq $openai "existingSecret" }}
      name: {{ .Values.openai.existingSecret }}
      key: {{ .Values.openai.existingSecretKey }}
      {{- if .Values.openai.existingSecretOptional }}
      optional: true
      {{- end }}
{{- else }}
      name: {{ $secret }}
      key: openai-api-key
{{- end }}
{{- end }}
{{- $jwt := include "pixyproxy.jwt.source" . }}
{{- if or (eq $jwt "secret") (eq $jwt "generated") }}
- name: PIXY_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: jwt-secret
{{- else if eq $jwt "publicKey" }}
- name: PIXY_JWT_PUBLIC_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: jwt-public-key
{{- else if eq $jwt "existingSecret" }}
{{- if eq (include "pixyproxy.jwt.family" .) "hs" }}
- name: PIXY_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.jwt.existingSecret }}
      key: {{ .Values.auth.jwt.secretKey }}
{{- else }}
- name: PIXY_JWT_PUBLIC_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.jwt.existingSecret }}
      key: {{ .Values.auth.jwt.publicKeyKey }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Checksum of every input of the Secrets the pods read (values, not the rendered Secret, so
a generated secret does not change it between install and upgrade).
*/}}
{{- define "pixyproxy.secretChecksum" -}}
{{- dict "jwt" .Values.auth.jwt "openai" .Values.openai "db" .Values.externalDatabase "mysql" .Values.mysql.auth "mock" (dict "enabled" .Values.openaiMock.enabled "key" .Values.openaiMock.apiKey) | toJson | sha256sum }}
{{- end }}

{{/* ------------------------------------------------------------- validation */}}

{{/* Every cross-value rule the schema cannot express; rendered once from validate.yaml. */}}
{{- define "pixyproxy.validate" -}}
{{- if and (include "pixyproxy.s3" .) (not .Values.storage.s3.bucket) }}
{{- fail "storage.backend=s3 needs storage.s3.bucket (an existing bucket; the chart does not create it)" }}
{{- end }}
{{- if and .Values.contentServer.enabled (include "pixyproxy.s3" .) }}
{{- fail "contentServer.enabled sends files of the image volume, and storage.backend=s3 has none: with S3 the content redirect (storage.s3) is the offload; turn contentServer off" }}
{{- end }}
{{- $multi := or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}
{{- if and $multi (not (include "pixyproxy.storageShared" .)) }}
{{- if not .Values.persistence.enabled }}
{{- fail (printf "persistence.enabled=false keeps images in a per-pod emptyDir, so replicaCount=%d / autoscaling.enabled=%v would serve different files from each pod: use one replica, or a ReadWriteMany PVC" (int .Values.replicaCount) .Values.autoscaling.enabled) }}
{{- else }}
{{- fail (printf "persistence.accessModes %v is single-node (ReadWriteOnce): replicaCount=%d and autoscaling.enabled=%v need persistence.accessModes [ReadWriteMany] (e.g. NFS, CephFS, EFS) or a single replica" .Values.persistence.accessModes (int .Values.replicaCount) .Values.autoscaling.enabled) }}
{{- end }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling.minReplicas (%d) is greater than autoscaling.maxReplicas (%d)" (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not .Values.autoscaling.targetCPUUtilizationPercentage) (not .Values.autoscaling.targetMemoryUtilizationPercentage) }}
{{- fail "autoscaling.enabled needs a target: set autoscaling.targetCPUUtilizationPercentage and/or autoscaling.targetMemoryUtilizationPercentage" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set either minAvailable or maxUnavailable (the other to null), not both" }}
{{- end }}
{{- $jwt := include "pixyproxy.jwt.source" . }}
{{- if and (eq .Values.env "production") (not $jwt) }}
{{- fail "env=production refuses to start without a JWT key: set one of auth.jwt.existingSecret (recommended), auth.jwt.secret, auth.jwt.publicKey, auth.jwt.jwksUrl, or auth.jwt.generateSecret=true (HS* only)" }}
{{- end }}
{{- if and (eq .Values.config.imageProvider "openai") (not (include "pixyproxy.openai.source" .)) }}
{{- fail "config.imageProvider=openai needs a key: set openai.existingSecret (or openai.apiKey), or enable openaiMock" }}
{{- end }}
{{- if ge (int .Values.config.openaiTimeoutSeconds) (int .Values.config.gracefulTimeoutSeconds) }}
{{- fail (printf "config.gracefulTimeoutSeconds (%d) must exceed config.openaiTimeoutSeconds (%d) so a stopping pod can finish the generations it is running" (int .Values.config.gracefulTimeoutSeconds) (int .Values.config.openaiTimeoutSeconds)) }}
{{- end }}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) }}
{{- fail "httpRoute.enabled needs httpRoute.parentRefs (the Gateway(s) to attach to)" }}
{{- end }}
{{- $_ := include "pixyproxy.terminationGracePeriodSeconds" . }}
{{- $_ := include "pixyproxy.database.source" . }}
{{- $_ := include "pixyproxy.image" . }}
{{- if .Values.mysql.enabled }}{{ $_ := include "pixyproxy.mysql.image" . }}{{ end }}
{{- if .Values.openaiMock.enabled }}{{ $_ := include "pixyproxy.mock.image" . }}{{ end }}
{{- end }}
