package render

import (
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	v1 "github.com/sipws/sipws/api/v1alpha1"
)

// Paths inside the pods. The ConfigMap and the files Secret are mounted as directories (never
// with subPath), so the kubelet's symlink swap delivers updates to running pods.
const (
	ConfigDir   = "/etc/sipws/config"
	ConfigKey   = "config.yaml"
	ConfigPath  = ConfigDir + "/" + ConfigKey
	FilesDir    = "/etc/sipws/files"
	AdminPort   = 9090
	AdminName   = "admin"
	runAsUserID = 65532 // "nonroot" of distroless images

	// FlowKeysKey is the key of the key ring in the flow-token Secret and the files Secret.
	FlowKeysKey = "flow-keys.yaml"

	// terminationMargin is added to the drain timeout: the process needs time after the last
	// flow is closed (NATS flush, shutdown), and the preStop pause comes before the drain.
	terminationMargin = 15 * time.Second
	// preStopPause lets endpoints and load balancers stop sending new connections before the
	// edge starts draining.
	preStopPause = 5
)

// workload is what differs between the edge and the router pods; the spec-specific part of
// rendering fills it, the builders below turn it into objects.
type workload struct {
	gw, namespace string
	component     Component
	image         string
	// replicas is nil when an HPA owns the replica count.
	replicas     *int32
	resources    corev1.ResourceRequirements
	nodeSelector map[string]string
	tolerations  []corev1.Toleration
	affinity     *corev1.Affinity
	drainTimeout time.Duration
	// memoryLimitPercent sets --memory-limit-ratio; nil leaves the process's default.
	memoryLimitPercent *int32
	// podAnnotations are the user's; the rollout hash is added to them.
	podAnnotations map[string]string
	ports          []corev1.ContainerPort
	rolloutHash    string
	autoscaling    *autoscaling
	service        serviceSpec
}

type autoscaling struct {
	min, max int32
	// targetCPU is the average CPU utilization in percent of requests; 0 leaves it out.
	targetCPU int32
	// targetFlows is the average sipws_edge_flows per pod; 0 leaves it out.
	targetFlows int64
}

type serviceSpec struct {
	typ   corev1.ServiceType
	opts  v1.ServiceOptions
	ports []corev1.ServicePort
}

func (w *workload) meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: w.namespace, Labels: Labels(w.gw, w.component)}
}

// deployment builds the Deployment of w.
func (w *workload) deployment() *appsv1.Deployment {
	sel := SelectorLabels(w.gw, w.component)
	podLabels := Labels(w.gw, w.component)
	grace := int64((w.drainTimeout + terminationMargin + preStopPause*time.Second) / time.Second)
	env := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: fieldRef("metadata.name")},
		{Name: "POD_NAMESPACE", ValueFrom: fieldRef("metadata.namespace")},
		{Name: "POD_IP", ValueFrom: fieldRef("status.podIP")},
		// The node name is carried in every flow token and must be unique per pod within 32
		// bytes; a long pod name cut to 32 bytes can lose its unique suffix, the UID cannot.
		{Name: "SIPWS_NODE", ValueFrom: fieldRef("metadata.uid")},
	}
	ports := append([]corev1.ContainerPort{{Name: AdminName, ContainerPort: AdminPort, Protocol: corev1.ProtocolTCP}}, w.ports...)
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(AdminName)}},
			PeriodSeconds:    period,
			TimeoutSeconds:   2,
			FailureThreshold: failures,
		}
	}
	c := corev1.Container{
		Name:            string(w.component),
		Image:           w.image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args:            w.args(),
		Env:             env,
		Ports:           ports,
		Resources:       w.resources,
		LivenessProbe:   probe("/healthz", 10, 3),
		ReadinessProbe:  probe("/readyz", 5, 2),
		StartupProbe:    probe("/healthz", 2, 30),
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
			Sleep: &corev1.SleepAction{Seconds: preStopPause},
		}},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "config", MountPath: ConfigDir, ReadOnly: true},
			{Name: "files", MountPath: FilesDir, ReadOnly: true},
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](runAsUserID),
			RunAsGroup:               ptr.To[int64](runAsUserID),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Privileged:               ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	spread := func(key string, when corev1.UnsatisfiableConstraintAction) corev1.TopologySpreadConstraint {
		return corev1.TopologySpreadConstraint{
			MaxSkew:           1,
			TopologyKey:       key,
			WhenUnsatisfiable: when,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: sel},
			MatchLabelKeys:    []string{"pod-template-hash"},
		}
	}
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: w.meta(DeploymentName(w.gw, w.component)),
		Spec: appsv1.DeploymentSpec{
			Replicas: w.replicas,
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				// Surge first: a new pod is ready before an old one starts draining its flows.
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromString("25%")),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      podLabels,
					Annotations: podAnnotations(w.podAnnotations, w.rolloutHash),
				},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{c},
					TerminationGracePeriodSeconds: ptr.To(grace),
					// The pods do not talk to the API server.
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						FSGroup:        ptr.To[int64](runAsUserID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					NodeSelector: w.nodeSelector,
					Tolerations:  w.tolerations,
					Affinity:     w.affinity,
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{
						spread(corev1.LabelHostname, corev1.ScheduleAnyway),
						spread(corev1.LabelTopologyZone, corev1.ScheduleAnyway),
					},
					Volumes: []corev1.Volume{
						{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName(w.gw)},
							DefaultMode:          ptr.To[int32](0o444),
						}}},
						{Name: "files", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
							SecretName:  FilesSecretName(w.gw),
							DefaultMode: ptr.To[int32](0o440),
						}}},
					},
				},
			},
		},
	}
	for _, p := range w.ports {
		if p.ContainerPort < 1024 {
			// Non-root may bind ports below 1024 inside the pod's network namespace; the
			// sysctl is namespaced and on the kubelet's safe list.
			d.Spec.Template.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}
			break
		}
	}
	return d
}

