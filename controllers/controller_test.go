package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/sipws/sipws/api/v1alpha1"
	"github.com/sipws/sipws/controllers/render"
)

// The suite runs the reconciler against a real kube-apiserver and etcd (envtest). There is no
// kube-controller-manager: Deployments never get pods, and the garbage collector does not run,
// so the tests assert what the API server shows and play the Deployment controller's part
// where Ready needs it.

var (
	// edgeFlows is the gauge the suite's stand-in edge serves.
	edgeFlows = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sipws_edge_flows", Help: "Open WebSocket flows."}, []string{"listener"})
	k8s       client.Client // direct, uncached
	testEnv   *envtest.Environment
	nsSeq     atomic.Int32
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); assets == "" || err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: the controller tests need a real kube-apiserver and etcd in $KUBEBUILDER_ASSETS (now %q): %s is missing.\n"+
				"Run `make envtest-bins` (builds them into the cache) or run the tests through `make test`, which sets KUBEBUILDER_ASSETS.\n", assets, bin)
			return 1
		}
	}
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := testEnv.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: start envtest (kube-apiserver + etcd from %s): %v\n", assets, err)
		return 1
	}
	defer func() {
		if err := testEnv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		}
	}()
	scheme := NewScheme()
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: client: %v\n", err)
		return 1
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: manager: %v\n", err)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctrllog.SetLogger(logr.FromSlogHandler(logger.Handler()))
	// A real Prometheus endpoint stands in for the edge pods' admin port (the test's "pods"
	// have the IP 127.0.0.1).
	ml, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: listen: %v\n", err)
		return 1
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(edgeFlows)
	msrv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = msrv.Serve(ml) }()
	defer msrv.Close()
	opts := Options{EdgeImage: "sipws:edge-test", RouterImage: "sipws:router-test", ClusterDomain: "cluster.local", Logger: logger,
		FlowsInterval: 200 * time.Millisecond, flowsPort: ml.Addr().(*net.TCPAddr).Port}
	if err := Setup(mgr, opts); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: setup: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintf(os.Stderr, "manager: %v\n", err)
	}
	return code
}

// namespace creates a fresh namespace for one test.
func namespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", nsSeq.Add(1), strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name())))
	if len(name) > 63 {
		name = name[:63]
	}
	name = strings.TrimRight(name, "-")
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return name
}

// eventually polls check until it returns nil, failing with its last error after a bound
// that is generous for a loaded CI machine (it is a bound, not a timing assertion).
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var err error
	for i := 0; i < 1200 && time.Now().Before(deadline); i++ {
		if err = check(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

func tlsSecret(ns, name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: []byte("cert of " + name), corev1.TLSPrivateKeyKey: []byte("key of " + name)},
	}
}

func gateway(ns string) *v1.SipWebSocketGateway {
	return &v1.SipWebSocketGateway{
		ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: ns},
		Spec: v1.SipWebSocketGatewaySpec{
			Listeners: []v1.Listener{
				{Name: "ws", Port: 8080, Protocol: v1.ProtocolWS},
				{Name: "wss", Port: 443, Protocol: v1.ProtocolWSS, TLS: &v1.ListenerTLS{CertificateRefs: []v1.SecretReference{{Name: "wss-cert"}}}},
			},
			Routes: []v1.Route{{Name: "pbx", Upstream: v1.Upstream{Targets: []v1.Target{{URI: "sip:pbx.example.com:5060"}}}}},
			NATS:   v1.NATS{URL: "nats://nats.nats.svc:4222"},
			Edge: v1.EdgeSpec{Workload: v1.Workload{
				Autoscaling: &v1.Autoscaling{MinReplicas: 2, MaxReplicas: 10, TargetFlowsPerPod: ptr.To[int32](5000)},
			}},
		},
	}
}

func getGW(t *testing.T, ns string) *v1.SipWebSocketGateway {
	t.Helper()
	var gw v1.SipWebSocketGateway
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "gw"}, &gw); err != nil {
		t.Fatal(err)
	}
	return &gw
}

