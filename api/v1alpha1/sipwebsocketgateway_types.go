package v1alpha1

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SipWebSocketGateway is one SIP-over-WebSocket ingress: edge pods that hold the clients'
// WS/WSS connections, router pods that relay SIP to upstream servers, and the NATS subjects
// between them. The controller renders it into a ConfigMap (the edge/config schema), a
// flow-token Secret, Deployments, Services, HPAs and PodDisruptionBudgets.
//
// The name is the NATS subject token of the gateway and the prefix of every child object, so
// it is a DNS label of at most 52 characters.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=sipgw,categories=sipws
// +kubebuilder:printcolumn:name="Listeners",type=integer,JSONPath=`.status.listenerCount`,description="Programmed listeners"
// +kubebuilder:printcolumn:name="Edge",type=integer,JSONPath=`.status.edge.readyReplicas`,description="Ready edge pods"
// +kubebuilder:printcolumn:name="Router",type=integer,JSONPath=`.status.router.readyReplicas`,description="Ready router pods"
// +kubebuilder:printcolumn:name="Flows",type=integer,JSONPath=`.status.flows`,description="Live client connections"
// +kubebuilder:printcolumn:name="Programmed",type=string,JSONPath=`.status.conditions[?(@.type=="Programmed")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 52",message="metadata.name must be a DNS label of at most 52 characters without dots: it is a NATS subject token and prefixes the names of the gateway's objects"
type SipWebSocketGateway struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec SipWebSocketGatewaySpec `json:"spec"`
	// +optional
	Status SipWebSocketGatewayStatus `json:"status,omitempty"`
}

// SipWebSocketGatewayList is a list of gateways.
//
// +kubebuilder:object:root=true
type SipWebSocketGatewayList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SipWebSocketGateway `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SipWebSocketGateway{}, &SipWebSocketGatewayList{})
}

// SipWebSocketGatewaySpec is the desired gateway.
//
// +kubebuilder:validation:XValidation:rule="!has(self.routes) || self.routes.all(r, !has(r.match) || !has(r.match.listeners) || r.match.listeners.all(n, self.listeners.exists(l, l.name == n)))",message="routes[].match.listeners must name listeners of this gateway"
type SipWebSocketGatewaySpec struct {
	// Listeners are the WS and WSS endpoints of the edge, each a port of the edge Service.
	//
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(l1, self.exists_one(l2, l2.name == l1.name))",message="listener names must be unique"
	// +kubebuilder:validation:XValidation:rule="self.all(l1, self.exists_one(l2, l2.port == l1.port))",message="listener ports must be unique"
	Listeners []Listener `json:"listeners"`

	// Routes are tried in order; the first that matches a client's request picks its upstream.
	// A request no route matches is answered 404 by the router.
	//
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Routes []Route `json:"routes,omitempty"`

	// NATS is the bus between edge and router pods: a NATS cluster the user runs.
	//
	// +required
	NATS NATS `json:"nats"`

	// Edge is the edge Deployment (the WS/WSS tier) and its Service.
	//
	// +optional
	// +kubebuilder:default={}
	Edge EdgeSpec `json:"edge,omitempty"`

	// Router is the router Deployment (the SIP tier) and its Service.
	//
	// +optional
	// +kubebuilder:default={}
	Router RouterSpec `json:"router,omitempty"`

	// KeepAlive sets the edge's server pings and idle timeout (RFC 7118 §6).
	//
	// +optional
	// +kubebuilder:default={}
	KeepAlive KeepAlive `json:"keepAlive,omitempty"`

	// Limits are the defaults of every listener's limits; a listener's own limits override
	// them field by field.
	//
	// +optional
	Limits *Limits `json:"limits,omitempty"`

	// FlowTokenSecretRef names a Secret whose key (default "keys.yaml") is the flow-token key
	// ring (edge/flow format: current id and base64 secrets). Absent: the controller generates
	// the Secret "<gateway>-flow-token" and owns it.
	//
	// +optional
	FlowTokenSecretRef *SecretKeyReference `json:"flowTokenSecretRef,omitempty"`
}

// ListenerProtocol is WS (plain) or WSS (TLS).
//
// +kubebuilder:validation:Enum=WS;WSS
type ListenerProtocol string

// Listener protocols.
const (
	ProtocolWS  ListenerProtocol = "WS"
	ProtocolWSS ListenerProtocol = "WSS"
)

// Listener is one WS or WSS endpoint of the edge.
//
// +kubebuilder:validation:XValidation:rule="self.protocol != 'WSS' || has(self.tls)",message="a WSS listener needs tls.certificateRefs (kubernetes.io/tls Secrets)"
// +kubebuilder:validation:XValidation:rule="self.protocol != 'WS' || !has(self.tls)",message="a WS listener takes no tls; use protocol WSS"
type Listener struct {
	// Name is unique among listeners. It names the Service port and is sent to routers in the
	// Sipws-Listener header, so it is a DNS label of at most 15 characters.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Port is the Service port and the port the edge container listens on.
	//
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// Protocol is WS or WSS.
	//
	// +required
	Protocol ListenerProtocol `json:"protocol"`

	// Path the WebSocket handshake must request. Query strings are ignored when matching.
	//
	// +optional
	// +kubebuilder:default="/"
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[^\s?#]*$`
	Path string `json:"path,omitempty"`

	// TLS holds the certificates of a WSS listener; required for WSS, forbidden for WS.
	//
	// +optional
	TLS *ListenerTLS `json:"tls,omitempty"`

	// AllowedOrigins is the Origin allow-list: exact origins ("https://app.example.com"),
	// wildcard hosts ("https://*.example.com") or "*". Empty allows any origin, including a
	// missing Origin header (non-browser clients).
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^(\*|[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]+)$`
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`

	// Limits of this listener, field by field over spec.limits and the data-plane defaults.
	//
	// +optional
	Limits *Limits `json:"limits,omitempty"`
}