// args are the container's arguments: the command, its config, and the flags the spec sets.
func (w *workload) args() []string {
	a := []string{string(w.component), "--config", ConfigPath, "--log-format", "json"}
	if p := w.memoryLimitPercent; p != nil {
		a = append(a, "--memory-limit-ratio", strconv.FormatFloat(float64(*p)/100, 'f', -1, 64))
	}
	return a
}

// podAnnotations are the user's annotations plus the rollout hash, which wins.
func podAnnotations(user map[string]string, hash string) map[string]string {
	a := make(map[string]string, len(user)+1)
	for k, v := range user {
		a[k] = v
	}
	a[AnnotationRolloutHash] = hash
	return a
}

func fieldRef(path string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
}

// serviceObject builds the component's Service.
func (w *workload) serviceObject() *corev1.Service {
	s := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: w.meta(ServiceName(w.gw, w.component)),
		Spec: corev1.ServiceSpec{
			Type:     w.service.typ,
			Selector: SelectorLabels(w.gw, w.component),
			Ports:    w.service.ports,
		},
	}
	o := w.service.opts
	if len(o.Annotations) > 0 {
		s.Annotations = o.Annotations
	}
	// These are only valid for NodePort and LoadBalancer Services (the API's CEL rules say so
	// too; a ClusterIP Service with them would be refused by the API server).
	if w.service.typ != corev1.ServiceTypeClusterIP {
		s.Spec.ExternalTrafficPolicy = o.ExternalTrafficPolicy
	}
	if w.service.typ == corev1.ServiceTypeLoadBalancer {
		s.Spec.LoadBalancerClass = o.LoadBalancerClass
		s.Spec.LoadBalancerSourceRanges = o.LoadBalancerSourceRanges
	}
	return s
}

// hpa builds the HorizontalPodAutoscaler, or nil without autoscaling.
func (w *workload) hpa() *autoscalingv2.HorizontalPodAutoscaler {
	a := w.autoscaling
	if a == nil {
		return nil
	}
	var metrics []autoscalingv2.MetricSpec
	if a.targetCPU > 0 {
		metrics = append(metrics, autoscalingv2.MetricSpec{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name:   corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(a.targetCPU)},
			},
		})
	}
	if a.targetFlows > 0 {
		// Served by a custom-metrics adapter (e.g. prometheus-adapter) from the edge's gauge.
		metrics = append(metrics, autoscalingv2.MetricSpec{
			Type: autoscalingv2.PodsMetricSourceType,
			Pods: &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "sipws_edge_flows"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewQuantity(a.targetFlows, resource.DecimalSI)},
			},
		})
	}
	h := &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: w.meta(HPAName(w.gw, w.component)),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: DeploymentName(w.gw, w.component)},
			MinReplicas:    ptr.To(a.min),
			MaxReplicas:    a.max,
			Metrics:        metrics,
		},
	}
	if w.component == Edge {
		// Scaling the edge in drains flows: go slowly, one pod at a time.
		h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleDown: &autoscalingv2.HPAScalingRules{
				StabilizationWindowSeconds: ptr.To[int32](600),
				Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 120}},
			},
		}
	}
	return h
}

// pdb builds the PodDisruptionBudget, or nil when the component can only ever have one pod
// (a budget would block node drains forever).
func (w *workload) pdb() *policyv1.PodDisruptionBudget {
	most := int32(1)
	if w.replicas != nil {
		most = *w.replicas
	}
	if w.autoscaling != nil {
		most = w.autoscaling.max
	}
	if most < 2 {
		return nil
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: w.meta(PDBName(w.gw, w.component)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: SelectorLabels(w.gw, w.component)},
			// Pods that never became ready may be evicted, so a broken rollout cannot block drains.
			UnhealthyPodEvictionPolicy: ptr.To(policyv1.AlwaysAllow),
		},
	}
}