// updateGW applies mutate to the stored gateway, retrying on conflicts.
func updateGW(t *testing.T, ns string, mutate func(*v1.SipWebSocketGateway)) int64 {
	t.Helper()
	var gen int64
	eventually(t, "update gateway", func() error {
		gw := getGW(t, ns)
		mutate(gw)
		if err := k8s.Update(context.Background(), gw); err != nil {
			return err
		}
		gen = gw.Generation
		return nil
	})
	return gen
}

// condition checks that the gateway reports cond with status want at its current generation.
func condition(ns string, cond v1.ConditionType, want metav1.ConditionStatus, reason v1.ConditionReason) func() error {
	return func() error {
		var gw v1.SipWebSocketGateway
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "gw"}, &gw); err != nil {
			return err
		}
		if gw.Status.ObservedGeneration != gw.Generation {
			return fmt.Errorf("status.observedGeneration %d, generation %d", gw.Status.ObservedGeneration, gw.Generation)
		}
		c := meta.FindStatusCondition(gw.Status.Conditions, string(cond))
		if c == nil {
			return fmt.Errorf("no %s condition in %+v", cond, gw.Status.Conditions)
		}
		if c.Status != want || (reason != "" && c.Reason != string(reason)) || c.ObservedGeneration != gw.Generation {
			return fmt.Errorf("%s = %s/%s (gen %d): %s; want %s/%s (gen %d)", cond, c.Status, c.Reason, c.ObservedGeneration, c.Message, want, reason, gw.Generation)
		}
		return nil
	}
}

func get(t *testing.T, ns, name string, obj client.Object) error {
	t.Helper()
	return k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj)
}

// setup creates the certificate Secret and the gateway and waits until it is programmed.
func setup(t *testing.T, mutate func(*v1.SipWebSocketGateway)) (string, *v1.SipWebSocketGateway) {
	t.Helper()
	ns := namespace(t)
	ctx := context.Background()
	if err := k8s.Create(ctx, tlsSecret(ns, "wss-cert")); err != nil {
		t.Fatal(err)
	}
	gw := gateway(ns)
	if mutate != nil {
		mutate(gw)
	}
	if err := k8s.Create(ctx, gw); err != nil {
		t.Fatalf("create gateway: %v", err)
	}
	eventually(t, "Programmed", condition(ns, v1.ConditionProgrammed, metav1.ConditionTrue, v1.ReasonProgrammed))
	return ns, getGW(t, ns)
}

