// Package config holds the data-plane configuration schema shared by the edge, the router and
// the controller's renderer. Files are YAML (or JSON); durations are Go duration strings.
package config

// Config is one data-plane configuration file.
type Config struct {
	// Gateway names the gateway; it is the second token of every NATS subject.
	Gateway string `json:"gateway"`
	// Node identifies this edge process in subjects and flow tokens. Empty: $SIPWS_NODE,
	// $POD_NAME, then the host name, sanitised to [A-Za-z0-9_-], at most 32 bytes.
	Node string `json:"node,omitempty"`
	// Listeners are the WS and WSS endpoints the edge serves.
	Listeners []Listener `json:"listeners"`
	// KeepAlive sets server pings and the idle timeout.
	KeepAlive KeepAlive `json:"keepAlive,omitempty"`
	// Workers is the size of the worker pool that reads ready connections (default 4×GOMAXPROCS,
	// at least 4; 1..4096).
	Workers int `json:"workers,omitempty"`
	// DrainTimeout spreads closing flows (1001) over this long on shutdown (default 10s).
	DrainTimeout Duration `json:"drainTimeout,omitempty"`
	// NATS is the connection to the bus.
	NATS NATS `json:"nats,omitempty"`
	// FlowToken says where the flow-token keys come from.
	FlowToken FlowToken `json:"flowToken,omitempty"`
	// Admin serves /metrics, /healthz, /readyz and optional pprof.
	Admin Admin `json:"admin,omitempty"`
	// Router is the SIP side (sipws router, and local mode).
	Router Router `json:"router,omitempty"`
}

// Listener is one WS or WSS endpoint.
type Listener struct {
	// Name is unique among listeners; it is sent to routers in the Sipws-Listener header.
	Name string `json:"name"`
	// Address is host:port to listen on, e.g. "0.0.0.0:8443" or "127.0.0.1:0".
	Address string `json:"address"`
	// Protocol is "ws" or "wss".
	Protocol string `json:"protocol"`
	// Path the handshake must request (default "/"). Query strings are ignored when matching.
	Path string `json:"path,omitempty"`
	// TLS is required for wss and forbidden for ws.
	TLS *TLS `json:"tls,omitempty"`
	// AllowedOrigins is the Origin allow-list: exact origins ("https://app.example.com"),
	// wildcard hosts ("https://*.example.com") or "*" for any. Empty allows any origin,
	// including a missing Origin header (non-browser clients).
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
	// Limits bound what one listener accepts.
	Limits Limits `json:"limits,omitempty"`
	// Demo serves the demo softphone at /demo on this listener (plain GETs without a
	// WebSocket upgrade). For local mode; off by default.
	Demo bool `json:"demo,omitempty"`
}

// TLS holds the certificates of a WSS listener, chosen by SNI.
type TLS struct {
	// Certificates are PEM certificate/key file pairs; the first one is the default when no
	// SNI matches. Files are re-read when they change.
	Certificates []Certificate `json:"certificates"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `json:"minVersion,omitempty"`
}

// Certificate is one PEM certificate chain and its key.
type Certificate struct {
	CertFile string `json:"certFile"`
	KeyFile  string `json:"keyFile"`
}

// Limits bound one listener. Zero means the default; see Config.Default.
type Limits struct {
	// MaxConnections on this listener (default 100000).
	MaxConnections int `json:"maxConnections,omitempty"`
	// MaxConnectionsPerIP from one source address (default 1000).
	MaxConnectionsPerIP int `json:"maxConnectionsPerIP,omitempty"`
	// HandshakesPerSecondPerIP is the sustained handshake rate per source address (default 50).
	HandshakesPerSecondPerIP float64 `json:"handshakesPerSecondPerIP,omitempty"`
	// HandshakeBurstPerIP is the burst of handshakes allowed per source address (default 100).
	HandshakeBurstPerIP int `json:"handshakeBurstPerIP,omitempty"`
	// HandshakeTimeout bounds TCP accept to upgraded, including TLS (default 10s).
	HandshakeTimeout Duration `json:"handshakeTimeout,omitempty"`
	// MaxMessageBytes bounds one reassembled WebSocket message (default 65535); beyond: close 1009.
	MaxMessageBytes int `json:"maxMessageBytes,omitempty"`
	// SendQueueBytes bounds what may wait to be written to one client (default 262144);
	// beyond it the client is closed (1008) and counted.
	SendQueueBytes int `json:"sendQueueBytes,omitempty"`
	// MaxInvalidMessages in a row that are not SIP before the connection is closed 1008 (default 5).
	MaxInvalidMessages int `json:"maxInvalidMessages,omitempty"`
	// MessagesPerSecond is the sustained rate of SIP requests one flow may send (default 50).
	// A request over it is answered 503 with Retry-After by the edge (an ACK is dropped);
	// responses are never limited. A flow that keeps sending after MessageBurst refusals in a
	// row is closed 1008.
	MessagesPerSecond float64 `json:"messagesPerSecond,omitempty"`
	// MessageBurst is how many requests a flow may send at once above that rate (default 200).
	MessageBurst int `json:"messageBurst,omitempty"`
}

// KeepAlive sets the edge's keep-alive behaviour (RFC 7118 §6).
type KeepAlive struct {
	// PingInterval between server WebSocket pings on a quiet connection (default 25s).
	PingInterval Duration `json:"pingInterval,omitempty"`
	// IdleTimeout closes a connection that sent no frame for this long (default 90s).
	IdleTimeout Duration `json:"idleTimeout,omitempty"`
}

// NATS is the bus connection.
type NATS struct {
	// URL of the NATS servers, comma separated. In local mode it is filled with the embedded server.
	URL string `json:"url,omitempty"`
	// CredentialsFile is a NATS .creds file (JWT + nkey).
	CredentialsFile string `json:"credentialsFile,omitempty"`
	// CAFile, CertFile, KeyFile configure TLS to NATS.
	CAFile   string `json:"caFile,omitempty"`
	CertFile string `json:"certFile,omitempty"`
	KeyFile  string `json:"keyFile,omitempty"`
	// SubjectPrefix is the first subject token (default "sipws").
	SubjectPrefix string `json:"subjectPrefix,omitempty"`
}

// FlowToken says where the HMAC keys for flow tokens are.
type FlowToken struct {
	// KeysFile is a YAML key ring (see edge/flow). Empty: a random key per process (local mode only).
	KeysFile string `json:"keysFile,omitempty"`
}

// Admin is the metrics and health endpoint.
type Admin struct {
	// Address for /metrics, /healthz, /readyz (default "127.0.0.1:9090"; "" keeps the default, "off" disables).
	Address string `json:"address,omitempty"`
	// Pprof mounts /debug/pprof on the admin address.
	Pprof bool `json:"pprof,omitempty"`
}
