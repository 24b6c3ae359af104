package server

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Handshake results, the values of the result label of sipws_edge_handshakes_total.
const (
	hsOK            = "ok"
	hsNoSubprotocol = "no_sip_subprotocol"
	hsBadPath       = "bad_path"
	hsBadOrigin     = "bad_origin"
	hsBadRequest    = "bad_request"
	hsListenerLimit = "listener_limit"
	hsIPLimit       = "ip_limit"
	hsIPRate        = "ip_rate"
	hsTimeout       = "timeout"
	hsTLSError      = "tls_error"
	hsDraining      = "draining"
	hsInternal      = "internal_error"
)

// metrics are the edge's Prometheus collectors, registered on one registry per server so tests
// can run several servers in one process.
type metrics struct {
	reg *prometheus.Registry

	flows         *prometheus.GaugeVec
	handshakes    *prometheus.CounterVec
	handshakeTime *prometheus.HistogramVec
	messagesIn    *prometheus.CounterVec
	messagesOut   *prometheus.CounterVec
	bytesIn       *prometheus.CounterVec
	bytesOut      *prometheus.CounterVec
	invalid       *prometheus.CounterVec
	keepalives    *prometheus.CounterVec
	closes        *prometheus.CounterVec
	queueDrops    *prometheus.CounterVec
	rateLimited   *prometheus.CounterVec
	natsConnected prometheus.Gauge
	natsEvents    *prometheus.CounterVec
	publishErrors prometheus.Counter
	unavailable   prometheus.Counter
	unknownFlow   prometheus.Counter
	tlsDetached   *prometheus.CounterVec
	configReloads *prometheus.CounterVec
}

func newMetrics() *metrics {
	const ns, sub = "sipws", "edge"
	m := &metrics{
		reg: prometheus.NewRegistry(),
		flows: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "flows", Help: "Open WebSocket flows."}, []string{"listener"}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "handshakes_total", Help: "WebSocket handshakes by result (ok or the refusal reason)."},
			[]string{"listener", "result"}),
		handshakeTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "handshake_seconds", Help: "Time from TCP accept to upgraded flow, including TLS.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"listener"}),
		messagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "messages_in_total", Help: "SIP messages received from clients and published."}, []string{"listener"}),
		messagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "messages_out_total", Help: "SIP messages written to clients."}, []string{"listener"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "bytes_in_total", Help: "WebSocket message payload bytes received."}, []string{"listener"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "bytes_out_total", Help: "WebSocket message payload bytes sent."}, []string{"listener"}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "invalid_messages_total", Help: "Client messages dropped because they are not one SIP message."},
			[]string{"listener", "reason"}),
		keepalives: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "keepalives_total", Help: "Keep-alives: crlf (RFC 5626 pings answered), ping_sent, ping_received, pong_received."},
			[]string{"kind"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "closes_total", Help: "Closed flows by WebSocket close code (sent or received) and who closed."},
			[]string{"code", "by"}),
		queueDrops: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "send_queue_drops_total", Help: "Clients closed because their send queue passed its bound."}, []string{"listener"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "rate_limited_total", Help: "Client requests over the flow's message rate: refused (503), dropped (ACK), closed (1008, the flow kept sending)."},
			[]string{"listener", "action"}),
		natsConnected: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "nats_connected", Help: "1 while the NATS connection is up."}),
		natsEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "nats_events_total", Help: "NATS connection events (disconnected, reconnected, closed, error)."}, []string{"event"}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "nats_publish_errors_total", Help: "Client messages that could not be published to NATS."}),
		unavailable: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "unavailable_responses_total", Help: "503 responses the edge sent itself because NATS was unreachable."}),
		unknownFlow: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "unknown_flow_total", Help: "Messages from NATS for a flow this node does not hold (flow-failed notices sent)."}),
		tlsDetached: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "tls_flows_total", Help: "WSS flows by record layer: detached (TLS 1.3, compact) or stream (crypto/tls, TLS 1.2)."}, []string{"mode"}),
		configReloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "config_reloads_total", Help: "Configuration and certificate reloads by result."}, []string{"what", "result"}),
	}
	m.reg.MustRegister(m.flows, m.handshakes, m.handshakeTime, m.messagesIn, m.messagesOut, m.bytesIn,
		m.bytesOut, m.invalid, m.keepalives, m.closes, m.queueDrops, m.rateLimited, m.natsConnected, m.natsEvents,
		m.publishErrors, m.unavailable, m.unknownFlow, m.tlsDetached, m.configReloads,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// listenerMetrics caches the label-resolved collectors of one listener off the hot path.
type listenerMetrics struct {
	flows                prometheus.Gauge
	msgIn, msgOut        prometheus.Counter
	bytesIn, bytesOut    prometheus.Counter
	queueDrops           prometheus.Counter
	rateRefused          prometheus.Counter
	rateDropped          prometheus.Counter
	rateClosed           prometheus.Counter
	handshakeTime        prometheus.Observer
	invalidStart         prometheus.Counter
	invalidOther         prometheus.Counter
	keepCRLF, pingSent   prometheus.Counter
	pingRecv, pongRecv   prometheus.Counter
	handshakeOK          prometheus.Counter
	handshakeByResultVec *prometheus.CounterVec
	name                 string
}

func (m *metrics) forListener(name string) *listenerMetrics {
	return &listenerMetrics{
		name:                 name,
		flows:                m.flows.WithLabelValues(name),
		msgIn:                m.messagesIn.WithLabelValues(name),
		msgOut:               m.messagesOut.WithLabelValues(name),
		bytesIn:              m.bytesIn.WithLabelValues(name),
		bytesOut:             m.bytesOut.WithLabelValues(name),
		queueDrops:           m.queueDrops.WithLabelValues(name),
		rateRefused:          m.rateLimited.WithLabelValues(name, "refused"),
		rateDropped:          m.rateLimited.WithLabelValues(name, "dropped"),
		rateClosed:           m.rateLimited.WithLabelValues(name, "closed"),
		handshakeTime:        m.handshakeTime.WithLabelValues(name),
		invalidStart:         m.invalid.WithLabelValues(name, "not_sip"),
		invalidOther:         m.invalid.WithLabelValues(name, "framing"),
		keepCRLF:             m.keepalives.WithLabelValues("crlf"),
		pingSent:             m.keepalives.WithLabelValues("ping_sent"),
		pingRecv:             m.keepalives.WithLabelValues("ping_received"),
		pongRecv:             m.keepalives.WithLabelValues("pong_received"),
		handshakeOK:          m.handshakes.WithLabelValues(name, hsOK),
		handshakeByResultVec: m.handshakes,
	}
}

func (lm *listenerMetrics) refused(result string) {
	lm.handshakeByResultVec.WithLabelValues(lm.name, result).Inc()
}

func (m *metrics) closed(code uint16, by string) {
	m.closes.WithLabelValues(strconv.Itoa(int(code)), by).Inc()
}