func TestCreateGateway(t *testing.T) {
	ns, gw := setup(t, nil)
	ctx := context.Background()

	children := []struct {
		name string
		obj  client.Object
	}{
		{render.ConfigMapName("gw"), &corev1.ConfigMap{}},
		{render.FilesSecretName("gw"), &corev1.Secret{}},
		{render.FlowTokenSecretName("gw"), &corev1.Secret{}},
		{"gw-edge", &appsv1.Deployment{}},
		{"gw-router", &appsv1.Deployment{}},
		{"gw-edge", &corev1.Service{}},
		{"gw-router", &corev1.Service{}},
		{"gw-edge", &autoscalingv2.HorizontalPodAutoscaler{}},
		{"gw-edge", &policyv1.PodDisruptionBudget{}},
		{"gw-router", &policyv1.PodDisruptionBudget{}},
	}
	for _, c := range children {
		kind := fmt.Sprintf("%T", c.obj)
		if err := get(t, ns, c.name, c.obj); err != nil {
			t.Errorf("%s %s: %v", kind, c.name, err)
			continue
		}
		if !metav1.IsControlledBy(c.obj, gw) {
			t.Errorf("%s %s: owner references %+v, want the gateway as controller", kind, c.name, c.obj.GetOwnerReferences())
		}
		if c.name == render.FlowTokenSecretName("gw") {
			continue // created, not applied: the key must never be replaced
		}
		applied := false
		for _, f := range c.obj.GetManagedFields() {
			applied = applied || (f.Manager == FieldOwner && f.Operation == metav1.ManagedFieldsOperationApply)
		}
		if !applied {
			t.Errorf("%s %s: not server-side applied by %s: %+v", kind, c.name, FieldOwner, c.obj.GetManagedFields())
		}
	}
	var routerHPA autoscalingv2.HorizontalPodAutoscaler
	if err := get(t, ns, "gw-router", &routerHPA); !apierrors.IsNotFound(err) {
		t.Errorf("router HPA without router autoscaling: err = %v, want NotFound", err)
	}

	// The files Secret carries the certificate and the generated key ring.
	var files, keys corev1.Secret
	if err := get(t, ns, "gw-files", &files); err != nil {
		t.Fatal(err)
	}
	if err := get(t, ns, "gw-flow-token", &keys); err != nil {
		t.Fatal(err)
	}
	if got := string(files.Data["listener-wss-0.crt"]); got != "cert of wss-cert" {
		t.Errorf("files Secret certificate = %q", got)
	}
	if string(files.Data[render.FlowKeysKey]) != string(keys.Data[v1.DefaultFlowTokenKey]) || len(keys.Data[v1.DefaultFlowTokenKey]) == 0 {
		t.Errorf("files Secret key ring differs from the generated Secret's")
	}

	for _, check := range []struct {
		cond   v1.ConditionType
		status metav1.ConditionStatus
		reason v1.ConditionReason
	}{
		{v1.ConditionAccepted, metav1.ConditionTrue, v1.ReasonAccepted},
		{v1.ConditionResolvedRefs, metav1.ConditionTrue, v1.ReasonResolvedRefs},
		{v1.ConditionProgrammed, metav1.ConditionTrue, v1.ReasonProgrammed},
		// envtest runs no Deployment controller: no pod is ever available.
		{v1.ConditionReady, metav1.ConditionFalse, v1.ReasonPodsNotReady},
	} {
		if err := condition(ns, check.cond, check.status, check.reason)(); err != nil {
			t.Error(err)
		}
	}
	gw = getGW(t, ns)
	if len(gw.Status.Listeners) != 2 || gw.Status.Listeners[1].Name != "wss" || gw.Status.Listeners[1].Port != 443 ||
		!meta.IsStatusConditionTrue(gw.Status.Listeners[1].Conditions, string(v1.ConditionProgrammed)) {
		t.Errorf("listener status = %+v", gw.Status.Listeners)
	}
	if gw.Status.ListenerCount != 2 {
		t.Errorf("status.listenerCount = %d, want 2", gw.Status.ListenerCount)
	}
	if gw.Status.FlowTokenSecret != "gw-flow-token" {
		t.Errorf("status.flowTokenSecret = %q", gw.Status.FlowTokenSecret)
	}

	// Play the Deployment controller and the cloud load balancer: Ready follows availability
	// and the edge Service's address.
	for _, name := range []string{"gw-edge", "gw-router"} {
		eventually(t, "mark "+name+" available", func() error {
			var d appsv1.Deployment
			if err := get(t, ns, name, &d); err != nil {
				return err
			}
			d.Status = appsv1.DeploymentStatus{
				ObservedGeneration: d.Generation, Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, UpdatedReplicas: 2,
				Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
					LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
			}
			return k8s.Status().Update(ctx, &d)
		})
	}
	eventually(t, "Ready waits for an address", condition(ns, v1.ConditionReady, metav1.ConditionFalse, v1.ReasonAddressNotAssigned))
	eventually(t, "assign a load balancer address", func() error {
		var s corev1.Service
		if err := get(t, ns, "gw-edge", &s); err != nil {
			return err
		}
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}}
		return k8s.Status().Update(ctx, &s)
	})
	eventually(t, "Ready", condition(ns, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonReady))
	gw = getGW(t, ns)
	if len(gw.Status.Addresses) != 1 || gw.Status.Addresses[0].Value != "203.0.113.7" || gw.Status.Edge.ReadyReplicas != 2 || gw.Status.Router.ReadyReplicas != 2 {
		t.Errorf("status addresses %+v, edge %+v, router %+v", gw.Status.Addresses, gw.Status.Edge, gw.Status.Router)
	}
}

