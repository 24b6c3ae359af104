// Package chart tests charts/sipws: helm lint and helm template for the default values and
// every documented example under ci/, and the rendered objects (RBAC equal to the generated
// role, images and flags, security context, CRD identical to config/crd/bases).
package chart

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	gwrender "github.com/sipws/sipws/controllers/render"
)

// helmVersion must match HELM_VERSION in the Makefile and hack/e2e/tools.sh.
const helmVersion = "v3.22.0"

// helmBin is the pinned helm: $SIPWS_HELM, else the cache hack/e2e/tools.sh fills.
func helmBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("SIPWS_HELM")
	if p == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				t.Fatal(err)
			}
			cache = filepath.Join(home, ".cache")
		}
		p = filepath.Join(cache, "sipws", "helm-"+helmVersion, "helm")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("helm not found at %s: run `make helm` (hack/e2e/tools.sh helm builds it into the cache; make test does it first)", p)
	}
	return p
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// examples are the documented values files: the defaults ("") and every ci/*.yaml.
func examples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("ci/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no values examples in ci/: %v", err)
	}
	return append([]string{""}, files...)
}

func valuesArgs(f string) []string {
	if f == "" {
		return nil
	}
	return []string{"-f", f}
}

func TestLint(t *testing.T) {
	for _, f := range examples(t) {
		t.Run(name(f), func(t *testing.T) {
			out, err := helm(t, append([]string{"lint", "--strict", "."}, valuesArgs(f)...)...)
			if err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
			if strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
				t.Errorf("helm lint is not clean:\n%s", out)
			}
		})
	}
}

func name(f string) string {
	if f == "" {
		return "default"
	}
	return strings.TrimSuffix(filepath.Base(f), ".yaml")
}

type object = map[string]any

