package controllers

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sipws/sipws/api/v1alpha1"
	"github.com/sipws/sipws/controllers/render"
)

// status collects what one reconcile learnt and turns it into the gateway's status. It is
// written once at the end of a reconcile, and only when it differs from what is stored.
type status struct {
	gw   *v1.SipWebSocketGateway
	next v1.SipWebSocketGatewayStatus
	// done is set once every condition is computed; an error before that leaves the stored
	// status alone (the retry will write it).
	done bool
	// outcome is the metric label of this reconcile.
	outcome string

	secretProblems  []render.Problem
	otherProblems   []string
	flowTokenSecret string
	deps            map[render.Component]*appsv1.Deployment
	svc             *corev1.Service
}

func newStatus(gw *v1.SipWebSocketGateway) *status {
	return &status{gw: gw, next: *gw.Status.DeepCopy(), deps: map[render.Component]*appsv1.Deployment{}}
}

func (s *status) set(t v1.ConditionType, ok bool, reason v1.ConditionReason, msg string) {
	setCondition(&s.next.Conditions, s.gw.Generation, t, ok, reason, msg)
}

func setCondition(conds *[]metav1.Condition, gen int64, t v1.ConditionType, ok bool, reason v1.ConditionReason, msg string) {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	if len(msg) > 32768 {
		msg = msg[:32768] // the API's limit on a condition message
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: string(t), Status: st, Reason: string(reason), Message: msg, ObservedGeneration: gen})
}

// refs records the reference problems and sets ResolvedRefs.
func (s *status) refs(secrets []render.Problem, others []string) {
	s.secretProblems, s.otherProblems = secrets, others
	if len(secrets) == 0 && len(others) == 0 {
		s.set(v1.ConditionResolvedRefs, true, v1.ReasonResolvedRefs, "every referenced Secret and Service exists")
		return
	}
	reason := v1.ReasonServiceNotFound
	for _, p := range secrets {
		if p.NotFound {
			reason = v1.ReasonSecretNotFound
			break
		}
		reason = v1.ReasonInvalidSecret
	}
	msg := render.ProblemsMessage(secrets)
	if len(others) > 0 {
		if msg != "" {
			msg += "; "
		}
		msg += strings.Join(others, "; ")
	}
	s.set(v1.ConditionResolvedRefs, false, reason, msg)
}

func (s *status) invalid(msg string) {
	s.set(v1.ConditionAccepted, false, v1.ReasonInvalid, msg)
	s.set(v1.ConditionProgrammed, false, v1.ReasonInvalid, "the spec was not accepted; the children keep the last accepted spec")
	s.done, s.outcome = true, outcomeInvalid
}

func (s *status) accepted() {
	s.set(v1.ConditionAccepted, true, v1.ReasonAccepted, "the data plane accepts the rendered configuration")
}

func (s *status) notProgrammed(reason v1.ConditionReason, msg string) {
	s.set(v1.ConditionProgrammed, false, reason, msg)
	s.done, s.outcome = true, outcomeApplyFailed
	if reason == v1.ReasonPending {
		s.outcome = outcomeUnresolved
	}
}

func (s *status) programmed(out *render.Output) {
	s.set(v1.ConditionProgrammed, true, v1.ReasonProgrammed,
		fmt.Sprintf("applied %d objects; edge rollout hash %s, router rollout hash %s", len(out.Objects()), out.RolloutHashs[render.Edge], out.RolloutHashs[render.Router]))
	s.done, s.outcome = true, outcomeProgrammed
}

func (s *status) deployment(c render.Component, d *appsv1.Deployment) {
	if d.Name == "" {
		return
	}
	s.deps[c] = d
	ws := v1.WorkloadStatus{Replicas: d.Status.Replicas, ReadyReplicas: d.Status.ReadyReplicas}
	if c == render.Edge {
		s.next.Edge = ws
	} else {
		s.next.Router = ws
	}
}

func (s *status) service(svc *corev1.Service) {
	if svc.Name == "" {
		return
	}
	s.svc = svc
	var addrs []v1.GatewayAddress
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			switch {
			case in.IP != "":
				addrs = append(addrs, v1.GatewayAddress{Type: v1.AddressIP, Value: in.IP})
			case in.Hostname != "":
				addrs = append(addrs, v1.GatewayAddress{Type: v1.AddressHostname, Value: in.Hostname})
			}
		}
	} else {
		for _, ip := range svc.Spec.ClusterIPs {
			if ip != "" && ip != corev1.ClusterIPNone {
				addrs = append(addrs, v1.GatewayAddress{Type: v1.AddressIP, Value: ip})
			}
		}
	}
	if len(addrs) > 16 {
		addrs = addrs[:16]
	}
	s.next.Addresses = addrs
}