// TestRouteChange: a route change reaches the pods through the ConfigMap; the Deployments'
// specs (and so their pods) are untouched.
func TestRouteChange(t *testing.T) {
	ns, _ := setup(t, nil)
	var cm0 corev1.ConfigMap
	var edge0, router0 appsv1.Deployment
	for name, o := range map[string]client.Object{"gw-config": &cm0, "gw-edge": &edge0, "gw-router": &router0} {
		if err := get(t, ns, name, o); err != nil {
			t.Fatal(err)
		}
	}
	updateGW(t, ns, func(gw *v1.SipWebSocketGateway) {
		gw.Spec.Routes[0].Upstream.Targets[0].URI = "sip:pbx2.example.com:5060"
		gw.Spec.Listeners[1].AllowedOrigins = []string{"https://app.example.com"}
	})
	eventually(t, "ConfigMap has the new route", func() error {
		var cm corev1.ConfigMap
		if err := get(t, ns, "gw-config", &cm); err != nil {
			return err
		}
		if !strings.Contains(cm.Data[render.ConfigKey], "pbx2.example.com") || !strings.Contains(cm.Data[render.ConfigKey], "https://app.example.com") {
			return errors.New("ConfigMap does not have the new route and origin yet")
		}
		return nil
	})
	eventually(t, "Programmed", condition(ns, v1.ConditionProgrammed, metav1.ConditionTrue, v1.ReasonProgrammed))
	for name, before := range map[string]*appsv1.Deployment{"gw-edge": &edge0, "gw-router": &router0} {
		var d appsv1.Deployment
		if err := get(t, ns, name, &d); err != nil {
			t.Fatal(err)
		}
		if d.Generation != before.Generation || !equality.Semantic.DeepEqual(d.Spec.Template, before.Spec.Template) {
			t.Errorf("%s: a route change changed the Deployment (generation %d -> %d)", name, before.Generation, d.Generation)
		}
	}
}

// TestPortChange: a listener port is only read at start-up, so it rolls the edge pods.
func TestPortChange(t *testing.T) {
	ns, _ := setup(t, nil)
	var edge0, router0 appsv1.Deployment
	if err := get(t, ns, "gw-edge", &edge0); err != nil {
		t.Fatal(err)
	}
	if err := get(t, ns, "gw-router", &router0); err != nil {
		t.Fatal(err)
	}
	updateGW(t, ns, func(gw *v1.SipWebSocketGateway) { gw.Spec.Listeners[0].Port = 8081 })
	eventually(t, "edge pod template rolls", func() error {
		var d appsv1.Deployment
		if err := get(t, ns, "gw-edge", &d); err != nil {
			return err
		}
		h0, h := edge0.Spec.Template.Annotations[render.AnnotationRolloutHash], d.Spec.Template.Annotations[render.AnnotationRolloutHash]
		if h == h0 || d.Generation == edge0.Generation {
			return fmt.Errorf("rollout hash %s (was %s), generation %d (was %d)", h, h0, d.Generation, edge0.Generation)
		}
		for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
			if p.ContainerPort == 8081 {
				return nil
			}
		}
		return errors.New("container port 8081 missing")
	})
	eventually(t, "edge Service port", func() error {
		var s corev1.Service
		if err := get(t, ns, "gw-edge", &s); err != nil {
			return err
		}
		if s.Spec.Ports[0].Port != 8081 || len(s.Spec.Ports) != 2 {
			return fmt.Errorf("Service ports %+v", s.Spec.Ports)
		}
		return nil
	})
	var r appsv1.Deployment
	if err := get(t, ns, "gw-router", &r); err != nil {
		t.Fatal(err)
	}
	if r.Generation != router0.Generation {
		t.Errorf("an edge port change rolled the router (generation %d -> %d)", router0.Generation, r.Generation)
	}
}

