package render

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	v1 "github.com/sipws/sipws/api/v1alpha1"
	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/flow"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testKeyring is a fixed key ring so golden files are stable.
const testKeyring = "current: 1\nkeys:\n  - id: 1\n    secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"

func testInputs() Inputs {
	return Inputs{
		EdgeImage:   "ghcr.io/sipws/sipws:test",
		RouterImage: "ghcr.io/sipws/sipws:test",
		EdgeResources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		},
		RouterResources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		},
		ClusterDomain: "cluster.local",
	}
}

// testSecrets returns a Secret with every key any reference may ask for, for each name gw
// references, so every sample resolves.
func testSecrets(gw *v1.SipWebSocketGateway) map[string]*corev1.Secret {
	m := map[string]*corev1.Secret{}
	for _, r := range Refs(gw) {
		s := m[r.Secret]
		if s == nil {
			s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: r.Secret}, Data: map[string][]byte{}}
			m[r.Secret] = s
		}
		v := fmt.Sprintf("%s/%s", r.Secret, r.Key)
		if r.File == FlowKeysKey {
			v = testKeyring
		}
		s.Data[r.Key] = []byte(v)
	}
	return m
}

// renderFor resolves gw's references against testSecrets, like the reconciler does against
// the API server.
func renderFor(t *testing.T, gw *v1.SipWebSocketGateway) (*Output, error) {
	t.Helper()
	in := testInputs()
	files, problems := ResolveFiles(Refs(gw), testSecrets(gw))
	if len(problems) > 0 {
		t.Fatalf("unresolved references: %v", problems)
	}
	if gw.Spec.FlowTokenSecretRef == nil {
		files[FlowKeysKey] = []byte(testKeyring)
	}
	in.Files = files
	return Render(gw, in)
}

func baseGateway() *v1.SipWebSocketGateway {
	return &v1.SipWebSocketGateway{
		TypeMeta: metav1.TypeMeta{APIVersion: "sipws.io/v1alpha1", Kind: "SipWebSocketGateway"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "gw", Namespace: "voice", UID: types.UID("00000000-0000-0000-0000-000000000001"), Generation: 1,
			// User labels must never reach a selector.
			Labels: map[string]string{"team": "voice", LabelComponent: "spoofed"},
		},
		Spec: v1.SipWebSocketGatewaySpec{
			Listeners: []v1.Listener{
				{Name: "ws", Port: 8080, Protocol: v1.ProtocolWS, Path: "/"},
				{Name: "wss", Port: 443, Protocol: v1.ProtocolWSS, Path: "/sip",
					TLS:            &v1.ListenerTLS{CertificateRefs: []v1.SecretReference{{Name: "cert-a"}, {Name: "cert-b"}}, MinVersion: "1.3"},
					AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"},
					Limits:         &v1.Limits{MaxConnectionsPerIP: 50, HandshakeTimeout: "5s", MessagesPerSecond: 20}},
			},
			Routes: []v1.Route{
				{Name: "pbx", Match: &v1.RouteMatch{Domains: []string{"example.com"}, Methods: []string{"REGISTER", "INVITE"}},
					Upstream:    v1.Upstream{Targets: []v1.Target{{URI: "sip:pbx.example.com:5060", Weight: 1}}, Balance: v1.BalanceCallID},
					FlowRouting: v1.FlowRoutingPath},
				{Name: "svc", Upstream: v1.Upstream{ServiceRef: &v1.ServiceReference{Name: "asterisk", Port: 5060, Transport: v1.TransportTCP},
					HealthCheck: &v1.HealthCheck{Interval: "10s", Timeout: "3s", UpAfter: 1, DownAfter: 2}}, FlowRouting: v1.FlowRoutingContactAlias},
				{Name: "apps", Match: &v1.RouteMatch{Users: []string{"bot-*"}}, Upstream: v1.Upstream{NATSSubject: "apps.sip"}},
				{Name: "reg", Match: &v1.RouteMatch{Domains: []string{"webrtc.example.com"}}, Upstream: v1.Upstream{Registrar: &v1.Registrar{
					Replicas: 3, MinExpires: "60s", MaxExpires: "1h",
					Auth: &v1.RegistrarAuth{Realm: "webrtc.example.com", UsersSecretRef: v1.SecretKeyReference{Name: "users"}}}}},
			},
			NATS: v1.NATS{URL: "nats://nats.nats.svc:4222", SubjectPrefix: "sipws",
				CredentialsSecretRef: &v1.SecretKeyReference{Name: "nats-creds"},
				TLS:                  &v1.NATSTLS{CASecretRef: &v1.SecretKeyReference{Name: "nats-ca"}}},
			KeepAlive: v1.KeepAlive{PingInterval: "20s", IdleTimeout: "60s"},
			Limits:    &v1.Limits{MaxConnections: 20000, MaxConnectionsPerIP: 100, MessageBurst: 50},
			Edge: v1.EdgeSpec{
				Workload: v1.Workload{Replicas: ptr.To[int32](3), DrainTimeout: "30s", MemoryLimitPercent: ptr.To[int32](80),
					NodeSelector: map[string]string{"sipws.io/edge": "true"},
					Tolerations:  []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "sip", Effect: corev1.TaintEffectNoSchedule}}},
				Service: v1.EdgeService{Type: "LoadBalancer", ServiceOptions: v1.ServiceOptions{
					ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
					Annotations:           map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}}},
			},
			Router: v1.RouterSpec{
				Workload: v1.Workload{Autoscaling: &v1.Autoscaling{MinReplicas: 2, MaxReplicas: 6, TargetCPUUtilizationPercentage: ptr.To[int32](70)}},
				SIPPort:  5060,
			},
		},
	}
}

