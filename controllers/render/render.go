package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/sipws/sipws/api/v1alpha1"
	"github.com/sipws/sipws/edge/config"
)

// DefaultReplicas is the replica count of a component without replicas or autoscaling.
const DefaultReplicas = 2

// Inputs are what the reconciler resolved for one render: images and default resources from
// its flags, and the referenced Secrets' content.
type Inputs struct {
	EdgeImage, RouterImage         string
	EdgeResources, RouterResources corev1.ResourceRequirements
	// ClusterDomain completes Service upstreams ("cluster.local").
	ClusterDomain string
	// Files are the resolved Secret keys (see ResolveFiles), including FlowKeysKey.
	Files map[string][]byte
	// CurrentReplicas are the replica counts the Deployments have now, by component. With
	// autoscaling the controller keeps applying the current count (the HPA's choice) so taking
	// over from a fixed count never resets the Deployment to one pod.
	CurrentReplicas map[Component]int32
}

// Output is everything a gateway renders to.
type Output struct {
	// Config is the data-plane configuration in the ConfigMap (edge and router share it).
	Config *config.Config
	// ConfigYAML is Config marshalled, the ConfigMap's ConfigKey.
	ConfigYAML []byte

	ConfigMap    *corev1.ConfigMap
	FilesSecret  *corev1.Secret
	Deployments  map[Component]*appsv1.Deployment
	Services     map[Component]*corev1.Service
	HPAs         map[Component]*autoscalingv2.HorizontalPodAutoscaler // absent: not wanted
	PDBs         map[Component]*policyv1.PodDisruptionBudget          // absent: not wanted
	RolloutHashs map[Component]string
}

// Objects lists every object of out in apply order: the files Secret before the ConfigMap that
// names its files, both before the Deployments that mount them.
func (out *Output) Objects() []client.Object {
	objs := []client.Object{out.FilesSecret, out.ConfigMap}
	for _, c := range []Component{Edge, Router} {
		objs = append(objs, out.Deployments[c], out.Services[c])
		if h := out.HPAs[c]; h != nil {
			objs = append(objs, h)
		}
		if p := out.PDBs[c]; p != nil {
			objs = append(objs, p)
		}
	}
	return objs
}

// InvalidError is a gateway the data plane would refuse; the reconciler reports it as
// Accepted=False and applies nothing.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

func invalid(format string, args ...any) error {
	return &InvalidError{fmt.Errorf(format, args...)}
}

// Render builds every child object of gw. An *InvalidError means the spec cannot work (the
// API server's validation lets through what only the data plane can check).
func Render(gw *v1.SipWebSocketGateway, in Inputs) (*Output, error) {
	cfg, err := DataPlaneConfig(gw, in)
	if err != nil {
		return nil, err
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("render: marshal config: %w", err)
	}
	out := &Output{
		Config:       cfg,
		ConfigYAML:   data,
		Deployments:  map[Component]*appsv1.Deployment{},
		Services:     map[Component]*corev1.Service{},
		HPAs:         map[Component]*autoscalingv2.HorizontalPodAutoscaler{},
		PDBs:         map[Component]*policyv1.PodDisruptionBudget{},
		RolloutHashs: map[Component]string{},
	}
	owner := OwnerReference(gw)
	out.ConfigMap = &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name: ConfigMapName(gw.Name), Namespace: gw.Namespace, Labels: Labels(gw.Name, ""),
			Annotations: map[string]string{AnnotationConfigHash: hashBytes(data)},
		},
		Data: map[string]string{ConfigKey: string(data)},
	}
	files := make(map[string][]byte, len(in.Files))
	for k, v := range in.Files {
		files[k] = v
	}
	for _, rt := range gw.Spec.Routes {
		if g := rt.Upstream.Registrar; g != nil && g.Auth != nil {
			name := registrarUsersFile(rt.Name)
			if v, ok := files[name]; ok {
				delete(files, name)
				files[hashedUsersFile(rt.Name, in.Files)] = v
			}
		}
	}
	out.FilesSecret = &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name: FilesSecretName(gw.Name), Namespace: gw.Namespace, Labels: Labels(gw.Name, ""),
			Annotations: map[string]string{AnnotationConfigHash: hashFiles(files)},
		},
		Type: corev1.SecretTypeOpaque,
		Data: files,
	}
	for _, w := range workloads(gw, in, cfg) {
		out.RolloutHashs[w.component] = w.rolloutHash
		out.Deployments[w.component] = w.deployment()
		out.Services[w.component] = w.serviceObject()
		if h := w.hpa(); h != nil {
			out.HPAs[w.component] = h
		}
		if p := w.pdb(); p != nil {
			out.PDBs[w.component] = p
		}
	}
	for _, o := range out.Objects() {
		o.SetOwnerReferences([]metav1.OwnerReference{owner})
	}
	return out, nil
}

