{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "runyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name: <release>-<chart>, or <release> when it contains the chart. */}}
{{- define "runyard.fullname" -}}
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

{{- define "runyard.operatorName" -}}
{{- printf "%s-operator" (include "runyard.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "runyard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "runyard.labels" -}}
helm.sh/chart: {{ include "runyard.chart" . }}
app.kubernetes.io/name: {{ include "runyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: runyard
{{- end }}

{{/* Selector labels of the operator pods (never change: Deployment selectors are immutable). */}}
{{- define "runyard.operatorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "runyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "runyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "runyard.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "runyard.peeringName" -}}
{{- default (include "runyard.fullname" .) .Values.operator.peering.name }}
{{- end }}

{{/* An image reference: <registry>/<component>:<tag>, or the explicit override. */}}
{{- define "runyard.image" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 }}
{{- $override := index . 2 }}
{{- if $override }}
{{- $override }}
{{- else }}
{{- $tag := default $root.Chart.AppVersion $root.Values.image.tag }}
{{- if $root.Values.image.registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $root.Values.image.registry) $component $tag }}
{{- else }}
{{- printf "%s:%s" $component $tag }}
{{- end }}
{{- end }}
{{- end }}