// goldenCases are the gateways built here; every file in config/samples is added to them.
func goldenCases(t *testing.T) map[string]*v1.SipWebSocketGateway {
	cases := map[string]*v1.SipWebSocketGateway{}
	cases["full"] = baseGateway()

	min := baseGateway()
	min.Spec = v1.SipWebSocketGatewaySpec{
		Listeners: []v1.Listener{{Name: "ws", Port: 8080, Protocol: v1.ProtocolWS}},
		Routes:    []v1.Route{{Name: "all", Upstream: v1.Upstream{Targets: []v1.Target{{URI: "sip:10.0.0.1:5060"}}}}},
		NATS:      v1.NATS{URL: "nats://nats:4222"},
	}
	cases["minimal"] = min

	flows := baseGateway()
	flows.Spec.Edge.Replicas = nil
	flows.Spec.Edge.Autoscaling = &v1.Autoscaling{MinReplicas: 2, MaxReplicas: 20, TargetFlowsPerPod: ptr.To[int32](10000), TargetCPUUtilizationPercentage: ptr.To[int32](80)}
	flows.Spec.Edge.Service = v1.EdgeService{Type: "NodePort"}
	flows.Spec.Router.Autoscaling = nil
	flows.Spec.Router.Replicas = ptr.To[int32](1)
	flows.Spec.Router.TLS = &v1.RouterTLS{Port: 5061, CertificateRef: v1.SecretReference{Name: "router-cert"}}
	flows.Spec.FlowTokenSecretRef = &v1.SecretKeyReference{Name: "keys", Key: "ring.yaml"}
	cases["autoscaling-nodeport"] = flows

	samples, err := filepath.Glob("../../config/samples/*.yaml")
	if err != nil || len(samples) == 0 {
		t.Fatalf("no samples in config/samples (err %v)", err)
	}
	for _, p := range samples {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var gw v1.SipWebSocketGateway
		if err := yaml.UnmarshalStrict(data, &gw); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if gw.Namespace == "" {
			gw.Namespace = "default"
		}
		gw.UID = "00000000-0000-0000-0000-000000000002"
		cases["sample-"+strings.TrimSuffix(filepath.Base(p), ".yaml")] = &gw
	}
	return cases
}

