{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "sipws.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart unless the release name already contains the chart name. */}}
{{- define "sipws.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of the controller's objects. */}}
{{- define "sipws.controllerName" -}}
{{- printf "%s-controller" (include "sipws.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object of the chart. */}}
{{- define "sipws.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sipws.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sipws
{{- end -}}

{{/* Labels selecting the controller pods: fixed, never from user values. */}}
{{- define "sipws.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sipws.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "sipws.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sipws.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* image renders repository[:tag][@digest]. Args: dict "repo" "tag" "digest". */}}
{{- define "sipws.imageRef" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repo .digest -}}
{{- else -}}
{{- printf "%s:%s" .repo .tag -}}
{{- end -}}
{{- end -}}

{{/* The controller image. */}}
{{- define "sipws.image" -}}
{{- include "sipws.imageRef" (dict "repo" .Values.image.repository "tag" (.Values.image.tag | default .Chart.AppVersion) "digest" .Values.image.digest) -}}
{{- end -}}

{{/* The image of a data-plane component. Args: list $ "edge"|"router". */}}
{{- define "sipws.dataPlaneImage" -}}
{{- $root := index . 0 -}}
{{- $c := index $root.Values.dataPlane (index . 1) -}}
{{- if or $c.image.repository $c.image.tag -}}
{{- include "sipws.imageRef" (dict "repo" ($c.image.repository | default $root.Values.image.repository) "tag" ($c.image.tag | default $root.Values.image.tag | default $root.Chart.AppVersion) "digest" "") -}}
{{- else -}}
{{- include "sipws.image" $root -}}
{{- end -}}
{{- end -}}

{{/* The flags of `sipws controller`: one list so the Deployment, the docs and the e2e test
(which runs the controller as a process with the same flags) agree. */}}
{{- define "sipws.controllerArgs" -}}
- controller
- --leader-elect={{ .Values.controller.leaderElection.enabled }}
- --leader-election-id={{ include "sipws.controllerName" . }}
- --metrics-bind-address=:{{ .Values.controller.metricsPort }}
- --health-probe-bind-address=:{{ .Values.controller.healthPort }}
- --cluster-domain={{ .Values.controller.clusterDomain }}
- --flows-interval={{ .Values.controller.flowsInterval }}
{{- with .Values.controller.watchNamespace }}
- --namespace={{ . }}
{{- end }}
- --log-level={{ .Values.controller.logLevel }}
- --log-format={{ .Values.controller.logFormat }}
- --edge-image={{ include "sipws.dataPlaneImage" (list . "edge") }}
- --router-image={{ include "sipws.dataPlaneImage" (list . "router") }}
- --edge-resources={{ include "sipws.resourcesFlag" .Values.dataPlane.edge.resources }}
- --router-resources={{ include "sipws.resourcesFlag" .Values.dataPlane.router.resources }}
{{- range .Values.controller.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* resourcesFlag renders {requests: {cpu: 100m}, limits: {memory: 1Gi}} in the form of
--edge-resources: requests.cpu=100m,limits.memory=1Gi (sorted, so the args are stable). */}}
{{- define "sipws.resourcesFlag" -}}
{{- $parts := list -}}
{{- range $kind := list "requests" "limits" -}}
{{- range $name, $q := (index $ $kind | default dict) -}}
{{- $parts = append $parts (printf "%s.%s=%v" $kind $name $q) -}}
{{- end -}}
{{- end -}}
{{- join "," $parts -}}
{{- end -}}