// ready sets Ready from the Deployments' availability and the edge Service's address.
func (s *status) ready() {
	var notReady []string
	for _, c := range []render.Component{render.Edge, render.Router} {
		d := s.deps[c]
		if d == nil || !deploymentAvailable(d) {
			notReady = append(notReady, string(c))
		}
	}
	switch {
	case len(notReady) > 0:
		s.set(v1.ConditionReady, false, v1.ReasonPodsNotReady, "Deployment not available: "+strings.Join(notReady, ", "))
	case len(s.next.Addresses) == 0:
		s.set(v1.ConditionReady, false, v1.ReasonAddressNotAssigned, "the edge Service has no address yet")
	default:
		s.set(v1.ConditionReady, true, v1.ReasonReady, "edge and router pods are available")
	}
}

// deploymentAvailable: the Deployment controller saw the current spec, reports Available and
// at least one pod is ready.
func deploymentAvailable(d *appsv1.Deployment) bool {
	if d.Status.ObservedGeneration < d.Generation || d.Status.ReadyReplicas < 1 {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// finish fills what every written status has: observedGeneration, listeners, the key Secret.
func (s *status) finish() {
	gen := s.gw.Generation
	s.next.ObservedGeneration = gen
	s.next.FlowTokenSecret = s.flowTokenSecret
	if meta.FindStatusCondition(s.next.Conditions, string(v1.ConditionReady)) == nil ||
		meta.FindStatusCondition(s.next.Conditions, string(v1.ConditionReady)).ObservedGeneration != gen {
		s.set(v1.ConditionReady, false, v1.ReasonPending, "waiting for the gateway to be programmed")
	}
	if meta.FindStatusCondition(s.next.Conditions, string(v1.ConditionResolvedRefs)) == nil {
		s.set(v1.ConditionResolvedRefs, false, v1.ReasonPending, "not resolved yet")
	}
	accepted := meta.IsStatusConditionTrue(s.next.Conditions, string(v1.ConditionAccepted))
	programmed := meta.IsStatusConditionTrue(s.next.Conditions, string(v1.ConditionProgrammed))
	old := map[string][]metav1.Condition{}
	for _, l := range s.gw.Status.Listeners {
		old[l.Name] = l.Conditions
	}
	var ls []v1.ListenerStatus
	for _, l := range s.gw.Spec.Listeners {
		conds := append([]metav1.Condition(nil), old[l.Name]...)
		if accepted {
			setCondition(&conds, gen, v1.ConditionAccepted, true, v1.ReasonAccepted, "")
		} else {
			setCondition(&conds, gen, v1.ConditionAccepted, false, v1.ReasonInvalid, "the gateway is not accepted")
		}
		var bad []string
		for _, p := range s.secretProblems {
			if strings.HasPrefix(p.Ref.File, "listener-"+l.Name+"-") {
				bad = append(bad, p.Message)
			}
		}
		if len(bad) > 0 {
			setCondition(&conds, gen, v1.ConditionResolvedRefs, false, v1.ReasonInvalidCertificateRef, strings.Join(bad, "; "))
		} else {
			setCondition(&conds, gen, v1.ConditionResolvedRefs, true, v1.ReasonResolvedRefs, "")
		}
		if programmed {
			setCondition(&conds, gen, v1.ConditionProgrammed, true, v1.ReasonProgrammed, "")
		} else {
			setCondition(&conds, gen, v1.ConditionProgrammed, false, v1.ReasonPending, "")
		}
		ls = append(ls, v1.ListenerStatus{Name: l.Name, Port: l.Port, Protocol: l.Protocol, Conditions: conds})
	}
	s.next.Listeners = ls
	s.next.ListenerCount = 0
	for _, l := range ls {
		if meta.IsStatusConditionTrue(l.Conditions, string(v1.ConditionProgrammed)) {
			s.next.ListenerCount++
		}
	}
}

// patchStatus writes the status once, and only when it changed.
func (r *Reconciler) patchStatus(ctx context.Context, gw *v1.SipWebSocketGateway, s *status) error {
	if !s.done {
		return nil
	}
	s.finish()
	if equality.Semantic.DeepEqual(gw.Status, s.next) {
		return nil
	}
	patch := client.MergeFrom(gw.DeepCopy())
	gw.Status = s.next
	if err := r.client.Status().Patch(ctx, gw, patch); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("patch status: %w", err)
	}
	return nil
}