// TestGolden renders every case and compares all objects, as one YAML stream per case, with
// testdata/<case>.yaml. Run with -update to rewrite them after an intended change.
func TestGolden(t *testing.T) {
	t.Setenv("SIPWS_NODE", "golden") // config.Parse below defaults the node from it
	for name, gw := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			out, err := renderFor(t, gw)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			// The ConfigMap is what the pods load: it must pass the data plane's own parser.
			if _, err := config.Parse(out.ConfigYAML); err != nil {
				t.Fatalf("rendered config does not load: %v\n%s", err, out.ConfigYAML)
			}
			if _, err := flow.ParseKeyring(out.FilesSecret.Data[FlowKeysKey]); err != nil {
				t.Fatalf("files Secret key ring: %v", err)
			}
			var buf bytes.Buffer
			for _, o := range out.Objects() {
				u, err := Unstructured(o)
				if err != nil {
					t.Fatal(err)
				}
				b, err := yaml.Marshal(u.Object)
				if err != nil {
					t.Fatal(err)
				}
				buf.WriteString("---\n")
				buf.Write(b)
			}
			compareGolden(t, name, buf.Bytes())
		})
	}
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".yaml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./controllers/render -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering (go test ./controllers/render -update rewrites it):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the first lines that differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 20; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// TestRollout pins what changes the pod templates: only what the data plane reads at start.
func TestRollout(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*v1.SipWebSocketGateway, *Inputs)
		// rolls says which templates must change; the others must stay byte for byte.
		rolls      []Component
		configSame bool
	}{
		{name: "route added", mutate: func(g *v1.SipWebSocketGateway, _ *Inputs) {
			g.Spec.Routes = append(g.Spec.Routes, v1.Route{Name: "more", Upstream: v1.Upstream{NATSSubject: "more"}})
		}},
		{name: "route target", mutate: func(g *v1.SipWebSocketGateway, _ *Inputs) {
			g.Spec.Routes[0].Upstream.Targets[0].URI = "sip:pbx2.example.com"
		}},
		{name: "origins", mutate: func(g *v1.SipWebSocketGateway, _ *Inputs) {
			g.Spec.Listeners[1].AllowedOrigins = []string{"*"}
		}},
		{name: "limits", mutate: func(g *v1.SipWebSocketGateway, _ *Inputs) {
			g.Spec.Limits.MaxConnections = 5
		}},
		{name: "keep-alive", mutate: func(g *v1.SipWebSocketGateway, _ *Inputs) {
			g.Spec.KeepAlive.PingInterval = "10s"
		}},
		{name: "certificate content", configSame: true, mutate: func(_ *v1.SipWebSocketGateway, in *Inputs) {
			in.Files["listener-wss-0.crt"] = []byte("renewed")
		}},
		{name: "certificate ref", mutate: func(g *v1.SipWebSocketGateway, in *Inputs) {
			g.Spec.Listeners[1].TLS.CertificateRefs = g.Spec.Listeners[1].TLS.CertificateRefs[:1]
			delete(in.Files, "listener-wss-1.crt")
			delete(in.Files, "listener-wss-1.key")
		}},
		{name: "registrar users", mutate: func(_ *v1.SipWebSocketGateway, in *Inputs) {
			in.Files["registrar-reg-users.yaml"] = []byte("users: {bob: secret}\n")
		}},
		{name: "listener port", rolls: []Component{Edge}, mutate: func(g *v1.SipWebSocketGateway, _ *Inputs) {
			g.Spec.Listeners[0].Port = 8081
		}},
		{name: "listener added", rolls: []Component{Edge}, mutate: func(g *v1.SipWebSocketGateway, _ *Inputs) {
			g.Spec.Listeners = append(g.Spec.Listeners, v1.Listener{Name: "ws2", Port: 8082, Protocol: v1.ProtocolWS, Path: "/"})
		}},
		{name: "edge image", rolls: []Component{Edge}, configSame: true, mutate: func(_ *v1.SipWebSocketGateway, in *Inputs) {
			in.EdgeImage = "ghcr.io/sipws/sipws:next"
		}},
		{name: "router image", rolls: []Component{Router}, configSame: true, mutate: func(g *v1.SipWebSocketGateway, _ *Inputs) {
			g.Spec.Router.Image = "example/sipws:mine"
		}},
		{name: "router port", rolls: []Component{Router}, mutate: func(g *v1.SipWebSocketGateway, _ *Inputs) {
			g.Spec.Router.SIPPort = 5080
		}},
		{name: "nats url", rolls: []Component{Edge, Router}, mutate: func(g *v1.SipWebSocketGateway, _ *Inputs) {
			g.Spec.NATS.URL = "nats://other:4222"
		}},
		{name: "flow keys", rolls: []Component{Edge, Router}, configSame: true, mutate: func(_ *v1.SipWebSocketGateway, in *Inputs) {
			in.Files[FlowKeysKey] = []byte("current: 2\n")
		}},
		{name: "user labels", configSame: true, mutate: func(g *v1.SipWebSocketGateway, _ *Inputs) {
			g.Labels = map[string]string{LabelInstance: "other", "x": "y"}
		}},
		{name: "replicas", configSame: true, mutate: func(g *v1.SipWebSocketGateway, _ *Inputs) {
			g.Spec.Edge.Replicas = ptr.To[int32](7)
		}},
		{name: "edge memory limit percent", rolls: []Component{Edge}, configSame: true, mutate: func(g *v1.SipWebSocketGateway, _ *Inputs) {
			g.Spec.Edge.MemoryLimitPercent = ptr.To[int32](75)
		}},
	}
	inputs := func(gw *v1.SipWebSocketGateway) Inputs {
		in := testInputs()
		in.Files, _ = ResolveFiles(Refs(gw), testSecrets(gw))
		in.Files[FlowKeysKey] = []byte(testKeyring)
		return in
	}
	base := baseGateway()
	before, err := Render(base, inputs(base))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := baseGateway()
			in := inputs(gw)
			tt.mutate(gw, &in)
			after, err := Render(gw, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []Component{Edge, Router} {
				rolls := false
				for _, r := range tt.rolls {
					rolls = rolls || r == c
				}
				same := reflect.DeepEqual(before.Deployments[c].Spec.Template, after.Deployments[c].Spec.Template)
				if rolls == same {
					t.Errorf("%s pod template changed = %v, want %v", c, !same, rolls)
				}
				if reflect.DeepEqual(before.Deployments[c].Spec.Selector, after.Deployments[c].Spec.Selector) == false {
					t.Errorf("%s selector changed", c)
				}
			}
			if sameCfg := bytes.Equal(before.ConfigYAML, after.ConfigYAML); sameCfg != tt.configSame {
				t.Errorf("config changed = %v, want %v", !sameCfg, !tt.configSame)
			}
		})
	}
}