// OwnerReference makes gw the controller of a child: deleting the gateway deletes it.
func OwnerReference(gw *v1.SipWebSocketGateway) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         v1.GroupVersion.String(),
		Kind:               "SipWebSocketGateway",
		Name:               gw.Name,
		UID:                gw.UID,
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}
}

// FlowTokenSecret is the generated key-ring Secret of a gateway without flowTokenSecretRef.
// The reconciler generates keys once (flow.GenerateKeyringFile) and passes the existing ones
// on every later render, so the key never changes by itself.
func FlowTokenSecret(gw *v1.SipWebSocketGateway, keyring []byte) *corev1.Secret {
	s := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name: FlowTokenSecretName(gw.Name), Namespace: gw.Namespace, Labels: Labels(gw.Name, ""),
			OwnerReferences: []metav1.OwnerReference{OwnerReference(gw)},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{v1.DefaultFlowTokenKey: keyring},
	}
	return s
}

// DataPlaneConfig is the edge/config file of gw, defaults filled so the ConfigMap says what
// runs. It is checked with the data plane's own Validate, so a config the pods would refuse is
// never written.
func DataPlaneConfig(gw *v1.SipWebSocketGateway, in Inputs) (*config.Config, error) {
	s := &gw.Spec
	file := func(name string) string { return FilesDir + "/" + name }
	c := &config.Config{
		Gateway:      GatewayToken(gw.Namespace, gw.Name),
		Workers:      int(s.Edge.Workers),
		DrainTimeout: config.D(mustDuration(s.Edge.DrainTimeout)),
		KeepAlive: config.KeepAlive{
			PingInterval: config.D(mustDuration(s.KeepAlive.PingInterval)),
			IdleTimeout:  config.D(mustDuration(s.KeepAlive.IdleTimeout)),
		},
		NATS:      config.NATS{URL: s.NATS.URL, SubjectPrefix: s.NATS.SubjectPrefix},
		FlowToken: config.FlowToken{KeysFile: file(FlowKeysKey)},
		Admin:     config.Admin{Address: ":" + strconv.Itoa(AdminPort)},
	}
	var errs []error
	for _, d := range []struct {
		field string
		v     v1.Duration
	}{{"spec.edge.drainTimeout", s.Edge.DrainTimeout}, {"spec.keepAlive.pingInterval", s.KeepAlive.PingInterval}, {"spec.keepAlive.idleTimeout", s.KeepAlive.IdleTimeout}} {
		if _, err := d.v.Parse(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.field, err))
		}
	}
	if s.NATS.CredentialsSecretRef != nil {
		c.NATS.CredentialsFile = file(fileNATSCreds)
	}
	if t := s.NATS.TLS; t != nil {
		if t.CASecretRef != nil {
			c.NATS.CAFile = file(fileNATSCA)
		}
		if t.ClientCertificateRef != nil {
			c.NATS.CertFile, c.NATS.KeyFile = file(fileNATSCert), file(fileNATSKey)
		}
	}
	for _, l := range s.Listeners {
		if l.Name == AdminName {
			errs = append(errs, fmt.Errorf("spec.listeners: the name %q is reserved for the admin port", AdminName))
		}
		if strings.Contains(l.Name, "--") {
			// It names the container and Service ports, which are IANA service names.
			errs = append(errs, fmt.Errorf("spec.listeners[%s].name: must not contain \"--\" (it is a Kubernetes port name)", l.Name))
		}
		cl := config.Listener{
			Name:           l.Name,
			Address:        net.JoinHostPort("", strconv.Itoa(int(l.Port))),
			Protocol:       protocol(l.Protocol),
			Path:           l.Path,
			AllowedOrigins: l.AllowedOrigins,
		}
		lim, err := limits(s.Limits, l.Limits)
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.listeners[%s].limits: %w", l.Name, err))
		}
		cl.Limits = lim
		if l.TLS != nil {
			cl.TLS = &config.TLS{MinVersion: l.TLS.MinVersion}
			for j := range l.TLS.CertificateRefs {
				cl.TLS.Certificates = append(cl.TLS.Certificates, config.Certificate{
					CertFile: file(fmt.Sprintf(listenerCertFmt, l.Name, j)),
					KeyFile:  file(fmt.Sprintf(listenerKeyFmt, l.Name, j)),
				})
			}
		}
		c.Listeners = append(c.Listeners, cl)
	}
	r := &s.Router
	port := r.SIPPort
	if port == 0 {
		port = 5070
	}
	c.Router.Listen.UDP = net.JoinHostPort("", strconv.Itoa(int(port)))
	c.Router.Listen.TCP = c.Router.Listen.UDP
	if r.TLS != nil {
		c.Router.Listen.TLS = net.JoinHostPort("", strconv.Itoa(int(routerTLSPort(r.TLS))))
		c.Router.Listen.CertFile, c.Router.Listen.KeyFile = file(fileRouterCert), file(fileRouterKey)
	}
	c.Router.AnswerOptions = r.AnswerOptions
	c.Router.MaxTransactions = int(r.MaxTransactions)
	if t := r.Timers; t != nil {
		c.Router.Timers = config.Timers{T1: config.D(mustDuration(t.T1)), T2: config.D(mustDuration(t.T2)), Failover: config.D(mustDuration(t.Failover))}
	}
	for _, rt := range s.Routes {
		cr, err := route(gw, rt, in.ClusterDomain, in.Files)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.Router.Routes = append(c.Router.Routes, cr)
	}
	if len(errs) > 0 {
		return nil, &InvalidError{errors.Join(errs...)}
	}

	// Defaults make the ConfigMap explicit; the two that depend on the process (node, workers)
	// are left for each pod to fill.
	c.Default()
	c.Node = ""
	c.Workers = int(s.Edge.Workers)
	check := *c
	check.Node = "render-check"
	if check.Workers == 0 {
		check.Workers = config.MinWorkers
	}
	if err := check.Validate(); err != nil {
		return nil, &InvalidError{fmt.Errorf("the data plane would refuse this configuration: %w", err)}
	}
	return c, nil
}

