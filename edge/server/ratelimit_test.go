package server_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/sipws/sipws/edge/config"
)

// TestMessageRateLimit: a flow over its request rate gets the edge's own 503 with Retry-After
// (its requests are not relayed), ACKs over it are dropped, responses always pass, a flow that
// ignores its burst of refusals is closed 1008, and other flows are not affected.
func TestMessageRateLimit(t *testing.T) {
	t.Parallel()
	const burst = 3
	limited := func(c *config.Config) {
		// A rate so low that no token comes back during the test: the burst is all there is.
		c.Listeners[0].Limits.MessagesPerSecond = 0.001
		c.Listeners[0].Limits.MessageBurst = burst
	}
	rateMetric := func(action string) map[string]string {
		return map[string]string{"listener": "ws", "action": action}
	}
	// spend sends the flow's burst and checks every request was relayed.
	spend := func(t *testing.T, e *testEdge, c *client, callID string) {
		t.Helper()
		for i := 1; i <= burst; i++ {
			msg := register(callID, i)
			c.sendText(msg)
			waitMsgData(t, e.in, []byte(msg), waitLong)
		}
	}

	t.Run("request over the rate is answered 503", func(t *testing.T) {
		t.Parallel()
		e := newTestEdge(t, limited)
		c := dial(t, e.url("ws", "/"))
		spend(t, e, c, "rl-503")
		c.sendText(register("rl-503", burst+1))
		_, resp := c.readMessage(waitLong)
		if !bytes.HasPrefix(resp, []byte("SIP/2.0 503 ")) {
			t.Fatalf("got %.60q, want a 503", resp)
		}
		// 1/0.001 s until the next token.
		if ra := sipHeader(string(resp), "Retry-After"); ra != "1000" {
			t.Errorf("Retry-After %q, want 1000", ra)
		}
		if cs := sipHeader(string(resp), "CSeq"); cs != "4 REGISTER" {
			t.Errorf("CSeq %q: the 503 must answer the refused request", cs)
		}
		noMsg(t, e.in, quiet, "the refused REGISTER")
		waitMetric(t, e.s, "sipws_edge_rate_limited_total", rateMetric("refused"), equals(1), "refusal counted")
	})

	t.Run("ACK over the rate is dropped, responses pass", func(t *testing.T) {
		t.Parallel()
		e := newTestEdge(t, limited)
		c := dial(t, e.url("ws", "/"))
		spend(t, e, c, "rl-ack")
		c.sendText(ackMsg("rl-ack"))
		noMsg(t, e.in, quiet, "the dropped ACK")
		waitMetric(t, e.s, "sipws_edge_rate_limited_total", rateMetric("dropped"), equals(1), "dropped ACK counted")
		resp := sipResponse("rl-ack")
		c.sendText(resp)
		waitMsgData(t, e.in, []byte(resp), waitLong)
		// The ACK got no answer: the next frame is the 503 for this request.
		c.sendText(register("rl-ack", 9))
		if _, got := c.readMessage(waitLong); !bytes.HasPrefix(got, []byte("SIP/2.0 503 ")) {
			t.Fatalf("got %.60q, want a 503", got)
		}
	})

	t.Run("flow that keeps sending is closed, others go on", func(t *testing.T) {
		t.Parallel()
		e := newTestEdge(t, limited)
		flooder := dial(t, e.url("ws", "/"))
		other := dial(t, e.url("ws", "/"))
		spend(t, e, flooder, "rl-flood")
		for i := 1; i <= burst; i++ { // refused, answered
			flooder.sendText(register("rl-flood", burst+i))
			if _, got := flooder.readMessage(waitLong); !bytes.HasPrefix(got, []byte("SIP/2.0 503 ")) {
				t.Fatalf("refusal %d: got %.60q, want a 503", i, got)
			}
		}
		flooder.sendText(register("rl-flood", 2*burst+1)) // one refusal more than the burst
		code, reason, err := flooder.awaitClose(waitLong)
		if err != nil || code != 1008 || !strings.Contains(reason, "rate") {
			t.Fatalf("close %d %q (%v), want 1008 about the message rate", code, reason, err)
		}
		_ = flooder.writeRaw(frameBytes(true, ws.OpClose, closePayload(code)))
		waitMetric(t, e.s, "sipws_edge_rate_limited_total", rateMetric("closed"), equals(1), "close counted")
		waitMetric(t, e.s, "sipws_edge_rate_limited_total", rateMetric("refused"), equals(burst), "refusals counted")
		// Each flow has its own bucket.
		msg := register("rl-other", 1)
		other.sendText(msg)
		waitMsgData(t, e.in, []byte(msg), waitLong)
	})
}