// ListenerTLS holds the certificates of a WSS listener, chosen by SNI.
type ListenerTLS struct {
	// CertificateRefs are kubernetes.io/tls Secrets (tls.crt, tls.key) in the gateway's
	// namespace, e.g. written by cert-manager. The first is the default when no SNI matches.
	// Renewed certificates are picked up without a restart.
	//
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	CertificateRefs []SecretReference `json:"certificateRefs"`

	// MinVersion is the lowest TLS version accepted.
	//
	// +optional
	// +kubebuilder:default="1.2"
	// +kubebuilder:validation:Enum="1.2";"1.3"
	MinVersion string `json:"minVersion,omitempty"`
}

// Limits bound what one listener accepts. An absent field takes the gateway's spec.limits,
// then the data-plane default given below.
type Limits struct {
	// MaxConnections on the listener per edge pod (default 100000).
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000000
	MaxConnections int32 `json:"maxConnections,omitempty"`

	// MaxConnectionsPerIP from one source address per edge pod (default 1000).
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000000
	MaxConnectionsPerIP int32 `json:"maxConnectionsPerIP,omitempty"`

	// HandshakesPerSecondPerIP is the sustained handshake rate per source address (default 50).
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	HandshakesPerSecondPerIP int32 `json:"handshakesPerSecondPerIP,omitempty"`

	// HandshakeBurstPerIP is the burst of handshakes per source address (default 100).
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	HandshakeBurstPerIP int32 `json:"handshakeBurstPerIP,omitempty"`

	// HandshakeTimeout bounds TCP accept to upgraded, TLS included (default 10s).
	//
	// +optional
	HandshakeTimeout Duration `json:"handshakeTimeout,omitempty"`

	// MaxMessageBytes bounds one WebSocket message (default 65535); larger: close 1009.
	//
	// +optional
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=16777216
	MaxMessageBytes int32 `json:"maxMessageBytes,omitempty"`

	// SendQueueBytes bounds what may wait to be written to one client (default 262144); beyond
	// it the client is closed 1008.
	//
	// +optional
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=268435456
	SendQueueBytes int32 `json:"sendQueueBytes,omitempty"`

	// MaxInvalidMessages in a row that are not SIP before the connection is closed (default 5).
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxInvalidMessages int32 `json:"maxInvalidMessages,omitempty"`

	// MessagesPerSecond is the sustained rate of SIP requests one flow may send (default 50).
	// Over it the edge answers 503 with Retry-After (an ACK is dropped); responses are never
	// limited. A flow that keeps sending after MessageBurst refusals in a row is closed 1008.
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	MessagesPerSecond int32 `json:"messagesPerSecond,omitempty"`

	// MessageBurst is how many requests a flow may send at once above that rate (default 200).
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	MessageBurst int32 `json:"messageBurst,omitempty"`
}