func protocol(p v1.ListenerProtocol) string {
	switch p {
	case v1.ProtocolWSS:
		return "wss"
	case v1.ProtocolWS:
		return "ws"
	}
	return string(p) // Validate names it
}

func routerTLSPort(t *v1.RouterTLS) int32 {
	if t.Port == 0 {
		return 5061
	}
	return t.Port
}

// limits merges a listener's limits over the gateway's, field by field; zero stays zero and
// gets the data-plane default.
func limits(gateway, listener *v1.Limits) (config.Limits, error) {
	var m v1.Limits
	for _, l := range []*v1.Limits{gateway, listener} {
		if l == nil {
			continue
		}
		pick := func(dst *int32, v int32) {
			if v != 0 {
				*dst = v
			}
		}
		pick(&m.MaxConnections, l.MaxConnections)
		pick(&m.MaxConnectionsPerIP, l.MaxConnectionsPerIP)
		pick(&m.HandshakesPerSecondPerIP, l.HandshakesPerSecondPerIP)
		pick(&m.HandshakeBurstPerIP, l.HandshakeBurstPerIP)
		pick(&m.MaxMessageBytes, l.MaxMessageBytes)
		pick(&m.SendQueueBytes, l.SendQueueBytes)
		pick(&m.MaxInvalidMessages, l.MaxInvalidMessages)
		pick(&m.MessagesPerSecond, l.MessagesPerSecond)
		pick(&m.MessageBurst, l.MessageBurst)
		if l.HandshakeTimeout != "" {
			m.HandshakeTimeout = l.HandshakeTimeout
		}
	}
	ht, err := m.HandshakeTimeout.Parse()
	return config.Limits{
		MaxConnections:           int(m.MaxConnections),
		MaxConnectionsPerIP:      int(m.MaxConnectionsPerIP),
		HandshakesPerSecondPerIP: float64(m.HandshakesPerSecondPerIP),
		HandshakeBurstPerIP:      int(m.HandshakeBurstPerIP),
		HandshakeTimeout:         config.D(ht),
		MaxMessageBytes:          int(m.MaxMessageBytes),
		SendQueueBytes:           int(m.SendQueueBytes),
		MaxInvalidMessages:       int(m.MaxInvalidMessages),
		MessagesPerSecond:        float64(m.MessagesPerSecond),
		MessageBurst:             int(m.MessageBurst),
	}, err
}

