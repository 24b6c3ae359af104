package v1alpha1_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	v1 "github.com/sipws/sipws/api/v1alpha1"
)

// The tests share one real kube-apiserver and etcd (envtest); objects are created with
// server-side dry run, which runs defaulting, schema and CEL validation without storing.
var (
	k8s client.Client
	cfg *rest.Config
	ns  = "default"
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if st, err := os.Stat(filepath.Join(assets, bin)); assets == "" || err != nil || st.Mode()&0o111 == 0 {
			fmt.Fprintf(os.Stderr, "FAIL: envtest needs %s in $KUBEBUILDER_ASSETS (%q); run `make envtest-bins` "+
				"(hack/k8s/build-bins.sh builds it from Go modules) or use `make test`, which sets it\n", bin, assets)
			return 1
		}
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	var err error
	cfg, err = env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: starting envtest from %s: %v\n", assets, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		}
	}()
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	return m.Run()
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// valid is a gateway every rule accepts; table cases mutate a fresh copy.
func valid() *v1.SipWebSocketGateway {
	return &v1.SipWebSocketGateway{
		ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: ns},
		Spec: v1.SipWebSocketGatewaySpec{
			Listeners: []v1.Listener{
				{Name: "ws", Port: 8080, Protocol: v1.ProtocolWS},
				{Name: "wss", Port: 8443, Protocol: v1.ProtocolWSS, TLS: &v1.ListenerTLS{
					CertificateRefs: []v1.SecretReference{{Name: "tls"}},
				}},
			},
			Routes: []v1.Route{{
				Name:     "pbx",
				Match:    &v1.RouteMatch{Listeners: []string{"wss"}, Methods: []string{"REGISTER", "INVITE"}},
				Upstream: v1.Upstream{Targets: []v1.Target{{URI: "sip:pbx.voice.svc:5060"}}},
			}},
			NATS: v1.NATS{URL: "nats://nats:4222"},
		},
	}
}

func dryRunCreate(t *testing.T, obj client.Object) error {
	t.Helper()
	return k8s.Create(ctx(t), obj, client.DryRunAll)
}

func TestValidGatewayAccepted(t *testing.T) {
	if err := dryRunCreate(t, valid()); err != nil {
		t.Fatalf("valid gateway rejected: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	gw := valid()
	gw.Spec.Routes = append(gw.Spec.Routes, v1.Route{Name: "svc", Upstream: v1.Upstream{
		ServiceRef:  &v1.ServiceReference{Name: "pbx", Port: 5060},
		HealthCheck: &v1.HealthCheck{},
	}})
	gw.Spec.Edge.Autoscaling = &v1.Autoscaling{MaxReplicas: 4, TargetCPUUtilizationPercentage: ptr.To[int32](70)}
	gw.Spec.Router.Timers = &v1.Timers{}
	if err := dryRunCreate(t, gw); err != nil {
		t.Fatal(err)
	}
	s := gw.Spec
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"listeners[0].path", s.Listeners[0].Path, "/"},
		{"listeners[1].tls.minVersion", s.Listeners[1].TLS.MinVersion, "1.2"},
		{"routes[0].flowRouting", s.Routes[0].FlowRouting, v1.FlowRoutingPath},
		{"routes[0].upstream.balance", s.Routes[0].Upstream.Balance, v1.BalanceCallID},
		{"routes[0].upstream.targets[0].weight", s.Routes[0].Upstream.Targets[0].Weight, int32(1)},
		{"routes[1].upstream.serviceRef.transport", s.Routes[1].Upstream.ServiceRef.Transport, v1.TransportUDP},
		{"routes[1].upstream.healthCheck.interval", s.Routes[1].Upstream.HealthCheck.Interval, v1.Duration("5s")},
		{"routes[1].upstream.healthCheck.timeout", s.Routes[1].Upstream.HealthCheck.Timeout, v1.Duration("2s")},
		{"routes[1].upstream.healthCheck.upAfter", s.Routes[1].Upstream.HealthCheck.UpAfter, int32(2)},
		{"routes[1].upstream.healthCheck.downAfter", s.Routes[1].Upstream.HealthCheck.DownAfter, int32(3)},
		{"nats.subjectPrefix", s.NATS.SubjectPrefix, "sipws"},
		{"keepAlive.pingInterval", s.KeepAlive.PingInterval, v1.Duration("25s")},
		{"keepAlive.idleTimeout", s.KeepAlive.IdleTimeout, v1.Duration("90s")},
		{"edge.service.type", s.Edge.Service.Type, v1.ServiceType("LoadBalancer")},
		{"edge.drainTimeout", s.Edge.DrainTimeout, v1.Duration("10s")},
		{"edge.autoscaling.minReplicas", s.Edge.Autoscaling.MinReplicas, int32(2)},
		{"router.service.type", s.Router.Service.Type, v1.ServiceType("ClusterIP")},
		{"router.sipPort", s.Router.SIPPort, int32(5070)},
		{"router.answerOptions", *s.Router.AnswerOptions, true},
		{"router.drainTimeout", s.Router.DrainTimeout, v1.Duration("10s")},
		{"router.timers.t1", s.Router.Timers.T1, v1.Duration("500ms")},
		{"router.timers.t2", s.Router.Timers.T2, v1.Duration("4s")},
		{"router.timers.failover", s.Router.Timers.Failover, v1.Duration("2s")},
	} {
		if c.got != c.want {
			t.Errorf("%s defaulted to %v, want %v", c.field, c.got, c.want)
		}
	}
}