// render runs helm template and returns the objects by "Kind/name".
func render(t *testing.T, args ...string) map[string]object {
	t.Helper()
	out, err := helm(t, append([]string{"template", "rel", ".", "--namespace", "sipws-system", "--include-crds"}, args...)...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	objs := map[string]object{}
	for _, doc := range splitYAML(t, out) {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if o == nil {
			continue
		}
		key := fmt.Sprintf("%s/%s", o["kind"], get(o, "metadata", "name"))
		if _, dup := objs[key]; dup {
			t.Fatalf("%s rendered twice", key)
		}
		objs[key] = o
	}
	return objs
}

func splitYAML(t *testing.T, s string) []string {
	t.Helper()
	var docs []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if sc.Text() == "---" {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(sc.Text() + "\n")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return append(docs, cur.String())
}

// get walks nested maps; nil when a step is missing.
func get(o any, path ...string) any {
	for _, p := range path {
		m, ok := o.(map[string]any)
		if !ok {
			return nil
		}
		o = m[p]
	}
	return o
}

func TestTemplate(t *testing.T) {
	role := generatedRole(t)
	tests := []struct {
		values                   string
		wantImage                string
		wantEdge, wantRouter     string
		wantReplicas             float64
		wantArgs                 []string
		wantMonitor, wantDashbrd bool
	}{
		{
			values:    "",
			wantImage: "ghcr.io/sipws/sipws:0.1.0", wantEdge: "ghcr.io/sipws/sipws:0.1.0", wantRouter: "ghcr.io/sipws/sipws:0.1.0",
			wantReplicas: 1,
			wantArgs: []string{"--leader-elect=true", "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081", "--flows-interval=30s",
				"--edge-resources=requests.cpu=100m,requests.memory=128Mi,limits.memory=1Gi",
				"--router-resources=requests.cpu=100m,requests.memory=64Mi,limits.memory=512Mi"},
		},
		{
			values:    "ci/ha-values.yaml",
			wantImage: "ghcr.io/sipws/sipws:0.1.0", wantEdge: "ghcr.io/sipws/sipws:0.1.0", wantRouter: "ghcr.io/sipws/sipws:0.1.0",
			wantReplicas: 2,
			wantArgs:     []string{"--leader-elect=true", "--log-level=debug", "--namespace=sip"},
		},
		{
			values:    "ci/images-values.yaml",
			wantImage: "registry.example.com/sip/sipws@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			wantEdge:  "registry.example.com/sip/sipws:0.1.0-edge", wantRouter: "registry.example.com/sip/sipws:0.1.0",
			wantReplicas: 1,
			wantArgs:     []string{"--edge-resources=requests.cpu=500m,requests.memory=512Mi,limits.memory=4Gi"},
		},
		{
			values:    "ci/monitoring-values.yaml",
			wantImage: "ghcr.io/sipws/sipws:0.1.0", wantEdge: "ghcr.io/sipws/sipws:0.1.0", wantRouter: "ghcr.io/sipws/sipws:0.1.0",
			wantReplicas: 1, wantMonitor: true, wantDashbrd: true,
		},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.values] = true
		t.Run(name(tt.values), func(t *testing.T) {
			objs := render(t, valuesArgs(tt.values)...)

			cr := mustObj(t, objs, "ClusterRole/rel-sipws-controller")
			if !reflect.DeepEqual(cr["rules"], role["rules"]) {
				t.Errorf("ClusterRole rules differ from config/rbac/role.yaml:\n got %v\nwant %v", cr["rules"], role["rules"])
			}
			crb := mustObj(t, objs, "ClusterRoleBinding/rel-sipws-controller")
			sa, _ := get(crb, "subjects").([]any)
			if len(sa) != 1 || get(sa[0], "namespace") != "sipws-system" {
				t.Errorf("ClusterRoleBinding subjects = %v", sa)
			}
			le := mustObj(t, objs, "Role/rel-sipws-controller-leader-election")
			if !strings.Contains(fmt.Sprint(le["rules"]), "leases") {
				t.Errorf("leader-election Role lacks leases: %v", le["rules"])
			}

			dep := mustObj(t, objs, "Deployment/rel-sipws-controller")
			if got := get(dep, "spec", "replicas"); got != tt.wantReplicas {
				t.Errorf("replicas = %v, want %v", got, tt.wantReplicas)
			}
			pod := get(dep, "spec", "template", "spec")
			if got := get(pod, "securityContext", "runAsNonRoot"); got != true {
				t.Errorf("pod runAsNonRoot = %v", got)
			}
			if got := get(pod, "securityContext", "seccompProfile", "type"); got != "RuntimeDefault" {
				t.Errorf("pod seccompProfile = %v", got)
			}
			if got := get(pod, "serviceAccountName"); got != get(crb, "subjects").([]any)[0].(map[string]any)["name"] {
				t.Errorf("serviceAccountName %v is not the bound subject", got)
			}
			containers, _ := get(pod, "containers").([]any)
			if len(containers) != 1 {
				t.Fatalf("%d containers", len(containers))
			}
			c := containers[0]
			if got := get(c, "image"); got != tt.wantImage {
				t.Errorf("image = %v, want %v", got, tt.wantImage)
			}
			sc := get(c, "securityContext")
			for _, check := range []struct {
				path []string
				want any
			}{
				{[]string{"readOnlyRootFilesystem"}, true},
				{[]string{"allowPrivilegeEscalation"}, false},
				{[]string{"runAsNonRoot"}, true},
				{[]string{"capabilities", "drop"}, []any{"ALL"}},
			} {
				if got := get(sc, check.path...); !reflect.DeepEqual(got, check.want) {
					t.Errorf("container securityContext.%s = %v, want %v", strings.Join(check.path, "."), got, check.want)
				}
			}
			for _, probe := range []string{"livenessProbe", "readinessProbe"} {
				if get(c, probe, "httpGet", "port") != "health" {
					t.Errorf("%s = %v", probe, get(c, probe))
				}
			}
			if get(c, "resources", "requests", "cpu") == nil || get(c, "resources", "limits", "memory") == nil {
				t.Errorf("resources = %v", get(c, "resources"))
			}
			var args []string
			for _, a := range get(c, "args").([]any) {
				args = append(args, a.(string))
			}
			if len(args) == 0 || args[0] != "controller" {
				t.Errorf("args %v do not run `sipws controller`", args)
			}
			want := append([]string{"--edge-image=" + tt.wantEdge, "--router-image=" + tt.wantRouter}, tt.wantArgs...)
			for _, w := range want {
				if !slices.Contains(args, w) {
					t.Errorf("args lack %s: %v", w, args)
				}
			}

			// The chart owns the Lease the controller leads with, so uninstall removes it.
			mustObj(t, objs, "Lease/rel-sipws-controller")
			if !slices.Contains(args, "--leader-election-id=rel-sipws-controller") {
				t.Errorf("args do not name the chart's Lease: %v", args)
			}

			svc := mustObj(t, objs, "Service/rel-sipws-controller-metrics")
			if !reflect.DeepEqual(get(svc, "spec", "selector"), get(dep, "spec", "selector", "matchLabels")) {
				t.Errorf("metrics Service selector %v != Deployment selector %v", get(svc, "spec", "selector"), get(dep, "spec", "selector", "matchLabels"))
			}
			if _, ok := objs["ServiceMonitor/rel-sipws-controller"]; ok != tt.wantMonitor {
				t.Errorf("ServiceMonitor rendered = %v, want %v", ok, tt.wantMonitor)
			}
			pm, ok := objs["PodMonitor/rel-sipws-gateways"]
			if ok != tt.wantMonitor {
				t.Errorf("PodMonitor rendered = %v, want %v", ok, tt.wantMonitor)
			}
			if ok {
				// The labels the controller puts on every gateway pod (controllers/render).
				want := map[string]any{gwrender.LabelName: gwrender.AppName, gwrender.LabelManagedBy: gwrender.ManagedBy}
				if got := get(pm, "spec", "selector", "matchLabels"); !reflect.DeepEqual(got, want) {
					t.Errorf("PodMonitor selector = %v, want %v", got, want)
				}
				eps, _ := get(pm, "spec", "podMetricsEndpoints").([]any)
				if len(eps) != 1 || get(eps[0], "port") != gwrender.AdminName {
					t.Errorf("PodMonitor endpoints = %v, want port %q", eps, gwrender.AdminName)
				}
			}
			cm, ok := objs["ConfigMap/rel-sipws-dashboard"]
			if ok != tt.wantDashbrd {
				t.Errorf("dashboard rendered = %v, want %v", ok, tt.wantDashbrd)
			}
			if ok {
				var d map[string]any
				if err := json.Unmarshal([]byte(get(cm, "data", "sipws.json").(string)), &d); err != nil {
					t.Errorf("dashboard JSON: %v", err)
				}
			}

			crd := mustObj(t, objs, "CustomResourceDefinition/sipwebsocketgateways.sipws.io")
			if get(crd, "spec", "group") != "sipws.io" {
				t.Errorf("CRD group = %v", get(crd, "spec", "group"))
			}
			for key, o := range objs {
				kind := o["kind"].(string)
				ns := get(o, "metadata", "namespace")
				clusterScoped := kind == "ClusterRole" || kind == "ClusterRoleBinding" || kind == "CustomResourceDefinition"
				if clusterScoped != (ns == nil) {
					t.Errorf("%s: namespace %v", key, ns)
				}
				if !clusterScoped && kind != "ConfigMap" && ns != "sipws-system" {
					t.Errorf("%s in namespace %v, want the release namespace", key, ns)
				}
			}
		})
	}
	for _, f := range examples(t) {
		if !seen[f] {
			t.Errorf("values example %s has no case in TestTemplate", f)
		}
	}
}

// TestInvalidValues: the schema and the templates refuse what would not work.
func TestInvalidValues(t *testing.T) {
	tests := []struct {
		set  []string
		want string
	}{
		{[]string{"controller.logLevel=verbose"}, "logLevel"},
		{[]string{"controller.replicas=-1"}, "replicas"},
		{[]string{"image.pullPolicy=Sometimes"}, "pullPolicy"},
		{[]string{"dataPlane.edge.resources.requests.gpu=1"}, "gpu"},
		{[]string{"controller.replicas=2", "controller.leaderElection.enabled=false"}, "leaderElection"},
		{[]string{"metrics.serviceMonitor.enabled=true", "metrics.service.enabled=false"}, "metrics.service.enabled"},
		{[]string{"serviceAccount.create=false"}, "serviceAccount.name is required"},
		{[]string{"unknownKey=1"}, "unknownKey"},
		{[]string{"controller.flowsInterval=soon"}, "flowsInterval"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.set, ","), func(t *testing.T) {
			args := []string{"template", "rel", "."}
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			out, err := helm(t, args...)
			if err == nil {
				t.Fatalf("helm template accepted %v", tt.set)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("error does not mention %q:\n%s", tt.want, out)
			}
		})
	}
}