// Route sends matching client requests to one upstream.
type Route struct {
	// Name identifies the route in metrics and logs.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	Name string `json:"name"`

	// Match selects requests; every field given must match. Absent matches every request.
	//
	// +optional
	Match *RouteMatch `json:"match,omitempty"`

	// Upstream is where matching requests go.
	//
	// +required
	Upstream Upstream `json:"upstream"`

	// FlowRouting is how upstream requests find the client again: "path" (RFC 3327 Path on
	// REGISTER, Record-Route on dialogs) or "contactAlias" (the Contact is rewritten to an
	// address of the router carrying the flow token, for registrars without Path support).
	//
	// +optional
	// +kubebuilder:default=path
	FlowRouting FlowRouting `json:"flowRouting,omitempty"`
}

// FlowRouting is path or contactAlias.
//
// +kubebuilder:validation:Enum=path;contactAlias
type FlowRouting string

// Flow routing modes (the edge/config values).
const (
	FlowRoutingPath         FlowRouting = "path"
	FlowRoutingContactAlias FlowRouting = "contactAlias"
)

// RouteMatch selects requests by Request-URI, method and listener.
type RouteMatch struct {
	// Domains match the Request-URI host: exact, or "*.example.com" for subdomains.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^(\*\.)?[A-Za-z0-9\[]([-A-Za-z0-9.:\]]*)$`
	Domains []string `json:"domains,omitempty"`

	// Users are glob patterns (Go path.Match syntax) on the Request-URI user part.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	Users []string `json:"users,omitempty"`

	// Methods are SIP methods in upper case.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=32
	// +kubebuilder:validation:items:Pattern=`^[A-Z][A-Z0-9_-]*$`
	Methods []string `json:"methods,omitempty"`

	// Listeners are names of this gateway's listeners the flow came in on.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=15
	Listeners []string `json:"listeners,omitempty"`
}