// TestValidation is the table of mutations of a valid gateway and the error each must get
// ("" means the mutation is valid).
func TestValidation(t *testing.T) {
	wss := func(gw *v1.SipWebSocketGateway) *v1.Listener { return &gw.Spec.Listeners[1] }
	up := func(gw *v1.SipWebSocketGateway) *v1.Upstream { return &gw.Spec.Routes[0].Upstream }
	cpu := ptr.To[int32](70)
	for _, tc := range []struct {
		name   string
		mutate func(*v1.SipWebSocketGateway)
		want   string
	}{
		// Name.
		{"name with dot", func(gw *v1.SipWebSocketGateway) { gw.Name = "sip.example.com" }, "metadata.name must be a DNS label"},
		{"name too long", func(gw *v1.SipWebSocketGateway) { gw.Name = strings.Repeat("a", 53) }, "at most 52 characters"},
		{"name of 52", func(gw *v1.SipWebSocketGateway) { gw.Name = strings.Repeat("a", 52) }, ""},

		// Listeners.
		{"no listeners", func(gw *v1.SipWebSocketGateway) { gw.Spec.Listeners = nil }, "spec.listeners: Required value"},
		{"17 listeners", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Listeners = nil
			for i := range 17 {
				gw.Spec.Listeners = append(gw.Spec.Listeners, v1.Listener{Name: fmt.Sprintf("l%d", i), Port: int32(8000 + i), Protocol: v1.ProtocolWS})
			}
			gw.Spec.Routes = nil
		}, "Too many: 17: must have at most 16 items"},
		{"duplicate port", func(gw *v1.SipWebSocketGateway) { wss(gw).Port = 8080 }, "listener ports must be unique"},
		{"duplicate name", func(gw *v1.SipWebSocketGateway) { wss(gw).Name = "ws" }, "listener names must be unique"},
		{"port 0", func(gw *v1.SipWebSocketGateway) { wss(gw).Port = 0 }, "should be greater than or equal to 1"},
		{"port 65536", func(gw *v1.SipWebSocketGateway) { wss(gw).Port = 65536 }, "should be less than or equal to 65535"},
		{"protocol TCP", func(gw *v1.SipWebSocketGateway) { wss(gw).Protocol = "TCP" }, `Unsupported value: "TCP"`},
		{"protocol lower case", func(gw *v1.SipWebSocketGateway) { wss(gw).Protocol = "wss" }, `Unsupported value: "wss"`},
		{"WSS without tls", func(gw *v1.SipWebSocketGateway) { wss(gw).TLS = nil }, "a WSS listener needs tls.certificateRefs"},
		{"WSS with no certificates", func(gw *v1.SipWebSocketGateway) { wss(gw).TLS.CertificateRefs = []v1.SecretReference{} }, "should have at least 1 items"},
		{"WS with tls", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Listeners[0].TLS = &v1.ListenerTLS{CertificateRefs: []v1.SecretReference{{Name: "c"}}}
		}, "a WS listener takes no tls"},
		{"tls 1.1", func(gw *v1.SipWebSocketGateway) { wss(gw).TLS.MinVersion = "1.1" }, `Unsupported value: "1.1"`},
		{"tls 1.3", func(gw *v1.SipWebSocketGateway) { wss(gw).TLS.MinVersion = "1.3" }, ""},
		{"listener name with underscore", func(gw *v1.SipWebSocketGateway) { wss(gw).Name = "w_ss"; gw.Spec.Routes[0].Match = nil }, "spec.listeners[1].name: Invalid value"},
		{"listener name of 16", func(gw *v1.SipWebSocketGateway) {
			wss(gw).Name = strings.Repeat("w", 16)
			gw.Spec.Routes[0].Match = nil
		}, "may not be more than 15"},
		{"path without slash", func(gw *v1.SipWebSocketGateway) { wss(gw).Path = "ws" }, "spec.listeners[1].path: Invalid value"},
		{"path /sip/ws", func(gw *v1.SipWebSocketGateway) { wss(gw).Path = "/sip/ws" }, ""},
		{"origin without scheme", func(gw *v1.SipWebSocketGateway) { wss(gw).AllowedOrigins = []string{"example.com"} }, "allowedOrigins[0]: Invalid value"},
		{"origins", func(gw *v1.SipWebSocketGateway) {
			wss(gw).AllowedOrigins = []string{"*", "https://app.example.com", "https://*.example.com", "http://localhost:3000"}
		}, ""},
		{"certificate ref with upper case", func(gw *v1.SipWebSocketGateway) { wss(gw).TLS.CertificateRefs[0].Name = "TLS" }, "certificateRefs[0].name: Invalid value"},
		{"limit below minimum", func(gw *v1.SipWebSocketGateway) { wss(gw).Limits = &v1.Limits{MaxMessageBytes: 100} }, "should be greater than or equal to 1024"},
		{"message rate below minimum", func(gw *v1.SipWebSocketGateway) { wss(gw).Limits = &v1.Limits{MessagesPerSecond: -1} }, "messagesPerSecond: Invalid value"},
		{"message burst above maximum", func(gw *v1.SipWebSocketGateway) { gw.Spec.Limits = &v1.Limits{MessageBurst: 2000000} }, "messageBurst: Invalid value"},
		{"limits", func(gw *v1.SipWebSocketGateway) {
			wss(gw).Limits = &v1.Limits{MaxConnections: 10, HandshakeTimeout: "5s", MaxInvalidMessages: 3, MessagesPerSecond: 20, MessageBurst: 40}
			gw.Spec.Limits = &v1.Limits{MaxConnectionsPerIP: 50}
		}, ""},

		// Routes.
		{"two upstream kinds", func(gw *v1.SipWebSocketGateway) { up(gw).NATSSubject = "apps.sip" }, "upstream needs exactly one of targets, serviceRef, natsSubject or registrar"},
		{"no upstream kind", func(gw *v1.SipWebSocketGateway) { up(gw).Targets = nil }, "upstream needs exactly one of"},
		{"registrar and service", func(gw *v1.SipWebSocketGateway) {
			*up(gw) = v1.Upstream{Registrar: &v1.Registrar{}, ServiceRef: &v1.ServiceReference{Name: "pbx", Port: 5060}}
		}, "upstream needs exactly one of"},
		{"registrar", func(gw *v1.SipWebSocketGateway) { *up(gw) = v1.Upstream{Registrar: &v1.Registrar{}} }, ""},
		{"registrar with options", func(gw *v1.SipWebSocketGateway) {
			*up(gw) = v1.Upstream{Registrar: &v1.Registrar{Bucket: "binds", Replicas: 3, MinExpires: "30s", MaxExpires: "2h", DefaultExpires: "10m",
				Auth: &v1.RegistrarAuth{Realm: "example.com", UsersSecretRef: v1.SecretKeyReference{Name: "users"}, Algorithms: []string{"SHA-256", "MD5"}}}}
		}, ""},
		{"registrar min over max", func(gw *v1.SipWebSocketGateway) {
			*up(gw) = v1.Upstream{Registrar: &v1.Registrar{MinExpires: "2h"}}
		}, "registrar.minExpires must not exceed maxExpires"},
		{"registrar default outside", func(gw *v1.SipWebSocketGateway) {
			*up(gw) = v1.Upstream{Registrar: &v1.Registrar{MaxExpires: "30m", DefaultExpires: "1h"}}
		}, "registrar.defaultExpires must lie between minExpires and maxExpires"},
		{"registrar min 500ms", func(gw *v1.SipWebSocketGateway) {
			*up(gw) = v1.Upstream{Registrar: &v1.Registrar{MinExpires: "500ms"}}
		}, "registrar.minExpires must be at least 1s"},
		{"registrar replicas 6", func(gw *v1.SipWebSocketGateway) {
			*up(gw) = v1.Upstream{Registrar: &v1.Registrar{Replicas: 6}}
		}, "should be less than or equal to 5"},
		{"registrar algorithm SHA-1", func(gw *v1.SipWebSocketGateway) {
			*up(gw) = v1.Upstream{Registrar: &v1.Registrar{Auth: &v1.RegistrarAuth{Realm: "r", UsersSecretRef: v1.SecretKeyReference{Name: "u"}, Algorithms: []string{"SHA-1"}}}}
		}, `Unsupported value: "SHA-1"`},
		{"registrar auth without realm", func(gw *v1.SipWebSocketGateway) {
			*up(gw) = v1.Upstream{Registrar: &v1.Registrar{Auth: &v1.RegistrarAuth{UsersSecretRef: v1.SecretKeyReference{Name: "u"}}}}
		}, "auth.realm"},
		{"nats subject", func(gw *v1.SipWebSocketGateway) { *up(gw) = v1.Upstream{NATSSubject: "apps.bots.sip"} }, ""},
		{"nats subject wildcard", func(gw *v1.SipWebSocketGateway) { *up(gw) = v1.Upstream{NATSSubject: "apps.>"} }, "natsSubject: Invalid value"},
		{"service", func(gw *v1.SipWebSocketGateway) {
			*up(gw) = v1.Upstream{ServiceRef: &v1.ServiceReference{Name: "pbx", Port: 5061, Transport: v1.TransportTLS}}
		}, ""},
		{"service transport sctp", func(gw *v1.SipWebSocketGateway) {
			*up(gw) = v1.Upstream{ServiceRef: &v1.ServiceReference{Name: "pbx", Port: 5060, Transport: "sctp"}}
		}, `Unsupported value: "sctp"`},
		{"service without port", func(gw *v1.SipWebSocketGateway) { *up(gw) = v1.Upstream{ServiceRef: &v1.ServiceReference{Name: "pbx"}} }, "should be greater than or equal to 1"},
		{"target not sip", func(gw *v1.SipWebSocketGateway) { up(gw).Targets[0].URI = "tel:+15551234" }, "targets[0].uri: Invalid value"},
		{"sips target", func(gw *v1.SipWebSocketGateway) { up(gw).Targets[0].URI = "sips:pbx.example.com:5061;transport=tls" }, ""},
		{"33 targets", func(gw *v1.SipWebSocketGateway) {
			for i := range 32 {
				up(gw).Targets = append(up(gw).Targets, v1.Target{URI: fmt.Sprintf("sip:10.0.0.%d", i)})
			}
		}, "must have at most 32 items"},
		{"weight over 1000", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Routes[0].Upstream.Balance = v1.BalanceWeighted
			up(gw).Targets[0].Weight = 1001
		}, "should be less than or equal to 1000"},
		{"weighted without targets", func(gw *v1.SipWebSocketGateway) {
			*up(gw) = v1.Upstream{NATSSubject: "apps.sip", Balance: v1.BalanceWeighted}
		}, "balance weighted needs targets"},
		{"balance random", func(gw *v1.SipWebSocketGateway) { up(gw).Balance = "random" }, `Unsupported value: "random"`},
		{"health check on nats subject", func(gw *v1.SipWebSocketGateway) {
			*up(gw) = v1.Upstream{NATSSubject: "apps.sip", HealthCheck: &v1.HealthCheck{}}
		}, "healthCheck applies to targets and serviceRef only"},
		{"health check timeout over interval", func(gw *v1.SipWebSocketGateway) {
			up(gw).HealthCheck = &v1.HealthCheck{Interval: "1s", Timeout: "1500ms"}
		}, "healthCheck.timeout must not exceed interval"},
		{"health check bad duration", func(gw *v1.SipWebSocketGateway) { up(gw).HealthCheck = &v1.HealthCheck{Interval: "5"} }, "healthCheck.interval: Invalid value"},
		{"flowRouting contactAlias", func(gw *v1.SipWebSocketGateway) { gw.Spec.Routes[0].FlowRouting = v1.FlowRoutingContactAlias }, ""},
		{"flowRouting other", func(gw *v1.SipWebSocketGateway) { gw.Spec.Routes[0].FlowRouting = "recordRoute" }, `Unsupported value: "recordRoute"`},
		{"route on unknown listener", func(gw *v1.SipWebSocketGateway) { gw.Spec.Routes[0].Match.Listeners = []string{"tcp"} }, "routes[].match.listeners must name listeners of this gateway"},
		{"duplicate route name", func(gw *v1.SipWebSocketGateway) { gw.Spec.Routes = append(gw.Spec.Routes, gw.Spec.Routes[0]) }, "Duplicate value"},
		{"lower-case method", func(gw *v1.SipWebSocketGateway) { gw.Spec.Routes[0].Match.Methods = []string{"invite"} }, "methods[0]: Invalid value"},
		{"domain with space", func(gw *v1.SipWebSocketGateway) { gw.Spec.Routes[0].Match.Domains = []string{"example .com"} }, "domains[0]: Invalid value"},
		{"domains", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Routes[0].Match.Domains = []string{"example.com", "*.example.com", "10.0.0.1", "[2001:db8::1]"}
		}, ""},
		{"65 routes", func(gw *v1.SipWebSocketGateway) {
			for i := range 64 {
				r := gw.Spec.Routes[0]
				r.Name = fmt.Sprintf("r%d", i)
				gw.Spec.Routes = append(gw.Spec.Routes, r)
			}
		}, "must have at most 64 items"},

		// NATS.
		{"nats url http", func(gw *v1.SipWebSocketGateway) { gw.Spec.NATS.URL = "http://nats:4222" }, "spec.nats.url: Invalid value"},
		{"nats url empty", func(gw *v1.SipWebSocketGateway) { gw.Spec.NATS.URL = "" }, "spec.nats.url"},
		{"nats urls", func(gw *v1.SipWebSocketGateway) { gw.Spec.NATS.URL = "nats://a:4222,tls://b:4222" }, ""},
		{"nats tls empty", func(gw *v1.SipWebSocketGateway) { gw.Spec.NATS.TLS = &v1.NATSTLS{} }, "nats.tls needs caSecretRef or clientCertificateRef"},
		{"subject prefix with dot", func(gw *v1.SipWebSocketGateway) { gw.Spec.NATS.SubjectPrefix = "a.b" }, "subjectPrefix: Invalid value"},
		{"credentials key with slash", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.NATS.CredentialsSecretRef = &v1.SecretKeyReference{Name: "creds", Key: "a/b"}
		}, "credentialsSecretRef.key: Invalid value"},

		// Workloads.
		{"min over max", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Edge.Autoscaling = &v1.Autoscaling{MinReplicas: 5, MaxReplicas: 3, TargetCPUUtilizationPercentage: cpu}
		}, "autoscaling.minReplicas (default 2) must not exceed maxReplicas"},
		{"default min over max", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Router.Autoscaling = &v1.Autoscaling{MaxReplicas: 1, TargetCPUUtilizationPercentage: cpu}
		}, "must not exceed maxReplicas"},
		{"min equals max", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Edge.Autoscaling = &v1.Autoscaling{MinReplicas: 3, MaxReplicas: 3, TargetFlowsPerPod: ptr.To[int32](1000)}
		}, ""},
		{"autoscaling without target", func(gw *v1.SipWebSocketGateway) { gw.Spec.Edge.Autoscaling = &v1.Autoscaling{MaxReplicas: 3} }, "autoscaling needs targetFlowsPerPod or targetCPUUtilizationPercentage"},
		{"cpu over 100", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Edge.Autoscaling = &v1.Autoscaling{MaxReplicas: 3, TargetCPUUtilizationPercentage: ptr.To[int32](101)}
		}, "should be less than or equal to 100"},
		{"replicas and autoscaling", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Edge.Replicas = ptr.To[int32](3)
			gw.Spec.Edge.Autoscaling = &v1.Autoscaling{MaxReplicas: 3, TargetCPUUtilizationPercentage: cpu}
		}, "replicas and autoscaling are exclusive"},
		{"router flows target", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Router.Autoscaling = &v1.Autoscaling{MaxReplicas: 3, TargetFlowsPerPod: ptr.To[int32](1000)}
		}, "targetFlowsPerPod applies to the edge only"},
		{"drain timeout over 1h", func(gw *v1.SipWebSocketGateway) { gw.Spec.Edge.DrainTimeout = "2h" }, "drainTimeout must be at most 1h"},
		{"drain timeout not a duration", func(gw *v1.SipWebSocketGateway) { gw.Spec.Router.DrainTimeout = "ten" }, "spec.router.drainTimeout: Invalid value"},
		{"33 tolerations", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Edge.Tolerations = make([]corev1.Toleration, 33)
		}, "must have at most 32 items"},
		{"workload options", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Edge.Replicas = ptr.To[int32](3)
			gw.Spec.Edge.NodeSelector = map[string]string{"sipws.io/edge": "true"}
			gw.Spec.Edge.Tolerations = []corev1.Toleration{{Key: "edge", Operator: corev1.TolerationOpExists}}
			gw.Spec.Edge.Image = "ghcr.io/sipws/sipws:v0.1.0"
			gw.Spec.Edge.Workers = 64
			gw.Spec.Router.TLS = &v1.RouterTLS{CertificateRef: v1.SecretReference{Name: "router-tls"}}
			gw.Spec.Edge.MemoryLimitPercent = ptr.To[int32](80)
			gw.Spec.Router.MemoryLimitPercent = ptr.To[int32](0)
		}, ""},
		{"memory limit percent over 100", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Edge.MemoryLimitPercent = ptr.To[int32](101)
		}, "spec.edge.memoryLimitPercent: Invalid value: 101: spec.edge.memoryLimitPercent in body should be less than or equal to 100"},
		{"memory limit percent negative", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Router.MemoryLimitPercent = ptr.To[int32](-1)
		}, "should be greater than or equal to 0"},
		{"ClusterIP with externalTrafficPolicy", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Edge.Service = v1.EdgeService{Type: "ClusterIP", ServiceOptions: v1.ServiceOptions{ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal}}
		}, "externalTrafficPolicy needs type NodePort or LoadBalancer"},
		{"NodePort with loadBalancerClass", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.Router.Service = v1.RouterService{Type: "NodePort", ServiceOptions: v1.ServiceOptions{LoadBalancerClass: ptr.To("x")}}
		}, "loadBalancerClass and loadBalancerSourceRanges need type LoadBalancer"},
		{"service type ExternalName", func(gw *v1.SipWebSocketGateway) { gw.Spec.Edge.Service.Type = "ExternalName" }, `Unsupported value: "ExternalName"`},

		// Keep-alive.
		{"ping after idle", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.KeepAlive = v1.KeepAlive{PingInterval: "2m", IdleTimeout: "90s"}
		}, "keepAlive.pingInterval must be shorter than idleTimeout"},
		{"ping before idle", func(gw *v1.SipWebSocketGateway) {
			gw.Spec.KeepAlive = v1.KeepAlive{PingInterval: "10s", IdleTimeout: "1m"}
		}, ""},
		{"timers t1 over t2", func(gw *v1.SipWebSocketGateway) { gw.Spec.Router.Timers = &v1.Timers{T1: "5s", T2: "4s"} }, "timers.t1 must not exceed t2"},
		{"max transactions below minimum", func(gw *v1.SipWebSocketGateway) { gw.Spec.Router.MaxTransactions = 10 }, "maxTransactions: Invalid value"},
		{"max transactions", func(gw *v1.SipWebSocketGateway) { gw.Spec.Router.MaxTransactions = 200000 }, ""},

		// Flow token.
		{"flow token secret", func(gw *v1.SipWebSocketGateway) { gw.Spec.FlowTokenSecretRef = &v1.SecretKeyReference{Name: "keys"} }, ""},
		{"flow token secret without name", func(gw *v1.SipWebSocketGateway) { gw.Spec.FlowTokenSecretRef = &v1.SecretKeyReference{Key: "k"} }, "flowTokenSecretRef.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := valid()
			tc.mutate(gw)
			err := dryRunCreate(t, gw)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestStatus writes status through the subresource and checks that spec writes ignore it.
func TestStatus(t *testing.T) {
	gw := valid()
	gw.Name = "status"
	if err := k8s.Create(ctx(t), gw); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), gw) })
	now := metav1.Now()
	gw.Status = v1.SipWebSocketGatewayStatus{
		ObservedGeneration: gw.Generation,
		Conditions: []metav1.Condition{{
			Type: string(v1.ConditionProgrammed), Status: metav1.ConditionTrue, Reason: string(v1.ReasonProgrammed),
			ObservedGeneration: gw.Generation, LastTransitionTime: now,
		}},
		Listeners:     []v1.ListenerStatus{{Name: "ws", Port: 8080, Protocol: v1.ProtocolWS}},
		Addresses:     []v1.GatewayAddress{{Type: v1.AddressIP, Value: "192.0.2.1"}},
		Edge:          v1.WorkloadStatus{Replicas: 2, ReadyReplicas: 2},
		Flows:         42,
		ListenerCount: 2,
	}
	if err := k8s.Status().Update(ctx(t), gw); err != nil {
		t.Fatalf("status update: %v", err)
	}
	got := &v1.SipWebSocketGateway{}
	if err := k8s.Get(ctx(t), client.ObjectKeyFromObject(gw), got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Flows != 42 || len(got.Status.Conditions) != 1 || got.Status.Edge.ReadyReplicas != 2 {
		t.Fatalf("status not stored: %+v", got.Status)
	}
	got.Status.Flows = 7
	got.Spec.KeepAlive.IdleTimeout = "2m"
	if err := k8s.Update(ctx(t), got); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Get(ctx(t), client.ObjectKeyFromObject(gw), got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Flows != 42 {
		t.Errorf("a spec update changed status.flows to %d", got.Status.Flows)
	}
	if got.Generation != gw.Generation+1 {
		t.Errorf("generation %d after a spec change, want %d", got.Generation, gw.Generation+1)
	}

	// kubectl get sipgw: the printer columns read the status just written.
	cols, cells := table(t, "/apis/sipws.io/v1alpha1/namespaces/"+ns+"/sipwebsocketgateways/status")
	wantCols := []string{"Name", "Listeners", "Edge", "Router", "Flows", "Programmed", "Age"}
	if strings.Join(cols, ",") != strings.Join(wantCols, ",") {
		t.Errorf("printer columns %v, want %v", cols, wantCols)
	}
	for i, want := range map[int]any{0: "status", 1: float64(2), 2: float64(2), 4: float64(42), 5: "True"} {
		if i < len(cells) && cells[i] != want {
			t.Errorf("column %s = %v, want %v", wantCols[i], cells[i], want)
		}
	}

	bad := got.DeepCopy()
	bad.Status.Addresses = []v1.GatewayAddress{{Type: "Unknown", Value: "x"}}
	if err := k8s.Status().Update(ctx(t), bad); err == nil || !strings.Contains(err.Error(), `Unsupported value: "Unknown"`) {
		t.Errorf("status with an invalid address type: got %v", err)
	}
}

// TestSamples: every gateway in config/samples is accepted.
func TestSamples(t *testing.T) {
	files := yamlFiles(t, filepath.Join("..", "..", "config", "samples"))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			for i, obj := range readObjects(t, f) {
				if err := dryRunCreate(t, obj); err != nil {
					t.Errorf("object %d (%s) rejected: %v", i, obj.GetName(), err)
				}
			}
		})
	}
}