func mustObj(t *testing.T, objs map[string]object, key string) object {
	t.Helper()
	o, ok := objs[key]
	if !ok {
		var keys []string
		for k := range objs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		t.Fatalf("%s not rendered; got %v", key, keys)
	}
	return o
}

func generatedRole(t *testing.T) object {
	t.Helper()
	b, err := os.ReadFile("../../config/rbac/role.yaml")
	if err != nil {
		t.Fatalf("generated role: %v (run make manifests)", err)
	}
	var role object
	for _, doc := range splitYAML(t, string(b)) {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatal(err)
		}
		if o != nil && o["kind"] == "ClusterRole" {
			role = o
		}
	}
	if role == nil || role["rules"] == nil {
		t.Fatal("config/rbac/role.yaml has no ClusterRole with rules")
	}
	return role
}

// TestGeneratedCopies: the chart's CRD and RBAC role are the generated files, byte for byte
// (make manifests copies them).
func TestGeneratedCopies(t *testing.T) {
	bases, err := filepath.Glob("../../config/crd/bases/*.yaml")
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	pairs := map[string]string{"../../config/rbac/role.yaml": "files/role.yaml"}
	for _, b := range bases {
		pairs[b] = filepath.Join("crds", filepath.Base(b))
	}
	chartCRDs, _ := filepath.Glob("crds/*")
	if len(chartCRDs) != len(bases) {
		t.Errorf("chart has %d CRD files, config/crd/bases %d: run make manifests", len(chartCRDs), len(bases))
	}
	for src, dst := range pairs {
		a, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatalf("%v: run make manifests", err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("charts/sipws/%s differs from %s: run make manifests", dst, strings.TrimPrefix(src, "../../"))
		}
	}
}