// TestMissingSecret: a reference to a missing Secret is reported by name, and the running
// configuration stays until the Secret appears.
func TestMissingSecret(t *testing.T) {
	t.Run("new gateway", func(t *testing.T) {
		ns := namespace(t)
		gw := gateway(ns)
		gw.Spec.Listeners[1].TLS.CertificateRefs[0].Name = "absent-cert"
		if err := k8s.Create(context.Background(), gw); err != nil {
			t.Fatal(err)
		}
		eventually(t, "ResolvedRefs=False", condition(ns, v1.ConditionResolvedRefs, metav1.ConditionFalse, v1.ReasonSecretNotFound))
		g := getGW(t, ns)
		if c := meta.FindStatusCondition(g.Status.Conditions, string(v1.ConditionResolvedRefs)); !strings.Contains(c.Message, `"absent-cert"`) {
			t.Errorf("ResolvedRefs message %q does not name the Secret", c.Message)
		}
		if l := g.Status.Listeners[1]; !meta.IsStatusConditionFalse(l.Conditions, string(v1.ConditionResolvedRefs)) {
			t.Errorf("listener wss conditions %+v, want ResolvedRefs=False", l.Conditions)
		}
		if err := condition(ns, v1.ConditionProgrammed, metav1.ConditionFalse, v1.ReasonPending)(); err != nil {
			t.Error(err)
		}
		var cm corev1.ConfigMap
		if err := get(t, ns, "gw-config", &cm); !apierrors.IsNotFound(err) {
			t.Errorf("ConfigMap written without its Secret: err = %v", err)
		}
		// The Secret watch brings the gateway back when it is created.
		if err := k8s.Create(context.Background(), tlsSecret(ns, "absent-cert")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "ResolvedRefs=True", condition(ns, v1.ConditionResolvedRefs, metav1.ConditionTrue, v1.ReasonResolvedRefs))
		eventually(t, "Programmed", condition(ns, v1.ConditionProgrammed, metav1.ConditionTrue, v1.ReasonProgrammed))
	})
	t.Run("running gateway keeps its config", func(t *testing.T) {
		ns, _ := setup(t, nil)
		var cm0 corev1.ConfigMap
		if err := get(t, ns, "gw-config", &cm0); err != nil {
			t.Fatal(err)
		}
		var filesSecret0 corev1.Secret
		if err := get(t, ns, "gw-files", &filesSecret0); err != nil {
			t.Fatal(err)
		}
		updateGW(t, ns, func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Listeners[1].TLS.CertificateRefs = append(gw.Spec.Listeners[1].TLS.CertificateRefs, v1.SecretReference{Name: "second-cert"})
			gw.Spec.Routes[0].Upstream.Targets[0].URI = "sip:elsewhere.example.com"
		})
		eventually(t, "ResolvedRefs=False", condition(ns, v1.ConditionResolvedRefs, metav1.ConditionFalse, v1.ReasonSecretNotFound))
		eventually(t, "Programmed=False", condition(ns, v1.ConditionProgrammed, metav1.ConditionFalse, v1.ReasonPending))
		var cm corev1.ConfigMap
		var files corev1.Secret
		if err := get(t, ns, "gw-config", &cm); err != nil {
			t.Fatal(err)
		}
		if err := get(t, ns, "gw-files", &files); err != nil {
			t.Fatal(err)
		}
		if cm.ResourceVersion != cm0.ResourceVersion || files.ResourceVersion != filesSecret0.ResourceVersion {
			t.Errorf("ConfigMap or files Secret changed while a Secret is missing")
		}
	})
}