// Upstream is exactly one of: SIP URIs (targets), a Service, a NATS subject, or the built-in
// registrar.
//
// +kubebuilder:validation:XValidation:rule="(has(self.targets) ? 1 : 0) + (has(self.serviceRef) ? 1 : 0) + (has(self.natsSubject) ? 1 : 0) + (has(self.registrar) ? 1 : 0) == 1",message="upstream needs exactly one of targets, serviceRef, natsSubject or registrar"
// +kubebuilder:validation:XValidation:rule="!has(self.healthCheck) || has(self.targets) || has(self.serviceRef)",message="healthCheck applies to targets and serviceRef only"
// +kubebuilder:validation:XValidation:rule="self.balance != 'weighted' || has(self.targets)",message="balance weighted needs targets with weights"
type Upstream struct {
	// Targets are SIP servers by URI ("sip:pbx.voice.svc:5060;transport=udp"), with weights.
	//
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Targets []Target `json:"targets,omitempty"`

	// ServiceRef is a Service in the gateway's namespace; its ready endpoints are the targets.
	//
	// +optional
	ServiceRef *ServiceReference `json:"serviceRef,omitempty"`

	// NATSSubject publishes requests to this subject instead, for applications speaking SIP
	// over NATS. No wildcards.
	//
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`
	NATSSubject string `json:"natsSubject,omitempty"`

	// Registrar hands requests to the router's built-in registrar and proxy: REGISTER is
	// answered by the gateway itself and requests to registered users reach their flows.
	//
	// +optional
	Registrar *Registrar `json:"registrar,omitempty"`

	// Balance spreads requests over targets: callID (a dialog stays on one server), roundRobin,
	// weighted, or aor (a user's REGISTER and calls land on one server).
	//
	// +optional
	// +kubebuilder:default=callID
	Balance BalancePolicy `json:"balance,omitempty"`

	// HealthCheck probes targets with OPTIONS. Absent: the data-plane defaults (every 5s).
	//
	// +optional
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
}

// Registrar is the router's built-in registrar (RFC 3261 §10) and forking proxy, with bindings
// in a NATS JetStream key-value bucket. Every field is optional: `registrar: {}` works.
//
// +kubebuilder:validation:XValidation:rule="!has(self.minExpires) || !has(self.maxExpires) || duration(self.minExpires) <= duration(self.maxExpires)",message="registrar.minExpires must not exceed maxExpires"
// +kubebuilder:validation:XValidation:rule="!has(self.defaultExpires) || !has(self.minExpires) || !has(self.maxExpires) || (duration(self.minExpires) <= duration(self.defaultExpires) && duration(self.defaultExpires) <= duration(self.maxExpires))",message="registrar.defaultExpires must lie between minExpires and maxExpires"
// +kubebuilder:validation:XValidation:rule="!has(self.minExpires) || duration(self.minExpires) >= duration('1s')",message="registrar.minExpires must be at least 1s"
type Registrar struct {
	// Bucket is the JetStream key-value bucket of bindings (default "sipws-<gateway>-bindings").
	//
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	Bucket string `json:"bucket,omitempty"`

	// Replicas of the bucket in a clustered NATS.
	//
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=5
	Replicas int32 `json:"replicas,omitempty"`

	// MinExpires: shorter registrations get 423 Interval Too Brief.
	//
	// +optional
	// +kubebuilder:default="60s"
	MinExpires Duration `json:"minExpires,omitempty"`

	// MaxExpires: longer registrations are shortened.
	//
	// +optional
	// +kubebuilder:default="1h"
	MaxExpires Duration `json:"maxExpires,omitempty"`

	// DefaultExpires applies when a REGISTER gives none (default 1h, at most maxExpires).
	//
	// +optional
	DefaultExpires Duration `json:"defaultExpires,omitempty"`

	// Auth turns digest authentication on.
	//
	// +optional
	Auth *RegistrarAuth `json:"auth,omitempty"`
}

// RegistrarAuth is digest authentication (RFC 2617, RFC 7616) against a users file.
type RegistrarAuth struct {
	// Realm of the challenges.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Realm string `json:"realm"`

	// UsersSecretRef is a Secret key (default "users.yaml") holding YAML `users: {name: password}`.
	//
	// +required
	UsersSecretRef SecretKeyReference `json:"usersSecretRef"`

	// Algorithms offered, in order (default MD5 then SHA-256; MD5 first for JsSIP).
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:Enum=MD5;SHA-256
	Algorithms []string `json:"algorithms,omitempty"`

	// Requests also challenges out-of-dialog requests other than REGISTER with 407.
	//
	// +optional
	Requests bool `json:"requests,omitempty"`
}

// BalancePolicy is callID, roundRobin, weighted or aor.
//
// +kubebuilder:validation:Enum=callID;roundRobin;weighted;aor
type BalancePolicy string

// Balance policies (the edge/config values).
const (
	BalanceCallID     BalancePolicy = "callID"
	BalanceRoundRobin BalancePolicy = "roundRobin"
	BalanceWeighted   BalancePolicy = "weighted"
	BalanceAOR        BalancePolicy = "aor"
)

// Target is one upstream SIP server.
type Target struct {
	// URI is a sip: or sips: URI; ";transport=tcp|tls|udp" picks the transport (default udp).
	//
	// +required
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^sips?:[^\s]+$`
	URI string `json:"uri"`

	// Weight for balance weighted.
	//
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Weight int32 `json:"weight,omitempty"`
}