func route(gw *v1.SipWebSocketGateway, rt v1.Route, clusterDomain string, files map[string][]byte) (config.Route, error) {
	f := "spec.routes[" + rt.Name + "]"
	cr := config.Route{Name: rt.Name, FlowRouting: string(rt.FlowRouting)}
	if m := rt.Match; m != nil {
		cr.Match = config.RouteMatch{Domains: m.Domains, Users: m.Users, Methods: m.Methods, Listeners: m.Listeners}
	}
	u := rt.Upstream
	cr.Upstream.Balance = string(u.Balance)
	switch {
	case len(u.Targets) > 0:
		for _, t := range u.Targets {
			cr.Upstream.Targets = append(cr.Upstream.Targets, config.Target{URI: t.URI, Weight: int(t.Weight)})
		}
	case u.ServiceRef != nil:
		cr.Upstream.Targets = []config.Target{{URI: ServiceURI(gw.Namespace, *u.ServiceRef, clusterDomain), Weight: 1}}
	case u.NATSSubject != "":
		cr.Upstream.NATSSubject = u.NATSSubject
	case u.Registrar != nil:
		g := u.Registrar
		cr.Upstream.Registrar = &config.Registrar{
			Bucket:         g.Bucket,
			Replicas:       int(g.Replicas),
			MinExpires:     config.D(mustDuration(g.MinExpires)),
			MaxExpires:     config.D(mustDuration(g.MaxExpires)),
			DefaultExpires: config.D(mustDuration(g.DefaultExpires)),
		}
		if a := g.Auth; a != nil {
			cr.Upstream.Registrar.Auth = &config.RegistrarAuth{
				Realm: a.Realm,
				// The router reads the users file when the config is (re)loaded: the name
				// carries a hash of its content so a changed users Secret changes the config
				// and reaches running routers.
				UsersFile:  FilesDir + "/" + hashedUsersFile(rt.Name, files),
				Algorithms: a.Algorithms,
				Requests:   a.Requests,
			}
		}
	default:
		return cr, fmt.Errorf("%s.upstream: exactly one of targets, serviceRef, natsSubject or registrar is required", f)
	}
	if h := u.HealthCheck; h != nil {
		cr.Upstream.HealthCheck = config.HealthCheck{
			Interval:  config.D(mustDuration(h.Interval)),
			Timeout:   config.D(mustDuration(h.Timeout)),
			UpAfter:   int(h.UpAfter),
			DownAfter: int(h.DownAfter),
			Disabled:  h.Disabled,
		}
	}
	return cr, nil
}

