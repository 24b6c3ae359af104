// Package controllers reconciles SipWebSocketGateways: it resolves what a gateway references,
// renders its children with controllers/render, applies them with server-side apply, deletes
// the ones no longer wanted and reports status.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/sipws/sipws/api/v1alpha1"
	"github.com/sipws/sipws/controllers/render"
	"github.com/sipws/sipws/edge/flow"
)

// Options are the controller's own settings (flags of `sipws controller`).
type Options struct {
	// EdgeImage and RouterImage run the pods unless a gateway names its own.
	EdgeImage, RouterImage string
	// EdgeResources and RouterResources apply when a gateway sets none.
	EdgeResources, RouterResources corev1.ResourceRequirements
	// ClusterDomain completes Service upstreams (default cluster.local).
	ClusterDomain string
	// FlowsInterval is how often status.flows is refreshed from the edge pods' /metrics
	// (default 30s; negative: never).
	FlowsInterval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	// flowsPort overrides the admin port scraped for flows (tests).
	flowsPort int
}

// Indexes of gateways by what they reference, so a Secret or Service event finds its gateways.
const (
	indexSecrets  = "sipws.io/secrets"
	indexServices = "sipws.io/services"
)

// NewScheme holds the built-in kinds and sipws.io/v1alpha1.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err) // static registration: cannot fail at run time
	}
	if err := v1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Reconciler reconciles one SipWebSocketGateway at a time.
type Reconciler struct {
	client client.Client
	// reader reads around the cache, where a stale cache would do harm.
	reader client.Reader
	opts   Options
	log    *slog.Logger
}

// +kubebuilder:rbac:groups=sipws.io,resources=sipwebsocketgateways,verbs=get;list;watch
// +kubebuilder:rbac:groups=sipws.io,resources=sipwebsocketgateways/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=sipws.io,resources=sipwebsocketgateways/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=configmaps;secrets;services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=list

// Setup registers the reconciler, its indexes and its watches with mgr.
func Setup(mgr ctrl.Manager, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Reconciler{client: mgr.GetClient(), reader: mgr.GetAPIReader(), opts: opts, log: opts.Logger}
	ctx := context.Background()
	fi := mgr.GetFieldIndexer()
	if err := fi.IndexField(ctx, &v1.SipWebSocketGateway{}, indexSecrets, func(o client.Object) []string {
		return render.SecretNames(o.(*v1.SipWebSocketGateway))
	}); err != nil {
		return fmt.Errorf("index gateways by Secret: %w", err)
	}
	if err := fi.IndexField(ctx, &v1.SipWebSocketGateway{}, indexServices, func(o client.Object) []string {
		return serviceNames(o.(*v1.SipWebSocketGateway))
	}); err != nil {
		return fmt.Errorf("index gateways by Service: %w", err)
	}
	if opts.FlowsInterval == 0 {
		opts.FlowsInterval = 30 * time.Second
	}
	if opts.FlowsInterval > 0 {
		p := newFlowsPoller(mgr.GetClient(), mgr.GetAPIReader(), opts.FlowsInterval, opts.Logger)
		if opts.flowsPort != 0 {
			p.port = opts.flowsPort
		}
		if err := mgr.Add(p); err != nil {
			return fmt.Errorf("flows poller: %w", err)
		}
	}
	err := ctrl.NewControllerManagedBy(mgr).
		Named("sipwebsocketgateway").
		// Status writes bump neither generation nor anything we render from.
		For(&v1.SipWebSocketGateway{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}).
		Owns(&corev1.Service{}).
		Owns(&appsv1.Deployment{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.byIndex(indexSecrets))).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.byIndex(indexServices))).
		Complete(r)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	return nil
}

// byIndex maps an object to the gateways in its namespace that reference it by name.
func (r *Reconciler) byIndex(index string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var list v1.SipWebSocketGatewayList
		if err := r.client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{index: o.GetName()}); err != nil {
			r.log.Error("list gateways for a watched object", "index", index, "object", o.GetName(), "err", err)
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, gw := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}})
		}
		return reqs
	}
}

