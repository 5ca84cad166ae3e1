{{/*
Names are fixed: the ValidatingWebhookConfiguration and the ClusterRoles are
cluster-wide, Redline exempts its own service account
(system:serviceaccount:<namespace>:redline) and its webhook certificate is for
redline.<namespace>.svc. One release per cluster.
*/}}
{{- define "redline.name" -}}redline{{- end -}}

{{- define "redline.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "redline.selectorLabels" -}}
app.kubernetes.io/name: redline
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "redline.labels" -}}
helm.sh/chart: {{ include "redline.chart" . }}
{{ include "redline.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: redline
{{- end -}}

{{- define "redline.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* The Secret holding the webhook's serving certificate (filled by the rotator or by cert-manager). */}}
{{- define "redline.webhookCertSecret" -}}redline-webhook-cert{{- end -}}

{{- define "redline.webhookDNSName" -}}redline.{{ .Release.Namespace }}.svc{{- end -}}

{{/* Where the webhook certificate is mounted. */}}
{{- define "redline.webhookCertDir" -}}/etc/redline/webhook-certs{{- end -}}

{{/*
redline.durationSeconds: a Go duration made of h, m and s parts ("10m",
"1h30m", "90s") in seconds. values.schema.json restricts the values passed.
*/}}
{{- define "redline.durationSeconds" -}}
{{- $d := toString . -}}
{{- $h := regexFind "[0-9]+h" $d | trimSuffix "h" | default "0" | int -}}
{{- $m := regexFind "[0-9]+m" $d | trimSuffix "m" | default "0" | int -}}
{{- $s := regexFind "[0-9]+s" $d | trimSuffix "s" | default "0" | int -}}
{{- add (mul $h 3600) (mul $m 60) $s -}}
{{- end -}}

{{/* The label matchers of Redline's series in alert expressions. */}}
{{- define "redline.alertSelector" -}}
{{- .Values.prometheusRule.selector | default "job=\"redline\"" -}}
{{- end -}}

{{- define "redline.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) .Values.persistence.enabled -}}
{{- fail "replicaCount > 1 needs persistence.enabled=false: every replica keeps its own traffic store, and a ReadWriteOnce claim (locked by the store) cannot be shared by several pods. See README \"High availability\"." -}}
{{- end -}}
{{- end -}}

{{/* The global mode; an unquoted `mode: off` is YAML for false. */}}
{{- define "redline.mode" -}}
{{- if eq (toString .Values.mode) "false" -}}off{{- else -}}{{ .Values.mode }}{{- end -}}
{{- end -}}