// hashedUsersFile is the name of a route's users file in the files Secret: the name carries a
// hash of the content (see Render).
func hashedUsersFile(route string, files map[string][]byte) string {
	return strings.TrimSuffix(registrarUsersFile(route), ".yaml") + "-" + hashBytes(files[registrarUsersFile(route)])[:8] + ".yaml"
}

// ServiceURI is the SIP URI of a Service upstream: its cluster DNS name, which the router
// resolves like any other host (a headless Service gives one address per ready pod).
func ServiceURI(namespace string, s v1.ServiceReference, clusterDomain string) string {
	if clusterDomain == "" {
		clusterDomain = "cluster.local"
	}
	t := s.Transport
	if t == "" {
		t = v1.TransportUDP
	}
	scheme := "sip"
	if t == v1.TransportTLS {
		scheme = "sips"
	}
	return fmt.Sprintf("%s:%s.%s.svc.%s:%d;transport=%s", scheme, s.Name, namespace, clusterDomain, s.Port, t)
}

// mustDuration parses a duration the API server already checked against a pattern; a value
// that still does not parse is reported by DataPlaneConfig's own check and renders as 0 here.
func mustDuration(d v1.Duration) time.Duration {
	v, _ := d.Parse()
	return v
}

func hashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// hashFiles hashes names and contents in name order.
func hashFiles(files map[string][]byte) string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// rolloutHash hashes what only a restart applies. JSON of a struct is deterministic.
func rolloutHash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // unreachable: plain structs of strings and numbers
	}
	return hashBytes(b)
}

// workloads fills the edge and the router workloads.
func workloads(gw *v1.SipWebSocketGateway, in Inputs, cfg *config.Config) []*workload {
	s := &gw.Spec
	keys := hashBytes(in.Files[FlowKeysKey])
	// The NATS connection and the flow-token keys are read once at start-up by both tiers.
	type natsKey struct{ URL, Prefix, Creds, CA, Cert string }
	nk := natsKey{cfg.NATS.URL, cfg.NATS.SubjectPrefix, cfg.NATS.CredentialsFile, cfg.NATS.CAFile, cfg.NATS.CertFile}

	edge := newWorkload(gw, Edge, &s.Edge.Workload, in.EdgeImage, in.EdgeResources, in)
	type listenerKey struct {
		Name, Protocol string
		Port           int32
	}
	var lk []listenerKey
	for _, l := range s.Listeners {
		lk = append(lk, listenerKey{l.Name, string(l.Protocol), l.Port})
		edge.ports = append(edge.ports, corev1.ContainerPort{Name: l.Name, ContainerPort: l.Port, Protocol: corev1.ProtocolTCP})
		edge.service.ports = append(edge.service.ports, corev1.ServicePort{
			Name: l.Name, Port: l.Port, TargetPort: intstr.FromInt32(l.Port), Protocol: corev1.ProtocolTCP,
			AppProtocol: ptr.To(map[v1.ListenerProtocol]string{v1.ProtocolWS: "kubernetes.io/ws", v1.ProtocolWSS: "kubernetes.io/wss"}[l.Protocol]),
		})
	}
	edge.rolloutHash = rolloutHash(struct {
		Image     string
		Listeners []listenerKey
		NATS      natsKey
		Keys      string
		Workers   int32
	}{edge.image, lk, nk, keys, s.Edge.Workers})
	edge.service.typ = serviceType(s.Edge.Service.Type, corev1.ServiceTypeLoadBalancer)
	edge.service.opts = s.Edge.Service.ServiceOptions
	if a := s.Edge.Autoscaling; a != nil && a.TargetFlowsPerPod != nil {
		edge.autoscaling.targetFlows = int64(*a.TargetFlowsPerPod)
	}

	router := newWorkload(gw, Router, &s.Router.Workload, in.RouterImage, in.RouterResources, in)
	sipPort := s.Router.SIPPort
	if sipPort == 0 {
		sipPort = 5070
	}
	router.ports = []corev1.ContainerPort{
		{Name: "sip-udp", ContainerPort: sipPort, Protocol: corev1.ProtocolUDP},
		{Name: "sip-tcp", ContainerPort: sipPort, Protocol: corev1.ProtocolTCP},
	}
	var tlsPort int32
	if t := s.Router.TLS; t != nil {
		tlsPort = routerTLSPort(t)
		router.ports = append(router.ports, corev1.ContainerPort{Name: "sip-tls", ContainerPort: tlsPort, Protocol: corev1.ProtocolTCP})
	}
	for _, p := range router.ports {
		router.service.ports = append(router.service.ports, corev1.ServicePort{Name: p.Name, Port: p.ContainerPort, TargetPort: intstr.FromInt32(p.ContainerPort), Protocol: p.Protocol})
	}
	router.rolloutHash = rolloutHash(struct {
		Image       string
		SIP, SIPTLS int32
		NATS        natsKey
		Keys        string
	}{router.image, sipPort, tlsPort, nk, keys})
	router.service.typ = serviceType(s.Router.Service.Type, corev1.ServiceTypeClusterIP)
	router.service.opts = s.Router.Service.ServiceOptions
	return []*workload{edge, router}
}