func serviceNames(gw *v1.SipWebSocketGateway) []string {
	var names []string
	seen := map[string]bool{}
	for _, rt := range gw.Spec.Routes {
		if s := rt.Upstream.ServiceRef; s != nil && !seen[s.Name] {
			seen[s.Name] = true
			names = append(names, s.Name)
		}
	}
	return names
}

// Reconcile brings one gateway's children in line with its spec and reports status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var gw v1.SipWebSocketGateway
	if err := r.client.Get(ctx, req.NamespacedName, &gw); err != nil {
		// Deleted: the garbage collector removes the children through their owner references.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !gw.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	st := newStatus(&gw)
	result, err := r.reconcile(ctx, &gw, st)
	if perr := r.patchStatus(ctx, &gw, st); perr != nil {
		st.outcome = outcomeStatusFailed
		err = errors.Join(err, perr)
	}
	// Counted after the status write, so a test that sees the count sees the status.
	if st.outcome != "" {
		reconcileOutcomes.WithLabelValues(st.outcome).Inc()
	}
	return result, err
}

func (r *Reconciler) reconcile(ctx context.Context, gw *v1.SipWebSocketGateway, st *status) (ctrl.Result, error) {
	// References: Secrets (copied into the files Secret) and Services (upstreams).
	files, refProblems, err := r.resolveSecrets(ctx, gw)
	if err != nil {
		return ctrl.Result{}, err
	}
	keysSecret := render.FlowTokenSecretName(gw.Name)
	if ref := gw.Spec.FlowTokenSecretRef; ref != nil {
		keysSecret = ref.Name
	} else {
		keys, problem, err := r.generatedKeys(ctx, gw)
		if err != nil {
			return ctrl.Result{}, err
		}
		if problem != "" {
			refProblems = append(refProblems, render.Problem{Ref: render.Ref{Secret: keysSecret, File: render.FlowKeysKey}, Message: problem})
		} else {
			files[render.FlowKeysKey] = keys
		}
	}
	if k, ok := files[render.FlowKeysKey]; ok {
		if _, err := flow.ParseKeyring(k); err != nil {
			refProblems = append(refProblems, render.Problem{Ref: render.Ref{Secret: keysSecret, File: render.FlowKeysKey},
				Message: fmt.Sprintf("Secret %q does not hold a valid flow-token key ring: %v", keysSecret, err)})
			delete(files, render.FlowKeysKey)
		}
	}
	st.flowTokenSecret = keysSecret
	svcProblems, err := r.checkServices(ctx, gw)
	if err != nil {
		return ctrl.Result{}, err
	}
	st.refs(refProblems, svcProblems)

	current, err := r.currentReplicas(ctx, gw)
	if err != nil {
		return ctrl.Result{}, err
	}
	out, err := render.Render(gw, render.Inputs{
		EdgeImage:       r.opts.EdgeImage,
		RouterImage:     r.opts.RouterImage,
		EdgeResources:   r.opts.EdgeResources,
		RouterResources: r.opts.RouterResources,
		ClusterDomain:   r.opts.ClusterDomain,
		Files:           files,
		CurrentReplicas: current,
	})
	var invalid *render.InvalidError
	switch {
	case errors.As(err, &invalid):
		st.invalid(invalid.Error())
		r.log.Info("gateway not accepted", "gateway", gw.Namespace+"/"+gw.Name, "reason", invalid.Error())
		// Nothing to retry until the spec changes; the running children stay as they are.
		return ctrl.Result{}, r.observe(ctx, gw, st)
	case err != nil:
		return ctrl.Result{}, err
	}
	st.accepted()
	if len(refProblems) > 0 {
		// Without every Secret the files cannot be complete: leave the ConfigMap, the files
		// Secret and the Deployments as they are, so running pods keep their last good
		// configuration. The Secret watch brings us back when it appears.
		st.notProgrammed(v1.ReasonPending, "waiting for referenced Secrets; running pods keep the last applied configuration")
		return ctrl.Result{}, r.observe(ctx, gw, st)
	}

	for _, o := range out.Objects() {
		if err := apply(ctx, r.client, o); err != nil {
			st.notProgrammed(v1.ReasonApplyFailed, err.Error())
			return ctrl.Result{}, err
		}
	}
	if err := r.deleteUnwanted(ctx, gw, out); err != nil {
		st.notProgrammed(v1.ReasonApplyFailed, err.Error())
		return ctrl.Result{}, err
	}
	st.programmed(out)
	return ctrl.Result{}, r.observe(ctx, gw, st)
}