// TestRemoveAutoscaling: removing the autoscaling block deletes the HPA.
func TestRemoveAutoscaling(t *testing.T) {
	ns, _ := setup(t, nil)
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := get(t, ns, "gw-edge", &hpa); err != nil {
		t.Fatalf("HPA: %v", err)
	}
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Pods == nil || hpa.Spec.Metrics[0].Pods.Metric.Name != "sipws_edge_flows" {
		t.Errorf("HPA metrics %+v, want the Pods metric sipws_edge_flows", hpa.Spec.Metrics)
	}
	updateGW(t, ns, func(gw *v1.SipWebSocketGateway) {
		gw.Spec.Edge.Autoscaling = nil
		gw.Spec.Edge.Replicas = ptr.To[int32](1)
	})
	eventually(t, "HPA deleted", func() error {
		var h autoscalingv2.HorizontalPodAutoscaler
		if err := get(t, ns, "gw-edge", &h); !apierrors.IsNotFound(err) {
			return fmt.Errorf("HPA still there (err %v)", err)
		}
		// One replica: no PodDisruptionBudget either (it would block node drains).
		var p policyv1.PodDisruptionBudget
		if err := get(t, ns, "gw-edge", &p); !apierrors.IsNotFound(err) {
			return fmt.Errorf("PDB still there (err %v)", err)
		}
		var d appsv1.Deployment
		if err := get(t, ns, "gw-edge", &d); err != nil {
			return err
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
			return fmt.Errorf("edge replicas %v, want 1", d.Spec.Replicas)
		}
		return nil
	})
}

// TestNotAccepted: what the schema lets through but the data plane refuses is reported as
// Accepted=False and nothing is applied.
func TestNotAccepted(t *testing.T) {
	invalid0 := testutil.ToFloat64(reconcileOutcomes.WithLabelValues(outcomeInvalid))
	ns := namespace(t)
	gw := gateway(ns)
	gw.Spec.Listeners[0].Port = render.AdminPort
	if err := k8s.Create(context.Background(), tlsSecret(ns, "wss-cert")); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(context.Background(), gw); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Accepted=False", condition(ns, v1.ConditionAccepted, metav1.ConditionFalse, v1.ReasonInvalid))
	c := meta.FindStatusCondition(getGW(t, ns).Status.Conditions, string(v1.ConditionAccepted))
	if !strings.Contains(c.Message, "admin.address") {
		t.Errorf("Accepted message %q does not say what is wrong", c.Message)
	}
	if got := testutil.ToFloat64(reconcileOutcomes.WithLabelValues(outcomeInvalid)); got <= invalid0 {
		t.Errorf("sipws_controller_reconcile_outcomes_total{outcome=invalid} = %v, want more than %v", got, invalid0)
	}
	var d appsv1.Deployment
	if err := get(t, ns, "gw-edge", &d); !apierrors.IsNotFound(err) {
		t.Errorf("edge Deployment of a refused gateway: err = %v", err)
	}
}

// TestCertificateRenewal: a renewed certificate reaches the files Secret (the Secret watch) and
// nothing else changes: the edge re-reads certificate files without a restart.
func TestCertificateRenewal(t *testing.T) {
	ns, _ := setup(t, nil)
	var cm0 corev1.ConfigMap
	var edge0 appsv1.Deployment
	if err := get(t, ns, "gw-config", &cm0); err != nil {
		t.Fatal(err)
	}
	if err := get(t, ns, "gw-edge", &edge0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "renew the certificate", func() error {
		var s corev1.Secret
		if err := get(t, ns, "wss-cert", &s); err != nil {
			return err
		}
		s.Data[corev1.TLSCertKey] = []byte("renewed cert")
		return k8s.Update(context.Background(), &s)
	})
	eventually(t, "files Secret has the renewed certificate", func() error {
		var s corev1.Secret
		if err := get(t, ns, "gw-files", &s); err != nil {
			return err
		}
		if got := string(s.Data["listener-wss-0.crt"]); got != "renewed cert" {
			return fmt.Errorf("listener-wss-0.crt = %q", got)
		}
		return nil
	})
	var cm corev1.ConfigMap
	var edge appsv1.Deployment
	if err := get(t, ns, "gw-config", &cm); err != nil {
		t.Fatal(err)
	}
	if err := get(t, ns, "gw-edge", &edge); err != nil {
		t.Fatal(err)
	}
	if cm.ResourceVersion != cm0.ResourceVersion {
		t.Errorf("a certificate renewal rewrote the ConfigMap")
	}
	if edge.Generation != edge0.Generation {
		t.Errorf("a certificate renewal changed the edge Deployment (generation %d -> %d)", edge0.Generation, edge.Generation)
	}
}

