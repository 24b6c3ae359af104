package router

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipws/sipws/edge/bus"
	"github.com/sipws/sipws/edge/flow"
)

// upstreamMsg is a MESSAGE (or other request) an upstream sends to a flow along its Path.
func upstreamMsg(method, token string, up *udpPeer, branch string) sipReq {
	return sipReq{
		Method: method, RURI: "sip:alice@c1.invalid;transport=ws",
		Via:   []string{fmt.Sprintf("SIP/2.0/UDP %s;branch=%s;rport", up.addr(), branch)},
		Route: []string{"<sip:" + token + "@" + testAdv + ";lr;ob>"},
		From:  "<sip:bob@example.com>;tag=" + branch, To: "<sip:alice@example.com>",
		CallID: "up-" + branch, CSeq: 1,
		Extra: []string{"Contact: <sip:bob@" + up.addr().String() + ">"},
	}
}

// expectUpstreamStatus waits for the response to method at the upstream and checks its code.
func expectUpstreamStatus(t *testing.T, up *udpPeer, method string, code int) packet {
	t.Helper()
	// The router answers at once: a short bound keeps a failure from stalling the run.
	pk := up.nextWithin(t, 3*time.Second, fmt.Sprintf("%d to %s", code, method), isResponse(method))
	if got := statusOf(t, pk.data); got != code {
		t.Fatalf("upstream got %d to its %s, want %d:\n%s", got, method, code, pk.data)
	}
	return pk
}