// resolveSecrets reads every referenced Secret and copies the keys the pods need.
func (r *Reconciler) resolveSecrets(ctx context.Context, gw *v1.SipWebSocketGateway) (map[string][]byte, []render.Problem, error) {
	secrets := map[string]*corev1.Secret{}
	for _, name := range render.SecretNames(gw) {
		var s corev1.Secret
		err := r.client.Get(ctx, types.NamespacedName{Namespace: gw.Namespace, Name: name}, &s)
		switch {
		case apierrors.IsNotFound(err):
			continue // ResolveFiles names it
		case err != nil:
			return nil, nil, fmt.Errorf("get Secret %s: %w", name, err)
		}
		secrets[name] = &s
	}
	files, problems := render.ResolveFiles(render.Refs(gw), secrets)
	return files, problems, nil
}

// generatedKeys returns the key ring of the generated flow-token Secret, creating the Secret
// with a fresh key the first time. The key is never regenerated: rotating it would break every
// flow token in use.
func (r *Reconciler) generatedKeys(ctx context.Context, gw *v1.SipWebSocketGateway) ([]byte, string, error) {
	name := render.FlowTokenSecretName(gw.Name)
	key := types.NamespacedName{Namespace: gw.Namespace, Name: name}
	var s corev1.Secret
	err := r.client.Get(ctx, key, &s)
	if apierrors.IsNotFound(err) {
		// The cache may not have seen a Secret created by the previous reconcile yet: ask the
		// API server before generating a key that would replace it.
		err = r.reader.Get(ctx, key, &s)
	}
	switch {
	case err == nil:
		if !metav1.IsControlledBy(&s, gw) {
			return nil, fmt.Sprintf("Secret %q exists and is not owned by this gateway; set spec.flowTokenSecretRef to use it", name), nil
		}
		k := s.Data[v1.DefaultFlowTokenKey]
		if len(k) == 0 {
			return nil, fmt.Sprintf("Secret %q has no key %q", name, v1.DefaultFlowTokenKey), nil
		}
		return k, "", nil
	case !apierrors.IsNotFound(err):
		return nil, "", fmt.Errorf("get Secret %s: %w", name, err)
	}
	// Keep the key the pods run with when there is one (the Secret was deleted, or the
	// gateway stops naming its own): a new key would make every live flow token invalid.
	keys := r.runningKeys(ctx, gw)
	if keys == nil {
		if keys, err = flow.GenerateKeyringFile(1); err != nil {
			return nil, "", fmt.Errorf("generate flow-token keys: %w", err)
		}
	}
	// Create, not apply: if another reconcile raced us, its key wins and we read it next time.
	obj := render.FlowTokenSecret(gw, keys)
	if err := r.client.Create(ctx, obj, client.FieldOwner(FieldOwner)); err != nil {
		return nil, "", fmt.Errorf("create Secret %s: %w", name, err)
	}
	r.log.Info("generated flow-token keys", "gateway", gw.Namespace+"/"+gw.Name, "secret", name)
	return keys, "", nil
}

// runningKeys returns the key ring in the gateway's files Secret, if it is valid.
func (r *Reconciler) runningKeys(ctx context.Context, gw *v1.SipWebSocketGateway) []byte {
	var s corev1.Secret
	if err := r.reader.Get(ctx, types.NamespacedName{Namespace: gw.Namespace, Name: render.FilesSecretName(gw.Name)}, &s); err != nil || !metav1.IsControlledBy(&s, gw) {
		return nil
	}
	k := s.Data[render.FlowKeysKey]
	if _, err := flow.ParseKeyring(k); err != nil {
		return nil
	}
	return k
}