// TestInvalidExamples: every file in hack/invalid-examples is rejected with the error its
// "# want: " line names.
func TestInvalidExamples(t *testing.T) {
	files := yamlFiles(t, filepath.Join("..", "..", "hack", "invalid-examples"))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := wantLine(t, f)
			objs := readObjects(t, f)
			if len(objs) != 1 {
				t.Fatalf("%d objects, want one per file", len(objs))
			}
			err := dryRunCreate(t, objs[0])
			if err == nil {
				t.Fatalf("accepted, want an error with %q", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not contain %q", err, want)
			}
		})
	}
}

func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no YAML files in %s", dir)
	}
	return files
}

func wantLine(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if w, ok := strings.CutPrefix(sc.Text(), "# want: "); ok && strings.TrimSpace(w) != "" {
			return strings.TrimSpace(w)
		}
	}
	t.Fatalf("%s has no \"# want: <error substring>\" line", file)
	return ""
}

// readObjects splits a multi-document YAML file into objects placed in the test namespace.
func readObjects(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for doc := range strings.SplitSeq(string(b), "\n---") {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() != "SipWebSocketGateway" {
			t.Fatal(errors.New(file + ": only SipWebSocketGateway objects belong here, found " + u.GetKind()))
		}
		u.SetNamespace(ns)
		objs = append(objs, u)
	}
	return objs
}

// table GETs path as a meta.k8s.io Table (what kubectl get prints) and returns the column
// names and the cells of the one row.
func table(t *testing.T, path string) ([]string, []any) {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tbl struct {
		ColumnDefinitions []struct{ Name string } `json:"columnDefinitions"`
		Rows              []struct{ Cells []any } `json:"rows"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tbl); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("table %s: status %d, %v", path, resp.StatusCode, err)
	}
	if len(tbl.Rows) != 1 {
		t.Fatalf("table %s: %d rows, want 1", path, len(tbl.Rows))
	}
	var cols []string
	for _, c := range tbl.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	return cols, tbl.Rows[0].Cells
}