func tamper(token string, i int) string {
	b := []byte(token)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestTokenTampered(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	up := h.up[0]
	token := h.token(21)
	for i, pos := range []int{0, 1, len(token) / 2, len(token) - 2, len(token) - 1} {
		t.Run(fmt.Sprintf("char %d", pos), func(t *testing.T) {
			bad := tamper(token, pos)
			before, _ := metricValue(t, h.reg, "sipws_router_invalid_tokens_total", nil)
			up.send(t, up.router, upstreamMsg("MESSAGE", bad, up, fmt.Sprintf("z9hG4bKtamper%d", i)).bytes())
			expectUpstreamStatus(t, up, "MESSAGE", 403)
			if after, _ := metricValue(t, h.reg, "sipws_router_invalid_tokens_total", nil); after != before+1 {
				t.Errorf("sipws_router_invalid_tokens_total went from %v to %v", before, after)
			}
		})
	}
	h.noClientMsg("tampered tokens")

	// The genuine token goes through.
	up.send(t, up.router, upstreamMsg("MESSAGE", token, up, "z9hG4bKgenuine").bytes())
	h.toClient(token, "MESSAGE with a valid token")
}

func TestTokenNodeWithoutHeartbeats(t *testing.T) {
	h := newHarness(t, harnessOpts{noBeat: true})
	up := h.up[0]
	token := h.token(22)
	// The router has listened for longer than the grace period without hearing from n1.
	h.r.live.mu.Lock()
	h.r.live.started = time.Now().Add(-time.Minute)
	h.r.live.mu.Unlock()
	up.send(t, up.router, upstreamMsg("MESSAGE", token, up, "z9hG4bKsilent1").bytes())
	expectUpstreamStatus(t, up, "MESSAGE", 430)
	up.send(t, up.router, upstreamMsg("INVITE", token, up, "z9hG4bKsilent2").bytes())
	expectUpstreamStatus(t, up, "INVITE", 430)
	h.noClientMsg("flow of a silent node")
	if v, _ := metricValue(t, h.reg, "sipws_router_flow_failed_total", nil); v != 2 {
		t.Errorf("sipws_router_flow_failed_total = %v, want 2", v)
	}

	// A node whose heartbeats stopped more than the grace period ago counts as gone too.
	h.r.live.mu.Lock()
	h.r.live.nodes[testNode] = time.Now().Add(-nodeGrace - time.Second)
	h.r.live.mu.Unlock()
	up.send(t, up.router, upstreamMsg("MESSAGE", token, up, "z9hG4bKsilent3").bytes())
	expectUpstreamStatus(t, up, "MESSAGE", 430)

	// Once it beats again, its flows are reachable.
	h.notice(bus.Notice{Event: bus.EventHeartbeat, Node: testNode})
	waitFor(t, func() bool { return h.r.live.alive(testNode, token) }, "heartbeat seen")
	up.send(t, up.router, upstreamMsg("MESSAGE", token, up, "z9hG4bKsilent4").bytes())
	h.toClient(token, "MESSAGE after a heartbeat")
}

func TestTokenFlowClosedNotice(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	up := h.up[0]
	closed, open := h.token(23), h.token(24)
	h.notice(bus.Notice{Event: bus.EventFlowClosed, Node: testNode, Flow: closed, Reason: "1000"})
	waitFor(t, func() bool { return !h.r.live.alive(testNode, closed) }, "flow-closed notice handled")

	up.send(t, up.router, upstreamMsg("MESSAGE", closed, up, "z9hG4bKclosed1").bytes())
	expectUpstreamStatus(t, up, "MESSAGE", 430)
	h.noClientMsg("request to a closed flow")

	// Another flow of the same node is unaffected.
	up.send(t, up.router, upstreamMsg("MESSAGE", open, up, "z9hG4bKopen1").bytes())
	h.toClient(open, "MESSAGE to an open flow")
}

// TestTokenFlowFailedPending: a request forwarded to a flow that then fails is answered 430
// upstream (RFC 5626 §5.3), and a retransmission gets the same answer.
func TestTokenFlowFailedPending(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		provisional  int // the client answers this first (0: nothing)
		event        string
	}{
		{"MESSAGE unanswered, flow-failed", "MESSAGE", 0, bus.EventFlowFailed},
		{"INVITE unanswered, flow-closed", "INVITE", 0, bus.EventFlowClosed},
		{"INVITE after 180 Ringing, flow-failed", "INVITE", 180, bus.EventFlowFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			up := h.up[0]
			token := h.token(25)
			req := upstreamMsg(tc.method, token, up, "z9hG4bKpending").bytes()
			up.send(t, up.router, req)
			in := h.toClient(token, tc.method+" to the client")
			if tc.provisional != 0 {
				h.fromClient(token, respond(mustParse(t, in.Data), tc.provisional, "Ringing"))
				expectUpstreamStatus(t, up, tc.method, tc.provisional)
			}
			h.notice(bus.Notice{Event: tc.event, Node: testNode, Flow: token, Reason: "unknown-flow"})
			pk := expectUpstreamStatus(t, up, tc.method, 430)
			if b := topBranch(t, pk.data); b != "z9hG4bKpending" {
				t.Errorf("430 carries branch %q", b)
			}
			up.send(t, up.router, req) // retransmission
			expectUpstreamStatus(t, up, tc.method, 430)
		})
	}
}

// TestStartRace: Start starts the transports (router.go: r.tp.Start) before it writes the
// advertised address (setAdvertise) and, when it owns it, the NATS connection; the UDP reader
// goroutines then read r.adv, r.advHost, r.advPort (ourURI, flowURI, upstreamRequest) and
// r.nc (toFlow) with no synchronisation. Run with -race: the first upstream request after
// Start reports the race. (Without -race this passes.)
func TestStartRace(t *testing.T) {
	ns := startNATS(t)
	nc := natsConnect(t, ns.ClientURL())
	up := newUDPPeer(t)
	keys := flow.RandomKeyring()
	cfg := baseConfig(ns.ClientURL(), []string{up.uri()}, nil)
	out := subscribe(t, nc, testSubj.OutNode(testNode))
	r := startRouterRaw(t, cfg, keys, prometheus.NewRegistry())
	token, _ := keys.Encode(flow.Flow{Node: testNode, Serial: 1})
	up.send(t, r.LocalAddr("udp"), upstreamMsg("MESSAGE", token, up, "z9hG4bKstart").bytes())
	if m := waitNATS(t, out, waitLong, "MESSAGE to the flow"); m.Subject != testSubj.Out(testNode, token) {
		t.Errorf("published on %s", m.Subject)
	}
}
