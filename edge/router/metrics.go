package router

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests                *prometheus.CounterVec
	responses               *prometheus.CounterVec
	relayed                 *prometheus.CounterVec
	ownResponses            *prometheus.CounterVec
	dropped                 *prometheus.CounterVec
	sendErrors              *prometheus.CounterVec
	failovers               *prometheus.CounterVec
	targetUp                *prometheus.GaugeVec
	latency                 *prometheus.HistogramVec
	retransmissions         prometheus.Counter
	retransmissionsAbsorbed prometheus.Counter
	flowFailed              prometheus.Counter
	tampered                prometheus.Counter
	regBindings             *prometheus.CounterVec
	probes                  prometheus.Counter
	overload                *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns, sub = "sipws", "router"
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "SIP requests received, by side (client or upstream) and method."}, []string{"from", "method"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "responses_total",
			Help: "SIP responses received, by side and status."}, []string{"from", "status"}),
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "relayed_total",
			Help: "Messages relayed, by destination side (client, upstream, nats) and method or response."}, []string{"to", "kind"}),
		ownResponses: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "own_responses_total",
			Help: "Responses the router generated itself (400, 403, 404, 408, 430, 483, 503 ...), by status."}, []string{"status"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dropped_total",
			Help: "Messages dropped, by side and reason."}, []string{"from", "reason"}),
		sendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "send_errors_total",
			Help: "Failed sends, by transport."}, []string{"transport"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "failovers_total",
			Help: "Requests moved to the next target, by reason (timeout, 503)."}, []string{"reason"}),
		targetUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "upstream_up",
			Help: "1 while an upstream target is considered healthy."}, []string{"target"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "upstream_latency_seconds",
			Help:    "Time from relaying a request upstream to its final response, per upstream address.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"upstream"}),
		retransmissions: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "retransmissions_total",
			Help: "Requests retransmitted upstream over UDP (Timers A and E)."}),
		retransmissionsAbsorbed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "retransmissions_absorbed_total",
			Help: "Upstream request retransmissions answered or absorbed by the router."}),
		flowFailed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "flow_failed_total",
			Help: "430 Flow Failed sent upstream."}),
		tampered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "invalid_tokens_total",
			Help: "Upstream requests with a flow token that does not verify (403)."}),
		probes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "probes_total",
			Help: "OPTIONS health probes sent."}),
		overload: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "overload_total",
			Help: "Requests answered 503 because router.maxTransactions were in progress, by side (client, upstream)."}, []string{"from"}),
	}
	m.regBindings = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "registrar_bindings_total",
		Help: "Built-in registrar: successful REGISTERs (register) and bindings removed with their flow (removed_flow)."}, []string{"event"})
	reg.MustRegister(m.regBindings)
	reg.MustRegister(m.requests, m.responses, m.relayed, m.ownResponses, m.dropped, m.sendErrors, m.failovers,
		m.targetUp, m.latency, m.retransmissions, m.retransmissionsAbsorbed, m.flowFailed, m.tampered, m.probes, m.overload)
	return m
}