// TestChildrenRestored: a deleted child is re-created and a hand edit of a field the
// controller applies is put back (server-side apply with forced ownership).
func TestChildrenRestored(t *testing.T) {
	ns, _ := setup(t, nil)
	ctx := context.Background()
	var svc corev1.Service
	if err := get(t, ns, "gw-router", &svc); err != nil {
		t.Fatal(err)
	}
	uid := svc.UID
	if err := k8s.Delete(ctx, &svc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "router Service re-created", func() error {
		var s corev1.Service
		if err := get(t, ns, "gw-router", &s); err != nil {
			return err
		}
		if s.UID == uid {
			return errors.New("still the deleted Service")
		}
		return nil
	})
	var cm corev1.ConfigMap
	if err := get(t, ns, "gw-config", &cm); err != nil {
		t.Fatal(err)
	}
	want := cm.Data[render.ConfigKey]
	cm.Data[render.ConfigKey] = "gateway: hand-edited\n"
	if err := k8s.Update(ctx, &cm); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ConfigMap restored", func() error {
		var c corev1.ConfigMap
		if err := get(t, ns, "gw-config", &c); err != nil {
			return err
		}
		if c.Data[render.ConfigKey] != want {
			return errors.New("ConfigMap still hand-edited")
		}
		return nil
	})
}

// TestStatusWrittenOnlyOnChange: a reconcile that finds nothing new does not write the status.
func TestStatusWrittenOnlyOnChange(t *testing.T) {
	ns, _ := setup(t, nil)
	eventually(t, "Ready settles", condition(ns, v1.ConditionReady, metav1.ConditionFalse, v1.ReasonPodsNotReady))
	// The reconciles that creating the children set off may still write status (addresses,
	// listener status): wait until the object stays the same for a while.
	eventually(t, "the gateway stops changing", func() error {
		rv := getGW(t, ns).ResourceVersion
		time.Sleep(500 * time.Millisecond)
		if now := getGW(t, ns).ResourceVersion; now != rv {
			return fmt.Errorf("resourceVersion %s -> %s", rv, now)
		}
		return nil
	})
	before := testutil.ToFloat64(reconcileOutcomes.WithLabelValues(outcomeProgrammed))
	var rv string
	eventually(t, "annotate the gateway (a reconcile without a spec change)", func() error {
		gw := getGW(t, ns)
		if gw.Annotations == nil {
			gw.Annotations = map[string]string{}
		}
		gw.Annotations["example.com/touched"] = "yes"
		if err := k8s.Update(context.Background(), gw); err != nil {
			return err
		}
		rv = gw.ResourceVersion
		return nil
	})
	eventually(t, "the annotation is reconciled", func() error {
		if got := testutil.ToFloat64(reconcileOutcomes.WithLabelValues(outcomeProgrammed)); got <= before {
			return fmt.Errorf("programmed reconciles %v, want more than %v", got, before)
		}
		return nil
	})
	if gw := getGW(t, ns); gw.ResourceVersion != rv {
		t.Errorf("an unchanged status was written: resourceVersion %s -> %s", rv, gw.ResourceVersion)
	}
}