// TestValuesDocumented: every key of values.yaml has a comment right above it, except inside
// a value documented as a whole ("# --" comment: a resources block, a security context).
func TestValuesDocumented(t *testing.T) {
	f, err := os.Open("values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keyRe := regexp.MustCompile(`^(\s*)([A-Za-z0-9_.-]+):`)
	prevComment := false
	wholeIndent := -1 // indentation of the key whose value is documented as a whole
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			prevComment = false
			continue
		case strings.HasPrefix(trimmed, "#"):
			if !prevComment || strings.HasPrefix(trimmed, "# --") {
				prevComment = true
			}
			continue
		}
		m := keyRe.FindStringSubmatch(line)
		if m == nil {
			prevComment = false
			continue
		}
		indent := len(m[1])
		if wholeIndent >= 0 && indent > wholeIndent {
			continue
		}
		wholeIndent = -1
		if !prevComment {
			t.Errorf("values.yaml:%d: key %q has no comment", n, m[2])
		}
		if strings.HasSuffix(strings.TrimSpace(line), ":") && documentedAsWhole(t, n) {
			wholeIndent = indent
		}
		prevComment = false
	}
}

// documentedAsWhole reports whether the comment above line n starts with "# --".
func documentedAsWhole(t *testing.T, n int) bool {
	t.Helper()
	b, err := os.ReadFile("values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := n - 2
	for start > 0 && strings.HasPrefix(strings.TrimSpace(lines[start-1]), "#") {
		start--
	}
	return strings.HasPrefix(strings.TrimSpace(lines[start]), "# --")
}

// TestDashboardMetrics: every metric the dashboard queries is one the edge or router exports.
func TestDashboardMetrics(t *testing.T) {
	b, err := os.ReadFile("files/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, src := range []struct{ file, prefix string }{
		{"../../edge/server/metrics.go", "sipws_edge_"},
		{"../../edge/router/metrics.go", "sipws_router_"},
	} {
		code, err := os.ReadFile(src.file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`Name:\s*"([a-z_]+)"`).FindAllStringSubmatch(string(code), -1) {
			exported[src.prefix+m[1]] = true
		}
	}
	used := regexp.MustCompile(`sipws_(edge|router)_[a-z_]+`).FindAllString(string(b), -1)
	if len(used) == 0 {
		t.Fatal("dashboard queries no sipws metric")
	}
	for _, m := range used {
		base := m
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if s, ok := strings.CutSuffix(m, suffix); ok && exported[s] {
				base = s
			}
		}
		if !exported[base] {
			t.Errorf("dashboard queries %s, which neither edge/server nor edge/router exports", m)
		}
	}
}
