//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

const (
	release   = "sipws"
	releaseNS = "sipws-system"
	gwNS      = "voice"
	// The sample: edge and router with autoscaling (HPAs), PDBs, a TLS listener and a
	// flow-token Secret of its own.
	sample = "../../config/samples/autoscaling-flows.yaml"
)

var (
	gatewayGVR = schema.GroupVersionResource{Group: "sipws.io", Version: "v1alpha1", Resource: "sipwebsocketgateways"}
	crdGVR     = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	crdName    = "sipwebsocketgateways.sipws.io"
)

// env reads a required environment variable that `make e2e` sets.
func env(t *testing.T, name, hint string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the e2e test with make e2e (%s)", name, hint)
	}
	return v
}

// TestHelmInstallGatewayLifecycle installs the chart on a fresh control plane, runs the
// controller with the chart's flags and ServiceAccount, applies a sample gateway and follows
// it through Ready, a route change without a rollout, deletion (garbage collection) and
// helm uninstall.
func TestHelmInstallGatewayLifecycle(t *testing.T) {
	sipwsBin := env(t, "SIPWS_BIN", "bin/sipws")
	helmBin := env(t, "SIPWS_HELM", "hack/e2e/tools.sh helm")
	kwokDir := env(t, "SIPWS_KWOK_DIR", "hack/e2e/tools.sh kwok")
	binDir := env(t, "KUBEBUILDER_ASSETS", "hack/k8s/build-bins.sh")

	// Bounded well inside go test -timeout so the cleanups (process teardown, logs) still run.
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	start := time.Now()
	step := func(format string, args ...any) {
		t.Logf("[%5.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	c := startCluster(ctx, t, binDir, kwokDir)
	step("control plane up at %s", c.apiURL)
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	cs := kubernetes.NewForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)
	w := &waiter{t: t, c: c}
	// Runs before the cluster stops (cleanups run last-registered first).
	t.Cleanup(func() {
		if t.Failed() {
			dumpState(t, cs, c.path("state.log"))
		}
	})

	// Three simulated nodes, so pods spread across nodes can all be placed.
	for i := range 3 {
		createNode(ctx, t, cs, fmt.Sprintf("kwok-node-%d", i))
	}
	w.until(ctx, "3 nodes Ready", time.Minute, func() (bool, string, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "", err
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				// Ready, and schedulable: the node lifecycle controller lifted the not-ready
				// taint the API server puts on new nodes.
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue && len(n.Spec.Taints) == 0 {
					ready++
				}
			}
		}
		return ready == 3, fmt.Sprintf("%d ready and untainted", ready), nil
	})
	step("3 kwok nodes Ready and schedulable")

	// helm install. The controller pod lands on a kwok node, which reports it Running; nothing
	// runs in it (no container runtime), so the test runs the controller as a process below.
	helm := func(args ...string) string {
		t.Helper()
		hctx, hcancel := context.WithTimeout(ctx, 4*time.Minute)
		defer hcancel()
		cmd := exec.CommandContext(hctx, helmBin, append(args, "--kubeconfig", c.kubeconfig)...)
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+c.path("helm/cache"),
			"HELM_CONFIG_HOME="+c.path("helm/config"), "HELM_DATA_HOME="+c.path("helm/data"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := helm("install", release, "../../charts/sipws", "--namespace", releaseNS, "--create-namespace",
		"--wait", "--timeout", "3m", "--set", "image.tag=e2e")
	step("helm install: %s", firstLine(out))

	crd, err := dyn.Resource(crdGVR).Get(ctx, crdName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("CRD not installed by the chart: %v", err)
	}
	if !conditionTrue(crd, "Established") {
		t.Fatalf("CRD %s not Established", crdName)
	}
	ctrlDep, err := cs.AppsV1().Deployments(releaseNS).Get(ctx, release+"-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ctrlDep.Status.AvailableReplicas != *ctrlDep.Spec.Replicas {
		t.Fatalf("controller Deployment: %d of %d available", ctrlDep.Status.AvailableReplicas, *ctrlDep.Spec.Replicas)
	}

	// The controller process: the chart's own container args (so the chart's flags are proven
	// against the binary), local bind addresses, and the chart's ServiceAccount identity (so
	// the chart's ClusterRole and leader-election Role are proven sufficient).
	ctrlArgs := controllerArgs(t, ctrlDep, freePort(t), freePort(t))
	saKubeconfig := c.path("controller.kubeconfig")
	writeTokenKubeconfig(ctx, t, cs, c, saKubeconfig, releaseNS, ctrlDep.Spec.Template.Spec.ServiceAccountName)
	ctrl := c.startWith(ctx, "sipws-controller", sipwsBin, []string{"KUBECONFIG=" + saKubeconfig}, ctrlArgs...)
	step("controller process: %s %s", sipwsBin, strings.Join(ctrlArgs, " "))
	probe := "http://" + flagValue(ctrlArgs, "--health-probe-bind-address") + "/readyz"
	w.until(ctx, "controller /readyz", time.Minute, func() (bool, string, error) {
		resp, err := http.Get(probe)
		if err != nil {
			return false, err.Error(), nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status, nil
	})
	leaseName := flagValueOr(ctrlArgs, "--leader-election-id", "sipws-controller.sipws.io")
	w.until(ctx, "leader Lease held", time.Minute, func() (bool, string, error) {
		l, err := cs.CoordinationV1().Leases(releaseNS).Get(ctx, leaseName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, "no lease yet", nil
		}
		if err != nil {
			return false, "", err
		}
		return holder(l) != "", holder(l), nil
	})
	step("controller leads")

	// An upgrade must leave the Lease the chart owns (and the controller holds) alone.
	before, err := cs.CoordinationV1().Leases(releaseNS).Get(ctx, leaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out = helm("upgrade", release, "../../charts/sipws", "--namespace", releaseNS, "--reuse-values",
		"--set", "controller.logLevel=debug", "--wait", "--timeout", "3m")
	step("helm upgrade: %s", firstLine(out))
	after, err := cs.CoordinationV1().Leases(releaseNS).Get(ctx, leaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if holder(after) != holder(before) || after.Spec.LeaseDurationSeconds == nil {
		t.Fatalf("helm upgrade rewrote the Lease: holder %q -> %q", holder(before), holder(after))
	}

	// The gateway, with the Secrets it references.
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: gwNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	gw := loadSample(t, sample)
	gwName := gw.GetName()
	createSecretsFor(ctx, t, cs, c, gw)
	gw, err = dyn.Resource(gatewayGVR).Namespace(gwNS).Create(ctx, gw, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("apply %s: %v", sample, err)
	}
	step("gateway %s/%s created", gwNS, gwName)

	edge, router := gwName+"-edge", gwName+"-router"
	// No cloud here: play the load-balancer controller and give the edge Service an address.
	w.until(ctx, "edge Service", 2*time.Minute, func() (bool, string, error) {
		svc, err := cs.CoreV1().Services(gwNS).Get(ctx, edge, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, "not created", nil
		}
		if err != nil {
			return false, "", err
		}
		if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && len(svc.Status.LoadBalancer.Ingress) == 0 {
			svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.10"}}
			if _, err := cs.CoreV1().Services(gwNS).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
				return false, "", err
			}
		}
		return true, "", nil
	})
	for _, d := range []string{edge, router} {
		w.until(ctx, "Deployment "+d+" available", 3*time.Minute, func() (bool, string, error) {
			dep, err := cs.AppsV1().Deployments(gwNS).Get(ctx, d, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, "not created", nil
			}
			if err != nil {
				return false, "", err
			}
			want := int32(1)
			if dep.Spec.Replicas != nil {
				want = *dep.Spec.Replicas
			}
			return want > 0 && dep.Status.AvailableReplicas == want && dep.Status.UpdatedReplicas == want,
				fmt.Sprintf("%d/%d available", dep.Status.AvailableReplicas, want), nil
		})
	}
	for _, name := range []string{edge, router} {
		dep, err := cs.AppsV1().Deployments(gwNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		replicas := *dep.Spec.Replicas
		hpa, err := cs.AutoscalingV2().HorizontalPodAutoscalers(gwNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("HPA %s: %v", name, err)
		} else if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != name {
			t.Errorf("HPA %s scales %v", name, hpa.Spec.ScaleTargetRef)
		}
		// The disruption controller counts the pods the PDB selects: its selector matches.
		w.until(ctx, "PDB "+name+" covers the pods", time.Minute, func() (bool, string, error) {
			pdb, err := cs.PolicyV1().PodDisruptionBudgets(gwNS).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, "not created", nil
			}
			if err != nil {
				return false, "", err
			}
			return pdb.Status.ExpectedPods == replicas, fmt.Sprintf("expects %d pods of %d", pdb.Status.ExpectedPods, replicas), nil
		})
		// The endpointslice controller finds the pods behind the Service: its selector matches.
		w.until(ctx, "Service "+name+" has every pod as a ready endpoint", time.Minute, func() (bool, string, error) {
			if _, err := cs.CoreV1().Services(gwNS).Get(ctx, name, metav1.GetOptions{}); err != nil {
				return false, "", err
			}
			eps, err := cs.DiscoveryV1().EndpointSlices(gwNS).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + name})
			if err != nil {
				return false, "", err
			}
			ready := map[string]bool{}
			for _, sl := range eps.Items {
				for _, ep := range sl.Endpoints {
					if ep.Conditions.Ready != nil && *ep.Conditions.Ready && ep.TargetRef != nil {
						ready[ep.TargetRef.Name] = true
					}
				}
			}
			return int32(len(ready)) == replicas, fmt.Sprintf("%d ready endpoints of %d", len(ready), replicas), nil
		})
	}
	// What the chart gave the controller (image tag, default resources) is in what it rendered:
	// the sample sets the edge's resources and leaves the router's to the chart's default.
	for _, name := range []string{edge, router} {
		dep, err := cs.AppsV1().Deployments(gwNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := dep.Spec.Template.Spec.Containers[0]
		if want := flagValue(ctrlArgs, "--"+strings.TrimPrefix(name, gwName+"-")+"-image"); c.Image != want || want == "" {
			t.Errorf("%s image = %s, want the chart's %q", name, c.Image, want)
		}
	}
	routerDep, err := cs.AppsV1().Deployments(gwNS).Get(ctx, router, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resourcesFlag(routerDep.Spec.Template.Spec.Containers[0].Resources), flagValue(ctrlArgs, "--router-resources"); got != want {
		t.Errorf("router resources = %s, want the chart's default %s", got, want)
	}
	waitGatewayReady(ctx, t, w, dyn, gwName)
	step("gateway Ready: edge and router available, HPAs, PDBs covering the pods, Services with every pod as endpoint")
	if t.Failed() {
		return
	}

	// A route change reaches the pods through the ConfigMap: no pod is replaced.
	podsBefore := podUIDs(ctx, t, cs, gwName)
	depsBefore := deploymentGenerations(ctx, t, cs, edge, router)
	cmBefore := configMaps(ctx, t, cs, gwName)
	patch := []byte(`[{"op":"add","path":"/spec/routes/0/match","value":{"domains":["sip.example.org"]}}]`)
	if _, err := dyn.Resource(gatewayGVR).Namespace(gwNS).Patch(ctx, gwName, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("route change: %v", err)
	}
	w.until(ctx, "ConfigMap carries the new route", time.Minute, func() (bool, string, error) {
		now := configMaps(ctx, t, cs, gwName)
		changed := !equalMaps(now, cmBefore) && strings.Contains(strings.Join(mapValues(now), "\n"), "sip.example.org")
		return changed, "", nil
	})
	waitGatewayReady(ctx, t, w, dyn, gwName)
	// Give a wrongly triggered rollout the time to show (the Deployment controller acts in ms).
	time.Sleep(3 * time.Second)
	if got := deploymentGenerations(ctx, t, cs, edge, router); !equalMaps(got, depsBefore) {
		t.Errorf("route change touched a Deployment spec: generations %v -> %v", depsBefore, got)
	}
	if got := podUIDs(ctx, t, cs, gwName); !slices.Equal(got, podsBefore) {
		t.Errorf("route change replaced pods: %d before %v, after %v", len(podsBefore), podsBefore, got)
	}
	step("route changed: ConfigMap updated, %d pods untouched", len(podsBefore))

	// Deleting the gateway leaves garbage collection to remove every child.
	kids := children(ctx, t, cs, dyn, gw.GetUID())
	if len(kids) < 8 {
		t.Errorf("gateway children found: %v; want Deployments, ReplicaSets, Pods, Services, HPAs, PDBs, ConfigMap, Secrets", kids)
	}
	if err := dyn.Resource(gatewayGVR).Namespace(gwNS).Delete(ctx, gwName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.until(ctx, "garbage collection of the gateway's children", 3*time.Minute, func() (bool, string, error) {
		left := children(ctx, t, cs, dyn, gw.GetUID())
		return len(left) == 0, strings.Join(left, ", "), nil
	})
	step("gateway deleted: %d children collected", len(kids))

	// The chart's RBAC was enough for everything the controller did.
	stopProc(ctrl)
	if log, err := os.ReadFile(ctrl.log); err != nil {
		t.Error(err)
	} else if i := bytes.Index(log, []byte("forbidden")); i >= 0 {
		t.Errorf("the controller was refused by RBAC with the chart's ServiceAccount: %s", firstLine(string(log[max(0, i-300):])))
	}

	// helm uninstall leaves only the CRD (helm never deletes crds/ objects).
	out = helm("uninstall", release, "--namespace", releaseNS, "--wait", "--timeout", "2m")
	step("helm uninstall: %s", strings.TrimSpace(out))
	w.until(ctx, "nothing of the release left", 2*time.Minute, func() (bool, string, error) {
		left := releaseObjects(ctx, t, cs)
		return len(left) == 0, strings.Join(left, ", "), nil
	})
	leases, err := cs.CoordinationV1().Leases(releaseNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Items {
		t.Errorf("Lease %s/%s left after uninstall", l.Namespace, l.Name)
	}
	if _, err := dyn.Resource(crdGVR).Get(ctx, crdName, metav1.GetOptions{}); err != nil {
		t.Errorf("CRD gone after uninstall (it must stay, gateways live in it): %v", err)
	}
	step("uninstalled: only the CRD is left")
}

// waiter polls a condition with a bound, failing fast when a component died.
type waiter struct {
	t *testing.T
	c *cluster
}

func (w *waiter) until(ctx context.Context, what string, limit time.Duration, f func() (bool, string, error)) {
	w.t.Helper()
	deadline := time.Now().Add(limit)
	last := ""
	for {
		if err := w.c.checkAlive(); err != nil {
			w.t.Fatalf("waiting for %s: %v", what, err)
		}
		ok, state, err := f()
		if err != nil {
			last = err.Error()
		} else {
			last = state
		}
		if ok && err == nil {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: not after %s (last: %s)", what, limit, last)
		}
		select {
		case <-ctx.Done():
			w.t.Fatalf("%s: %v (last: %s)", what, ctx.Err(), last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func createNode(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"type": "kwok",
			},
		},
		Status: corev1.NodeStatus{Allocatable: res, Capacity: res},
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
}

// controllerArgs are the chart's container args with local bind addresses and the lease
// namespace (outside a pod the controller cannot read its own namespace).
func controllerArgs(t *testing.T, dep *appsv1.Deployment, metricsPort, healthPort string) []string {
	t.Helper()
	cs := dep.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("controller Deployment has %d containers", len(cs))
	}
	var args []string
	for _, a := range cs[0].Args {
		switch {
		case strings.HasPrefix(a, "--metrics-bind-address="):
			a = "--metrics-bind-address=127.0.0.1:" + metricsPort
		case strings.HasPrefix(a, "--health-probe-bind-address="):
			a = "--health-probe-bind-address=127.0.0.1:" + healthPort
		case strings.HasPrefix(a, "--log-format="):
			a = "--log-format=text"
		case strings.HasPrefix(a, "--flows-interval="):
			// The pods are simulated: nothing listens on their (non-loopback) IPs.
			a = "--flows-interval=0s"
		}
		args = append(args, a)
	}
	if len(args) == 0 || args[0] != "controller" {
		t.Fatalf("controller args do not start with the controller command: %v", args)
	}
	return append(args, "--leader-election-namespace="+releaseNS)
}

func flagValue(args []string, name string) string { return flagValueOr(args, name, "") }

func flagValueOr(args []string, name, def string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return def
}

func holder(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// writeTokenKubeconfig writes a kubeconfig authenticating as a ServiceAccount through a token
// from the TokenRequest API, as the pod's projected token would.
func writeTokenKubeconfig(ctx context.Context, t *testing.T, cs kubernetes.Interface, c *cluster, path, ns, sa string) {
	t.Helper()
	exp := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for ServiceAccount %s/%s: %v", ns, sa, err)
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: %s, certificate-authority: %s}
users:
- name: sa
  user: {token: %s}
contexts:
- name: e2e
  context: {cluster: e2e, user: sa, namespace: %s}
current-context: e2e
`, c.apiURL, c.path("ca.crt"), tr.Status.Token, ns)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
}

func loadSample(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("sample: %v", err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(b, &obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetNamespace(gwNS)
	return u
}

// createSecretsFor creates the TLS Secrets of the gateway's listeners and its flow-token key
// Secret, as an operator (or cert-manager) would before applying it.
func createSecretsFor(ctx context.Context, t *testing.T, cs kubernetes.Interface, c *cluster, gw *unstructured.Unstructured) {
	t.Helper()
	crt, err := os.ReadFile(c.path("apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(c.path("apiserver.key"))
	if err != nil {
		t.Fatal(err)
	}
	listeners, _, _ := unstructured.NestedSlice(gw.Object, "spec", "listeners")
	for _, l := range listeners {
		refs, _, _ := unstructured.NestedSlice(l.(map[string]any), "tls", "certificateRefs")
		for _, r := range refs {
			name := r.(map[string]any)["name"].(string)
			createSecret(ctx, t, cs, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: gwNS},
				Type:       corev1.SecretTypeTLS,
				Data:       map[string][]byte{"tls.crt": crt, "tls.key": key},
			})
		}
	}
	if name, ok, _ := unstructured.NestedString(gw.Object, "spec", "flowTokenSecretRef", "name"); ok {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			t.Fatal(err)
		}
		ring := fmt.Sprintf("current: 1\nkeys:\n  - id: 1\n    secret: %s\n", base64.StdEncoding.EncodeToString(k))
		createSecret(ctx, t, cs, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: gwNS},
			Data:       map[string][]byte{"keys.yaml": []byte(ring)},
		})
	}
}

func createSecret(ctx context.Context, t *testing.T, cs kubernetes.Interface, s *corev1.Secret) {
	t.Helper()
	if _, err := cs.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("secret %s: %v", s.Name, err)
	}
}

func waitGatewayReady(ctx context.Context, t *testing.T, w *waiter, dyn dynamic.Interface, name string) {
	t.Helper()
	w.until(ctx, "gateway Ready=True for its generation", 3*time.Minute, func() (bool, string, error) {
		gw, err := dyn.Resource(gatewayGVR).Namespace(gwNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		conds, _, _ := unstructured.NestedSlice(gw.Object, "status", "conditions")
		var state []string
		ready := false
		for _, ci := range conds {
			cond := ci.(map[string]any)
			og, _, _ := unstructured.NestedInt64(cond, "observedGeneration")
			state = append(state, fmt.Sprintf("%v=%v(%v: %v, gen %d/%d)", cond["type"], cond["status"], cond["reason"], cond["message"], og, gw.GetGeneration()))
			if cond["type"] == "Ready" && cond["status"] == "True" && og == gw.GetGeneration() {
				ready = true
			}
		}
		return ready, strings.Join(state, "; "), nil
	})
}

func conditionTrue(u *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, ci := range conds {
		cond := ci.(map[string]any)
		if cond["type"] == typ && cond["status"] == "True" {
			return true
		}
	}
	return false
}

func gatewaySelector(gw string) string { return "sipws.io/gateway=" + gw }

// podUIDs are the sorted UIDs of the gateway's pods.
func podUIDs(ctx context.Context, t *testing.T, cs kubernetes.Interface, gw string) []string {
	t.Helper()
	pods, err := cs.CoreV1().Pods(gwNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, p := range pods.Items {
		if strings.HasPrefix(p.Name, gw+"-edge-") || strings.HasPrefix(p.Name, gw+"-router-") {
			uids = append(uids, p.Name+"/"+string(p.UID))
		}
	}
	slices.Sort(uids)
	if len(uids) == 0 {
		t.Fatalf("no pods of gateway %s", gw)
	}
	return uids
}

func deploymentGenerations(ctx context.Context, t *testing.T, cs kubernetes.Interface, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range names {
		d, err := cs.AppsV1().Deployments(gwNS).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out[n] = fmt.Sprint(d.Generation)
	}
	return out
}

// configMaps is the data of the gateway's ConfigMaps (name/key -> value).
func configMaps(ctx context.Context, t *testing.T, cs kubernetes.Interface, gw string) map[string]string {
	t.Helper()
	list, err := cs.CoreV1().ConfigMaps(gwNS).List(ctx, metav1.ListOptions{LabelSelector: gatewaySelector(gw)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, cm := range list.Items {
		for k, v := range cm.Data {
			out[cm.Name+"/"+k] = v
		}
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// children lists every object in the gateway namespace owned, directly or through a chain
// (Deployment -> ReplicaSet -> Pod), by the gateway.
func children(ctx context.Context, t *testing.T, cs kubernetes.Interface, dyn dynamic.Interface, gwUID types.UID) []string {
	t.Helper()
	kinds := []schema.GroupVersionResource{
		{Group: "apps", Version: "v1", Resource: "deployments"},
		{Group: "apps", Version: "v1", Resource: "replicasets"},
		{Version: "v1", Resource: "pods"},
		{Version: "v1", Resource: "services"},
		{Version: "v1", Resource: "configmaps"},
		{Version: "v1", Resource: "secrets"},
		{Version: "v1", Resource: "serviceaccounts"},
		{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"},
		{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
		{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	}
	type obj struct {
		id     string
		owners []types.UID
	}
	byUID := map[types.UID]obj{}
	for _, k := range kinds {
		list, err := dyn.Resource(k).Namespace(gwNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("list %s: %v", k.Resource, err)
		}
		for _, it := range list.Items {
			var owners []types.UID
			for _, o := range it.GetOwnerReferences() {
				owners = append(owners, o.UID)
			}
			byUID[it.GetUID()] = obj{id: k.Resource + "/" + it.GetName(), owners: owners}
		}
	}
	var owned func(u types.UID, depth int) bool
	owned = func(u types.UID, depth int) bool {
		if depth > 4 {
			return false
		}
		for _, o := range byUID[u].owners {
			if o == gwUID || owned(o, depth+1) {
				return true
			}
		}
		return false
	}
	var out []string
	for u, o := range byUID {
		if owned(u, 0) {
			out = append(out, o.id)
		}
	}
	slices.Sort(out)
	return out
}

// releaseObjects lists what carries the release's instance label, cluster-wide, plus the
// controller pods (kwok removes them once deleted).
func releaseObjects(ctx context.Context, t *testing.T, cs kubernetes.Interface) []string {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release + ",app.kubernetes.io/part-of=sipws"}
	var out []string
	add := func(kind string, n int, err error) {
		if err != nil {
			t.Fatalf("list %s: %v", kind, err)
		}
		if n > 0 {
			out = append(out, fmt.Sprintf("%d %s", n, kind))
		}
	}
	d, err := cs.AppsV1().Deployments("").List(ctx, sel)
	add("deployments", len(d.Items), err)
	p, err := cs.CoreV1().Pods("").List(ctx, sel)
	add("pods", len(p.Items), err)
	s, err := cs.CoreV1().Services("").List(ctx, sel)
	add("services", len(s.Items), err)
	sa, err := cs.CoreV1().ServiceAccounts("").List(ctx, sel)
	add("serviceaccounts", len(sa.Items), err)
	cm, err := cs.CoreV1().ConfigMaps("").List(ctx, sel)
	add("configmaps", len(cm.Items), err)
	cr, err := cs.RbacV1().ClusterRoles().List(ctx, sel)
	add("clusterroles", len(cr.Items), err)
	crb, err := cs.RbacV1().ClusterRoleBindings().List(ctx, sel)
	add("clusterrolebindings", len(crb.Items), err)
	r, err := cs.RbacV1().Roles("").List(ctx, sel)
	add("roles", len(r.Items), err)
	rb, err := cs.RbacV1().RoleBindings("").List(ctx, sel)
	add("rolebindings", len(rb.Items), err)
	sec, err := cs.CoreV1().Secrets(releaseNS).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + release})
	add("helm release secrets", len(sec.Items), err)
	return out
}

// dumpState writes what a human needs to see why a wait failed: nodes, workloads, pods and
// events of every namespace. It lands next to the component logs.
func dumpState(t *testing.T, cs kubernetes.Interface, path string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var b strings.Builder
	if nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		for _, n := range nodes.Items {
			fmt.Fprintf(&b, "node %s taints=%v\n", n.Name, n.Spec.Taints)
		}
	}
	if deps, err := cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range deps.Items {
			fmt.Fprintf(&b, "deployment %s/%s gen=%d observed=%d replicas=%d available=%d conditions=%v\n", d.Namespace, d.Name,
				d.Generation, d.Status.ObservedGeneration, d.Status.Replicas, d.Status.AvailableReplicas, d.Status.Conditions)
		}
	}
	if pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pods.Items {
			fmt.Fprintf(&b, "pod %s/%s node=%q phase=%s conditions=%v\n", p.Namespace, p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.Conditions)
		}
	}
	if evs, err := cs.CoreV1().Events("").List(ctx, metav1.ListOptions{}); err == nil {
		for _, e := range evs.Items {
			fmt.Fprintf(&b, "event %s %s/%s %s: %s\n", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Logf("state dump: %v", err)
	}
}

// resourcesFlag writes resources the way the chart passes them (--router-resources).
func resourcesFlag(r corev1.ResourceRequirements) string {
	var parts []string
	for _, kind := range []struct {
		name string
		list corev1.ResourceList
	}{{"requests", r.Requests}, {"limits", r.Limits}} {
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := kind.list[res]; ok {
				parts = append(parts, fmt.Sprintf("%s.%s=%s", kind.name, res, q.String()))
			}
		}
	}
	return strings.Join(parts, ",")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
