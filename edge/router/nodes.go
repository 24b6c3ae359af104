package router

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sipws/sipws/edge/bus"
)

// nodeGrace is how long an edge may stay silent (no heartbeat) before its flows count as
// failed. Heartbeats come every second.
const nodeGrace = 3 * time.Second

// closedTTL is how long a closed flow is remembered for answering 430 quickly.
const closedTTL = 10 * time.Minute

// liveness follows edge heartbeats and flow notices, so the router can answer 430 Flow Failed
// for flows whose edge is gone or which were closed.
type liveness struct {
	mu      sync.Mutex
	started time.Time
	nodes   map[string]time.Time
	closed  map[string]time.Time
	onFail  func(token string)
}

func newLiveness(onFail func(string)) *liveness {
	return &liveness{started: time.Now(), nodes: map[string]time.Time{}, closed: map[string]time.Time{}, onFail: onFail}
}

func (l *liveness) handle(m *nats.Msg) {
	var n bus.Notice
	if err := json.Unmarshal(m.Data, &n); err != nil || n.Node == "" {
		return
	}
	now := time.Now()
	l.mu.Lock()
	l.nodes[n.Node] = now
	failed := false
	switch n.Event {
	case bus.EventFlowClosed, bus.EventFlowFailed:
		if n.Flow != "" {
			l.closed[n.Flow] = now
			failed = true
		}
	}
	l.mu.Unlock()
	if failed && l.onFail != nil {
		l.onFail(n.Flow)
	}
}

// alive reports whether the flow can still be reached: its edge sent a heartbeat recently and
// the flow was not closed. Before the router has listened for nodeGrace it trusts every node.
func (l *liveness) alive(node, token string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, gone := l.closed[token]; gone {
		return false
	}
	seen, ok := l.nodes[node]
	if !ok {
		return now.Sub(l.started) < nodeGrace
	}
	return now.Sub(seen) < nodeGrace
}

func (l *liveness) sweep() {
	now := time.Now()
	l.mu.Lock()
	for t, at := range l.closed {
		if now.Sub(at) > closedTTL {
			delete(l.closed, t)
		}
	}
	for n, at := range l.nodes {
		if now.Sub(at) > time.Hour {
			delete(l.nodes, n)
		}
	}
	l.mu.Unlock()
}