func TestRenderChoices(t *testing.T) {
	t.Run("autoscaling keeps the current replica count", func(t *testing.T) {
		gw := baseGateway()
		in := testInputs()
		in.Files, _ = ResolveFiles(Refs(gw), testSecrets(gw))
		in.CurrentReplicas = map[Component]int32{Router: 5}
		out, err := Render(gw, in)
		if err != nil {
			t.Fatal(err)
		}
		if got := *out.Deployments[Router].Spec.Replicas; got != 5 {
			t.Errorf("router replicas = %d, want the current 5", got)
		}
		if out.HPAs[Router] == nil || out.HPAs[Edge] != nil {
			t.Errorf("HPAs = %v, want the router's only", out.HPAs)
		}
	})
	t.Run("no PDB for a single pod", func(t *testing.T) {
		gw := baseGateway()
		gw.Spec.Edge.Replicas = ptr.To[int32](1)
		out, err := renderFor(t, gw)
		if err != nil {
			t.Fatal(err)
		}
		if out.PDBs[Edge] != nil || out.PDBs[Router] == nil {
			t.Errorf("PDBs = %v, want the router's only", out.PDBs)
		}
	})
	t.Run("grace period covers the drain", func(t *testing.T) {
		out, err := renderFor(t, baseGateway())
		if err != nil {
			t.Fatal(err)
		}
		// 30s drain + 15s margin + 5s preStop pause
		if got := *out.Deployments[Edge].Spec.Template.Spec.TerminationGracePeriodSeconds; got != 50 {
			t.Errorf("edge grace = %d, want 50", got)
		}
	})
	t.Run("ports below 1024 for non-root", func(t *testing.T) {
		out, err := renderFor(t, baseGateway()) // listener wss on 443
		if err != nil {
			t.Fatal(err)
		}
		sc := out.Deployments[Edge].Spec.Template.Spec.SecurityContext
		if len(sc.Sysctls) != 1 || sc.Sysctls[0].Name != "net.ipv4.ip_unprivileged_port_start" || sc.Sysctls[0].Value != "0" {
			t.Errorf("edge sysctls = %+v", sc.Sysctls)
		}
		if rs := out.Deployments[Router].Spec.Template.Spec.SecurityContext.Sysctls; len(rs) != 0 {
			t.Errorf("router (port 5060) sysctls = %+v, want none", rs)
		}
	})
	t.Run("pod hardening, probes and mounts", func(t *testing.T) {
		out, err := renderFor(t, baseGateway())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []Component{Edge, Router} {
			spec := out.Deployments[c].Spec.Template.Spec
			ct := spec.Containers[0]
			sc := ct.SecurityContext
			if !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
				t.Errorf("%s security context %+v", c, sc)
			}
			if ct.LivenessProbe.HTTPGet.Path != "/healthz" || ct.ReadinessProbe.HTTPGet.Path != "/readyz" || ct.ReadinessProbe.HTTPGet.Port.StrVal != AdminName {
				t.Errorf("%s probes %+v %+v", c, ct.LivenessProbe, ct.ReadinessProbe)
			}
			for _, m := range ct.VolumeMounts {
				if m.SubPath != "" || !m.ReadOnly {
					t.Errorf("%s mount %+v: a subPath mount would never see updates", c, m)
				}
			}
			if len(spec.TopologySpreadConstraints) == 0 || spec.TopologySpreadConstraints[0].TopologyKey != corev1.LabelHostname {
				t.Errorf("%s spread %+v", c, spec.TopologySpreadConstraints)
			}
		}
	})
	t.Run("memory limit percent becomes the ratio flag", func(t *testing.T) {
		for _, tc := range []struct {
			pct  *int32
			want []string
		}{
			{nil, nil}, // the process's own default (0.9)
			{ptr.To[int32](80), []string{"--memory-limit-ratio", "0.8"}},
			{ptr.To[int32](0), []string{"--memory-limit-ratio", "0"}},
			{ptr.To[int32](100), []string{"--memory-limit-ratio", "1"}},
		} {
			gw := baseGateway()
			gw.Spec.Router.MemoryLimitPercent = tc.pct
			out, err := renderFor(t, gw)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string{"router", "--config", ConfigPath, "--log-format", "json"}, tc.want...)
			if got := out.Deployments[Router].Spec.Template.Spec.Containers[0].Args; !reflect.DeepEqual(got, want) {
				t.Errorf("percent %s: router args %q, want %q", tc.want, got, want)
			}
			// The edge keeps its own setting (80 in the base gateway).
			want = []string{"edge", "--config", ConfigPath, "--log-format", "json", "--memory-limit-ratio", "0.8"}
			if got := out.Deployments[Edge].Spec.Template.Spec.Containers[0].Args; !reflect.DeepEqual(got, want) {
				t.Errorf("percent %s on the router: edge args %q, want %q", tc.want, got, want)
			}
		}
	})
	t.Run("selectors use fixed labels only", func(t *testing.T) {
		out, err := renderFor(t, baseGateway())
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{LabelName: AppName, LabelInstance: "gw", LabelComponent: "edge"}
		if got := out.Services[Edge].Spec.Selector; !reflect.DeepEqual(got, want) {
			t.Errorf("edge Service selector = %v, want %v", got, want)
		}
		if got := out.Deployments[Edge].Spec.Selector.MatchLabels; !reflect.DeepEqual(got, want) {
			t.Errorf("edge Deployment selector = %v, want %v", got, want)
		}
	})
}