func newWorkload(gw *v1.SipWebSocketGateway, c Component, w *v1.Workload, image string, res corev1.ResourceRequirements, in Inputs) *workload {
	out := &workload{
		gw:                 gw.Name,
		namespace:          gw.Namespace,
		component:          c,
		image:              image,
		resources:          res,
		nodeSelector:       w.NodeSelector,
		tolerations:        w.Tolerations,
		affinity:           w.Affinity,
		podAnnotations:     w.PodAnnotations,
		drainTimeout:       mustDuration(w.DrainTimeout),
		memoryLimitPercent: w.MemoryLimitPercent,
	}
	if out.drainTimeout == 0 {
		out.drainTimeout = config.DefaultDrainTimeout
	}
	if w.Image != "" {
		out.image = w.Image
	}
	if w.Resources != nil {
		out.resources = *w.Resources
	}
	switch a := w.Autoscaling; {
	case a != nil:
		min := a.MinReplicas
		if min == 0 {
			min = DefaultReplicas
		}
		out.autoscaling = &autoscaling{min: min, max: a.MaxReplicas}
		if a.TargetCPUUtilizationPercentage != nil {
			out.autoscaling.targetCPU = *a.TargetCPUUtilizationPercentage
		}
		n := in.CurrentReplicas[c]
		if n == 0 {
			n = min
		}
		out.replicas = ptr.To(n)
	case w.Replicas != nil:
		out.replicas = ptr.To(*w.Replicas)
	default:
		out.replicas = ptr.To[int32](DefaultReplicas)
	}
	return out
}

func serviceType(t v1.ServiceType, def corev1.ServiceType) corev1.ServiceType {
	if t == "" {
		return def
	}
	return corev1.ServiceType(t)
}

// Unstructured is obj as it is applied: with apiVersion and kind, without status and the
// null creationTimestamps a typed object always carries (applying those would make the
// controller claim fields it never set).
func Unstructured(obj client.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("render: %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
	}
	u := &unstructured.Unstructured{Object: m}
	delete(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	if u.GetAPIVersion() == "" || u.GetKind() == "" {
		return nil, fmt.Errorf("render: %s has no apiVersion/kind", obj.GetName())
	}
	return u, nil
}