// TestServiceTypeChange: the edge Service follows spec.edge.service through type changes
// (the API server drops node ports and the traffic policy of a ClusterIP Service).
func TestServiceTypeChange(t *testing.T) {
	ns, _ := setup(t, func(gw *v1.SipWebSocketGateway) {
		gw.Spec.Edge.Service.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	})
	for _, typ := range []v1.ServiceType{"ClusterIP", "NodePort", "LoadBalancer"} {
		updateGW(t, ns, func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Edge.Service.Type = typ
			gw.Spec.Edge.Service.ExternalTrafficPolicy = ""
			if typ != "ClusterIP" {
				gw.Spec.Edge.Service.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			}
		})
		eventually(t, "edge Service is "+string(typ), func() error {
			if err := condition(ns, v1.ConditionProgrammed, metav1.ConditionTrue, v1.ReasonProgrammed)(); err != nil {
				return err
			}
			var s corev1.Service
			if err := get(t, ns, "gw-edge", &s); err != nil {
				return err
			}
			if string(s.Spec.Type) != string(typ) {
				return fmt.Errorf("type %s", s.Spec.Type)
			}
			return nil
		})
	}
}

// TestFlows: status.flows is the sum of sipws_edge_flows over the ready edge pods.
func TestFlows(t *testing.T) {
	ns, _ := setup(t, nil)
	ctx := context.Background()
	edgeFlows.WithLabelValues("ws").Set(3)
	edgeFlows.WithLabelValues("wss").Set(4)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "gw-edge-1", Namespace: ns, Labels: render.SelectorLabels("gw", render.Edge)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "edge", Image: "sipws:edge-test"}}},
	}
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	// A pod that is not ready is not asked.
	notReady := pod.DeepCopy()
	notReady.ResourceVersion, notReady.Name = "", "gw-edge-2"
	if err := k8s.Create(ctx, notReady); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod ready on 127.0.0.1", func() error {
		var p corev1.Pod
		if err := get(t, ns, pod.Name, &p); err != nil {
			return err
		}
		p.Status.PodIP, p.Status.PodIPs = "127.0.0.1", []corev1.PodIP{{IP: "127.0.0.1"}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		return k8s.Status().Update(ctx, &p)
	})
	eventually(t, "status.flows", func() error {
		if got := getGW(t, ns).Status.Flows; got != 7 {
			return fmt.Errorf("status.flows = %d, want 7", got)
		}
		return nil
	})
	edgeFlows.WithLabelValues("ws").Set(10)
	eventually(t, "status.flows follows", func() error {
		if got := getGW(t, ns).Status.Flows; got != 14 {
			return fmt.Errorf("status.flows = %d, want 14", got)
		}
		return nil
	})
	// The reconciler's own status writes leave flows alone.
	updateGW(t, ns, func(gw *v1.SipWebSocketGateway) { gw.Spec.Routes[0].Upstream.Targets[0].URI = "sip:other.example.com" })
	eventually(t, "Programmed", condition(ns, v1.ConditionProgrammed, metav1.ConditionTrue, v1.ReasonProgrammed))
	if got := getGW(t, ns).Status.Flows; got != 14 {
		t.Errorf("status.flows = %d after a reconcile, want 14", got)
	}
}

// TestGeneratedKeysKept: deleting the generated key Secret does not change the key the pods
// use: it is re-created from the running files Secret.
func TestGeneratedKeysKept(t *testing.T) {
	ns, _ := setup(t, nil)
	ctx := context.Background()
	var keys corev1.Secret
	if err := get(t, ns, "gw-flow-token", &keys); err != nil {
		t.Fatal(err)
	}
	ring := string(keys.Data[v1.DefaultFlowTokenKey])
	uid := keys.UID
	if err := k8s.Delete(ctx, &keys); err != nil {
		t.Fatal(err)
	}
	eventually(t, "key Secret re-created with the same key", func() error {
		var s corev1.Secret
		if err := get(t, ns, "gw-flow-token", &s); err != nil {
			return err
		}
		if s.UID == uid {
			return errors.New("not re-created yet")
		}
		if string(s.Data[v1.DefaultFlowTokenKey]) != ring {
			return errors.New("re-created with a new key")
		}
		return nil
	})
	var files corev1.Secret
	if err := get(t, ns, "gw-files", &files); err != nil {
		t.Fatal(err)
	}
	if string(files.Data[render.FlowKeysKey]) != ring {
		t.Errorf("the pods' key ring changed")
	}
}