func TestRenderInvalid(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*v1.SipWebSocketGateway)
		want   string
	}{
		{"listener on the admin port", func(g *v1.SipWebSocketGateway) { g.Spec.Listeners[0].Port = AdminPort }, "admin.address"},
		{"listener named admin", func(g *v1.SipWebSocketGateway) { g.Spec.Listeners[0].Name = AdminName }, "reserved"},
		{"listener name not a port name", func(g *v1.SipWebSocketGateway) { g.Spec.Listeners[0].Name = "a--b" }, "port name"},
		{"ping not below idle", func(g *v1.SipWebSocketGateway) { g.Spec.KeepAlive.PingInterval = "90s" }, "keepAlive.pingInterval"},
		{"send queue below message size", func(g *v1.SipWebSocketGateway) {
			g.Spec.Limits.SendQueueBytes, g.Spec.Limits.MaxMessageBytes = 2048, 4096
		}, "sendQueueBytes"},
		{"bad user glob", func(g *v1.SipWebSocketGateway) { g.Spec.Routes[2].Match.Users = []string{"["} }, "match.users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := baseGateway()
			tt.mutate(gw)
			_, err := renderFor(t, gw)
			var inv *InvalidError
			if !errors.As(err, &inv) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want an InvalidError mentioning %q", err, tt.want)
			}
		})
	}
}

func TestResolveFiles(t *testing.T) {
	gw := baseGateway()
	secrets := testSecrets(gw)
	delete(secrets, "cert-b")
	delete(secrets["nats-creds"].Data, "nats.creds")
	_, problems := ResolveFiles(Refs(gw), secrets)
	msg := ProblemsMessage(problems)
	for _, want := range []string{`Secret "cert-b"`, "not found", `Secret "nats-creds"`, `no key "nats.creds"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems %q do not mention %q", msg, want)
		}
	}
	if strings.Count(msg, `"cert-b"`) != 1 {
		t.Errorf("a missing Secret is named once: %q", msg)
	}
	if got, want := SecretNames(gw), []string{"cert-a", "cert-b", "nats-ca", "nats-creds", "users"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SecretNames = %v, want %v", got, want)
	}
}
