// Package bus names what edge and router exchange over NATS: subjects, headers and notices.
package bus

import "strings"

// NATS headers carried with every client message (the payload is the SIP message, byte for byte).
const (
	HeaderFlow      = "Sipws-Flow"      // flow token
	HeaderNode      = "Sipws-Node"      // edge node that holds the flow
	HeaderRemote    = "Sipws-Remote"    // client address, "ip:port" ("[v6]:port")
	HeaderLocal     = "Sipws-Local"     // edge listener address the client reached
	HeaderTransport = "Sipws-Transport" // "ws" or "wss"
	HeaderListener  = "Sipws-Listener"  // listener name from the config
	HeaderOrigin    = "Sipws-Origin"    // Origin of the handshake, when sent
	HeaderEvent     = "Sipws-Event"     // on node subjects: heartbeat, flow-failed, flow-closed
)

// Node notice events.
const (
	EventHeartbeat  = "heartbeat"
	EventFlowFailed = "flow-failed"
	EventFlowClosed = "flow-closed"
)

// Subjects builds the subjects of one gateway.
type Subjects struct {
	Prefix  string // "sipws"
	Gateway string
}

// In is where an edge publishes what a flow sends: <prefix>.<gw>.in.<token>.
func (s Subjects) In(token string) string { return s.join("in", token) }

// InAll matches every inbound message of the gateway (routers' queue subscription).
func (s Subjects) InAll() string { return s.join("in", "*") }

// Out is where routers publish to one flow on one edge: <prefix>.<gw>.out.<node>.<token>.
func (s Subjects) Out(node, token string) string { return s.join("out", node, token) }

// OutNode is the one subscription of an edge: <prefix>.<gw>.out.<node>.*.
func (s Subjects) OutNode(node string) string { return s.join("out", node, "*") }

// Node carries heartbeats and flow notices of one edge: <prefix>.<gw>.node.<node>.
func (s Subjects) Node(node string) string { return s.join("node", node) }

// NodeAll matches the notices of every edge of the gateway.
func (s Subjects) NodeAll() string { return s.join("node", "*") }

func (s Subjects) join(parts ...string) string {
	var b strings.Builder
	b.WriteString(s.Prefix)
	b.WriteByte('.')
	b.WriteString(s.Gateway)
	for _, p := range parts {
		b.WriteByte('.')
		b.WriteString(p)
	}
	return b.String()
}

// Notice is the JSON body of a message on a node subject.
type Notice struct {
	Event  string `json:"event"`
	Node   string `json:"node"`
	Flow   string `json:"flow,omitempty"`   // flow-failed, flow-closed
	Reason string `json:"reason,omitempty"` // flow-failed: "unknown-flow", "closed"; flow-closed: close reason
	Flows  int64  `json:"flows,omitempty"`  // heartbeat: open flows on the node
	Time   int64  `json:"time"`             // unix milliseconds
}
