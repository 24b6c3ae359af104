package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Outcomes of one reconcile, counted by sipws_controller_reconcile_outcomes_total.
const (
	outcomeProgrammed   = "programmed"
	outcomeInvalid      = "invalid"       // Accepted=False: the data plane would refuse the spec
	outcomeUnresolved   = "unresolved"    // ResolvedRefs=False on a Secret: nothing applied
	outcomeApplyFailed  = "apply_failed"  // an apply or delete failed; retried with backoff
	outcomeStatusFailed = "status_failed" // the status patch failed; retried
)

var reconcileOutcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "sipws_controller_reconcile_outcomes_total",
	Help: "Reconciles of SipWebSocketGateways by outcome (programmed, invalid, unresolved, apply_failed, status_failed).",
}, []string{"outcome"})

func init() {
	// The manager serves controller-runtime's registry on --metrics-bind-address.
	metrics.Registry.MustRegister(reconcileOutcomes)
	for _, o := range []string{outcomeProgrammed, outcomeInvalid, outcomeUnresolved, outcomeApplyFailed, outcomeStatusFailed} {
		reconcileOutcomes.WithLabelValues(o)
	}
}