// checkServices reports Service upstreams that do not exist. They do not block programming:
// the router resolves the name at request time and a Service may come later.
func (r *Reconciler) checkServices(ctx context.Context, gw *v1.SipWebSocketGateway) ([]string, error) {
	var problems []string
	for _, name := range serviceNames(gw) {
		var s corev1.Service
		err := r.client.Get(ctx, types.NamespacedName{Namespace: gw.Namespace, Name: name}, &s)
		switch {
		case apierrors.IsNotFound(err):
			problems = append(problems, fmt.Sprintf("Service %q not found", name))
		case err != nil:
			return nil, fmt.Errorf("get Service %s: %w", name, err)
		}
	}
	return problems, nil
}

// currentReplicas reads the Deployments' replica counts, which an HPA may have changed.
func (r *Reconciler) currentReplicas(ctx context.Context, gw *v1.SipWebSocketGateway) (map[render.Component]int32, error) {
	m := map[render.Component]int32{}
	for _, c := range []render.Component{render.Edge, render.Router} {
		var d appsv1.Deployment
		err := r.client.Get(ctx, types.NamespacedName{Namespace: gw.Namespace, Name: render.DeploymentName(gw.Name, c)}, &d)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("get Deployment %s: %w", d.Name, err)
		}
		if d.Spec.Replicas != nil {
			m[c] = *d.Spec.Replicas
		}
	}
	return m, nil
}

// deleteUnwanted deletes HPAs and PDBs the gateway controls but no longer renders (e.g. the
// autoscaling block was removed). Other kinds always exist for a gateway.
func (r *Reconciler) deleteUnwanted(ctx context.Context, gw *v1.SipWebSocketGateway, out *render.Output) error {
	sel := client.MatchingLabels{render.LabelGateway: gw.Name, render.LabelManagedBy: render.ManagedBy}
	var hpas autoscalingv2.HorizontalPodAutoscalerList
	if err := r.client.List(ctx, &hpas, client.InNamespace(gw.Namespace), sel); err != nil {
		return fmt.Errorf("list HPAs: %w", err)
	}
	var pdbs policyv1.PodDisruptionBudgetList
	if err := r.client.List(ctx, &pdbs, client.InNamespace(gw.Namespace), sel); err != nil {
		return fmt.Errorf("list PDBs: %w", err)
	}
	wanted := map[string]bool{}
	for _, o := range out.Objects() {
		wanted[o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()] = true
	}
	var objs []client.Object
	for i := range hpas.Items {
		objs = append(objs, &hpas.Items[i])
	}
	for i := range pdbs.Items {
		objs = append(objs, &pdbs.Items[i])
	}
	for _, o := range objs {
		kind := "HorizontalPodAutoscaler"
		if _, ok := o.(*policyv1.PodDisruptionBudget); ok {
			kind = "PodDisruptionBudget"
		}
		if wanted[kind+"/"+o.GetName()] || !metav1.IsControlledBy(o, gw) {
			continue
		}
		if err := r.client.Delete(ctx, o, client.Preconditions{UID: ptrUID(o.GetUID())}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete %s %s: %w", kind, o.GetName(), err)
		}
		r.log.Info("deleted", "gateway", gw.Namespace+"/"+gw.Name, "kind", kind, "name", o.GetName())
	}
	return nil
}

func ptrUID(u types.UID) *types.UID { return &u }

// observe reads the Deployments and the edge Service for readiness, replicas and addresses.
func (r *Reconciler) observe(ctx context.Context, gw *v1.SipWebSocketGateway, st *status) error {
	for _, c := range []render.Component{render.Edge, render.Router} {
		var d appsv1.Deployment
		err := r.client.Get(ctx, types.NamespacedName{Namespace: gw.Namespace, Name: render.DeploymentName(gw.Name, c)}, &d)
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("get Deployment: %w", err)
		}
		st.deployment(c, &d)
	}
	var svc corev1.Service
	err := r.client.Get(ctx, types.NamespacedName{Namespace: gw.Namespace, Name: render.ServiceName(gw.Name, render.Edge)}, &svc)
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("get Service: %w", err)
	}
	st.service(&svc)
	st.ready()
	return nil
}