// SIPTransport is udp, tcp or tls.
//
// +kubebuilder:validation:Enum=udp;tcp;tls
type SIPTransport string

// SIP transports to upstreams.
const (
	TransportUDP SIPTransport = "udp"
	TransportTCP SIPTransport = "tcp"
	TransportTLS SIPTransport = "tls"
)

// ServiceReference is a Service in the gateway's namespace that fronts SIP servers.
type ServiceReference struct {
	// Name of the Service.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Port of the Service the SIP servers listen on.
	//
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// Transport to the servers.
	//
	// +optional
	// +kubebuilder:default=udp
	Transport SIPTransport `json:"transport,omitempty"`
}

// HealthCheck probes each target with OPTIONS; any response counts as alive.
//
// +kubebuilder:validation:XValidation:rule="!has(self.timeout) || !has(self.interval) || duration(self.timeout) <= duration(self.interval)",message="healthCheck.timeout must not exceed interval"
type HealthCheck struct {
	// Interval between probes.
	//
	// +optional
	// +kubebuilder:default="5s"
	Interval Duration `json:"interval,omitempty"`

	// Timeout of one probe.
	//
	// +optional
	// +kubebuilder:default="2s"
	Timeout Duration `json:"timeout,omitempty"`

	// UpAfter successes in a row mark a down target up.
	//
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	UpAfter int32 `json:"upAfter,omitempty"`

	// DownAfter failures in a row mark a target down.
	//
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	DownAfter int32 `json:"downAfter,omitempty"`

	// Disabled turns probing off: every target counts as up unless requests to it fail.
	//
	// +optional
	Disabled bool `json:"disabled,omitempty"`
}

// NATS is the connection to the bus.
type NATS struct {
	// URL of the NATS servers, comma separated (nats://, tls://, ws:// or wss://).
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^(nats|tls|ws|wss)://[^,\s]+(,(nats|tls|ws|wss)://[^,\s]+)*$`
	URL string `json:"url"`

	// CredentialsSecretRef is a Secret key (default "nats.creds") holding a NATS .creds file.
	//
	// +optional
	CredentialsSecretRef *SecretKeyReference `json:"credentialsSecretRef,omitempty"`

	// TLS to the NATS servers.
	//
	// +optional
	TLS *NATSTLS `json:"tls,omitempty"`

	// SubjectPrefix is the first token of every subject.
	//
	// +optional
	// +kubebuilder:default=sipws
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	SubjectPrefix string `json:"subjectPrefix,omitempty"`
}

// NATSTLS configures TLS to NATS.
//
// +kubebuilder:validation:XValidation:rule="has(self.caSecretRef) || has(self.clientCertificateRef)",message="nats.tls needs caSecretRef or clientCertificateRef"
type NATSTLS struct {
	// CASecretRef is a Secret key (default "ca.crt") with the CA bundle that signs the servers.
	//
	// +optional
	CASecretRef *SecretKeyReference `json:"caSecretRef,omitempty"`

	// ClientCertificateRef is a kubernetes.io/tls Secret for mutual TLS.
	//
	// +optional
	ClientCertificateRef *SecretReference `json:"clientCertificateRef,omitempty"`
}

// SecretReference names a Secret in the gateway's namespace.
type SecretReference struct {
	// Name of the Secret.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// SecretKeyReference names one key of a Secret in the gateway's namespace.
type SecretKeyReference struct {
	// Name of the Secret.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// Key in the Secret's data; each reference documents its default.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// Default Secret keys of the references that have one.
const (
	DefaultFlowTokenKey       = "keys.yaml"
	DefaultNATSCredentialsKey = "nats.creds"
	DefaultNATSCAKey          = "ca.crt"
	DefaultRegistrarUsersKey  = "users.yaml"
)

// KeySelect returns the reference's key, or def when none is set.
func (r SecretKeyReference) KeySelect(def string) string {
	if r.Key == "" {
		return def
	}
	return r.Key
}

// KeepAlive sets the edge's keep-alive behaviour (RFC 7118 §6).
//
// +kubebuilder:validation:XValidation:rule="!has(self.pingInterval) || !has(self.idleTimeout) || duration(self.pingInterval) < duration(self.idleTimeout)",message="keepAlive.pingInterval must be shorter than idleTimeout"
type KeepAlive struct {
	// PingInterval between server WebSocket pings on a quiet connection.
	//
	// +optional
	// +kubebuilder:default="25s"
	PingInterval Duration `json:"pingInterval,omitempty"`

	// IdleTimeout closes a connection that sent no frame for this long.
	//
	// +optional
	// +kubebuilder:default="90s"
	IdleTimeout Duration `json:"idleTimeout,omitempty"`
}

// Workload is what the edge and the router Deployments have in common.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.replicas) && has(self.autoscaling))",message="replicas and autoscaling are exclusive"
type Workload struct {
	// Image overrides the sipws image (default: the controller's own image). Changing it rolls
	// the Deployment.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// Replicas without autoscaling (default 2).
	//
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Replicas *int32 `json:"replicas,omitempty"`

	// Autoscaling adds a HorizontalPodAutoscaler; removing it deletes the HPA.
	//
	// +optional
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`

	// Resources of the container.
	//
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// NodeSelector of the pods.
	//
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations of the pods.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Affinity of the pods. Absent: pods prefer distinct nodes.
	//
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// PodAnnotations are added to the pod template.
	//
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`

	// DrainTimeout is how long a stopping pod spreads closing its flows (edge) or finishing
	// transactions (router); the termination grace period is this plus a margin.
	//
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('1h')",message="drainTimeout must be at most 1h"
	DrainTimeout Duration `json:"drainTimeout,omitempty"`

	// MemoryLimitPercent is the share of the container's memory limit that Go's heap may
	// use before its garbage collector works harder instead of growing (the soft memory
	// limit); the rest is for what the heap does not count, the kernel's socket buffers
	// included, so an edge with very many connections may want less. 0 turns it off.
	// Absent: 90. Changing it rolls the Deployment.
	//
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MemoryLimitPercent *int32 `json:"memoryLimitPercent,omitempty"`
}

// Autoscaling configures a HorizontalPodAutoscaler (autoscaling/v2).
//
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",message="autoscaling.minReplicas (default 2) must not exceed maxReplicas"
// +kubebuilder:validation:XValidation:rule="has(self.targetFlowsPerPod) || has(self.targetCPUUtilizationPercentage)",message="autoscaling needs targetFlowsPerPod or targetCPUUtilizationPercentage"
type Autoscaling struct {
	// MinReplicas of the HPA.
	//
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MinReplicas int32 `json:"minReplicas,omitempty"`

	// MaxReplicas of the HPA.
	//
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxReplicas int32 `json:"maxReplicas"`

	// TargetFlowsPerPod scales the edge on the per-pod average of the sipws_edge_flows metric
	// (needs a custom metrics adapter). Edge only.
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000000
	TargetFlowsPerPod *int32 `json:"targetFlowsPerPod,omitempty"`

	// TargetCPUUtilizationPercentage scales on CPU relative to the requests.
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	TargetCPUUtilizationPercentage *int32 `json:"targetCPUUtilizationPercentage,omitempty"`
}

// ServiceType is ClusterIP, NodePort or LoadBalancer.
//
// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
type ServiceType string

// ServiceOptions are what both Services take besides their type.
type ServiceOptions struct {
	// Annotations of the Service (cloud load balancer settings).
	//
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`

	// ExternalTrafficPolicy of a NodePort or LoadBalancer Service; Local keeps client addresses.
	//
	// +optional
	// +kubebuilder:validation:Enum=Cluster;Local
	ExternalTrafficPolicy corev1.ServiceExternalTrafficPolicy `json:"externalTrafficPolicy,omitempty"`

	// LoadBalancerClass of a LoadBalancer Service.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	LoadBalancerClass *string `json:"loadBalancerClass,omitempty"`

	// LoadBalancerSourceRanges restrict a LoadBalancer Service to these CIDRs.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	LoadBalancerSourceRanges []string `json:"loadBalancerSourceRanges,omitempty"`
}

// EdgeService is the edge Service: one port per listener.
//
// +kubebuilder:validation:XValidation:rule="!has(self.externalTrafficPolicy) || self.type != 'ClusterIP'",message="externalTrafficPolicy needs type NodePort or LoadBalancer"
// +kubebuilder:validation:XValidation:rule="(!has(self.loadBalancerClass) && !has(self.loadBalancerSourceRanges)) || self.type == 'LoadBalancer'",message="loadBalancerClass and loadBalancerSourceRanges need type LoadBalancer"
type EdgeService struct {
	// Type of the Service.
	//
	// +optional
	// +kubebuilder:default=LoadBalancer
	Type ServiceType `json:"type,omitempty"`

	ServiceOptions `json:",inline"`
}

// RouterService is the router Service: UDP and TCP (and TLS) SIP ports for upstreams.
//
// +kubebuilder:validation:XValidation:rule="!has(self.externalTrafficPolicy) || self.type != 'ClusterIP'",message="externalTrafficPolicy needs type NodePort or LoadBalancer"
// +kubebuilder:validation:XValidation:rule="(!has(self.loadBalancerClass) && !has(self.loadBalancerSourceRanges)) || self.type == 'LoadBalancer'",message="loadBalancerClass and loadBalancerSourceRanges need type LoadBalancer"
type RouterService struct {
	// Type of the Service.
	//
	// +optional
	// +kubebuilder:default=ClusterIP
	Type ServiceType `json:"type,omitempty"`

	ServiceOptions `json:",inline"`
}

// EdgeSpec is the edge tier.
type EdgeSpec struct {
	Workload `json:",inline"`

	// Service exposes the listeners.
	//
	// +optional
	// +kubebuilder:default={}
	Service EdgeService `json:"service,omitempty"`

	// Workers is the size of each edge pod's worker pool (default 4×GOMAXPROCS, at least 4).
	//
	// +optional
	// +kubebuilder:validation:Minimum=4
	// +kubebuilder:validation:Maximum=4096
	Workers int32 `json:"workers,omitempty"`
}

// RouterSpec is the router tier.
//
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || !has(self.autoscaling.targetFlowsPerPod)",message="targetFlowsPerPod applies to the edge only; scale the router on CPU"
type RouterSpec struct {
	Workload `json:",inline"`

	// Service is how upstream servers reach the routers.
	//
	// +optional
	// +kubebuilder:default={}
	Service RouterService `json:"service,omitempty"`

	// SIPPort is the UDP and TCP port the routers listen on for upstreams.
	//
	// +optional
	// +kubebuilder:default=5070
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	SIPPort int32 `json:"sipPort,omitempty"`

	// TLS adds a SIP over TLS listener for upstreams.
	//
	// +optional
	TLS *RouterTLS `json:"tls,omitempty"`

	// AnswerOptions answers OPTIONS addressed to the gateway itself with 200.
	//
	// +optional
	// +kubebuilder:default=true
	AnswerOptions *bool `json:"answerOptions,omitempty"`

	// Timers of transactions over UDP (RFC 3261 §17).
	//
	// +optional
	Timers *Timers `json:"timers,omitempty"`

	// MaxTransactions bounds the transactions one router keeps, client and upstream side each
	// (default 50000, about 4 KiB each). Beyond it a new request is answered 503 with
	// Retry-After instead of being relayed (a dead UDP upstream would otherwise hold every
	// request for 64×T1). Size the router's memory limit for it.
	//
	// +optional
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=10000000
	MaxTransactions int32 `json:"maxTransactions,omitempty"`
}

// RouterTLS is the router's SIP over TLS listener.
type RouterTLS struct {
	// Port of the TLS listener.
	//
	// +optional
	// +kubebuilder:default=5061
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// CertificateRef is a kubernetes.io/tls Secret.
	//
	// +required
	CertificateRef SecretReference `json:"certificateRef"`
}

// Timers of UDP transactions (RFC 3261 §17.1.1.1, §17.1.2.2).
//
// +kubebuilder:validation:XValidation:rule="!has(self.t1) || !has(self.t2) || duration(self.t1) <= duration(self.t2)",message="timers.t1 must not exceed t2"
type Timers struct {
	// T1 is the RTT estimate; retransmissions start at T1 and double.
	//
	// +optional
	// +kubebuilder:default="500ms"
	T1 Duration `json:"t1,omitempty"`

	// T2 caps the non-INVITE retransmission interval.
	//
	// +optional
	// +kubebuilder:default="4s"
	T2 Duration `json:"t2,omitempty"`

	// Failover is how long a request waits for any response from one target before the next.
	//
	// +optional
	// +kubebuilder:default="2s"
	Failover Duration `json:"failover,omitempty"`
}

// Duration is a Go duration string of hours, minutes, seconds and milliseconds ("25s",
// "1m30s", "500ms"), as in Gateway API.
//
// +kubebuilder:validation:Pattern=`^([0-9]{1,5}(h|m|s|ms)){1,4}$`
type Duration string

// Parse returns the duration; "" is 0.
func (d Duration) Parse() (time.Duration, error) {
	if d == "" {
		return 0, nil
	}
	v, err := time.ParseDuration(string(d))
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", string(d), err)
	}
	return v, nil
}

// SipWebSocketGatewayStatus is the observed state.
type SipWebSocketGatewayStatus struct {
	// ObservedGeneration is the generation the status describes.
	//
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Accepted, ResolvedRefs, Programmed, Ready.
	//
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Listeners reports each listener.
	//
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Listeners []ListenerStatus `json:"listeners,omitempty"`

	// ListenerCount is the number of listeners whose Programmed condition is True (the
	// Listeners column of kubectl get; a printer column shows only the first item of a list).
	//
	// +optional
	ListenerCount int32 `json:"listenerCount,omitempty"`

	// Addresses clients reach the edge Service at.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Addresses []GatewayAddress `json:"addresses,omitempty"`

	// Edge reports the edge Deployment.
	//
	// +optional
	Edge WorkloadStatus `json:"edge,omitempty"`

	// Router reports the router Deployment.
	//
	// +optional
	Router WorkloadStatus `json:"router,omitempty"`

	// Flows is the number of live client connections over all edge pods, when known.
	//
	// +optional
	Flows int64 `json:"flows,omitempty"`

	// FlowTokenSecret is the name of the Secret the pods read flow-token keys from.
	//
	// +optional
	FlowTokenSecret string `json:"flowTokenSecret,omitempty"`
}

// ListenerStatus is the state of one listener.
type ListenerStatus struct {
	// Name of the listener.
	//
	// +required
	// +kubebuilder:validation:MaxLength=15
	Name string `json:"name"`

	// Port of the listener.
	//
	// +optional
	Port int32 `json:"port,omitempty"`

	// Protocol of the listener.
	//
	// +optional
	Protocol ListenerProtocol `json:"protocol,omitempty"`

	// Conditions: Accepted, ResolvedRefs, Programmed.
	//
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// AddressType is IPAddress or Hostname.
//
// +kubebuilder:validation:Enum=IPAddress;Hostname
type AddressType string

// Address types.
const (
	AddressIP       AddressType = "IPAddress"
	AddressHostname AddressType = "Hostname"
)

// GatewayAddress is one address of the edge Service.
type GatewayAddress struct {
	// Type of the address.
	//
	// +required
	Type AddressType `json:"type"`

	// Value is the IP address or host name.
	//
	// +required
	// +kubebuilder:validation:MaxLength=253
	Value string `json:"value"`
}

// WorkloadStatus counts one Deployment's pods.
type WorkloadStatus struct {
	// Replicas the Deployment has.
	//
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// ReadyReplicas are the ready pods.
	//
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
}
