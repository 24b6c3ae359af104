package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/sipws/sipws/edge/bus"
)

// TestNATSRestart: while NATS is away the flows stay up and requests are answered 503 by the
// edge itself; when NATS is back, messages flow both ways again.
func TestNATSRestart(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	ns1 := startNATSAt(t, addr)
	url := "nats://" + addr
	s := startEdge(t, newConfig(url))
	nc := natsConnect(t, url)
	in := subscribe(t, nc, s.Subjects().InAll())
	readyz := "http://" + s.AdminAddr().String() + "/readyz"

	c := dial(t, edgeURL(s, "ws", "/"))
	tok := flowOf(t, c, in, "before")

	ns1.Shutdown()
	ns1.WaitForShutdown()
	waitFor(t, waitLong, func() bool { return !s.Ready() }, "edge notices NATS is gone")
	if code, err := httpStatus(readyz); err != nil || code != 503 {
		t.Errorf("/readyz without NATS: %d %v, want 503", code, err)
	}
	waitMetric(t, s, "sipws_edge_nats_connected", nil, equals(0), "NATS gauge down")

	// A request gets the edge's own 503.
	req := register("nats-down", 7)
	c.sendText(req)
	op, p := c.readMessage(waitLong)
	resp := string(p)
	if op != ws.OpText || !strings.HasPrefix(resp, "SIP/2.0 503 ") {
		t.Fatalf("answer while NATS is down: op %d %.80q, want SIP/2.0 503", op, resp)
	}
	if ra := sipHeader(resp, "Retry-After"); ra == "" {
		t.Errorf("503 without Retry-After:\n%s", resp)
	}
	for _, h := range []string{"Call-ID", "CSeq", "From"} {
		if got, want := sipHeader(resp, h), sipHeader(req, h); got != want {
			t.Errorf("503 %s %q, want %q", h, got, want)
		}
	}
	if got := sipHeader(resp, "Via"); !strings.Contains(got, "branch=z9hG4bKnats-down") {
		t.Errorf("503 Via %q lacks the request's branch", got)
	}
	if !strings.Contains(sipHeader(resp, "To"), "tag=") {
		t.Errorf("503 To %q has no tag", sipHeader(resp, "To"))
	}
	waitMetric(t, s, "sipws_edge_unavailable_responses_total", nil, equals(1), "503 counted")

	// The WebSocket stays open.
	c.ping("nats-down")
	// An ACK is never answered: the next frame is the pong.
	c.sendText(ackMsg("nats-down"))
	c.ping("after-ack")
	// Neither is a response from the client.
	c.sendText(sipResponse("nats-down"))
	c.ping("after-response")
	if s.Flows() != 1 {
		t.Fatalf("flows %d while NATS is down, want 1", s.Flows())
	}

	// NATS comes back on the same address.
	startNATSAt(t, addr)
	waitFor(t, waitLong, s.Ready, "edge reconnected to NATS")
	waitFor(t, waitLong, nc.IsConnected, "test client reconnected to NATS")
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if code, err := httpStatus(readyz); err != nil || code != 200 {
		t.Errorf("/readyz after reconnect: %d %v, want 200", code, err)
	}

	// Client to NATS (retried while the test's own subscription settles).
	deadline := time.Now().Add(waitLong)
	for i := 0; ; i++ {
		msg := register(fmt.Sprintf("after-%d", i), 1)
		c.sendText(msg)
		select {
		case m := <-in:
			if !strings.HasPrefix(sipHeader(string(m.Data), "Call-ID"), "after-") || m.Header.Get(bus.HeaderFlow) != tok {
				t.Fatalf("after reconnect got flow %q %.60q", m.Header.Get(bus.HeaderFlow), m.Data)
			}
		case <-time.After(500 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("no message reaches NATS after the reconnect")
			}
			continue
		}
		break
	}
	// NATS to client, same flow token.
	out := sipResponse("after-reconnect")
	if err := nc.Publish(s.Subjects().Out(s.Node(), tok), []byte(out)); err != nil {
		t.Fatal(err)
	}
	if _, p := c.readMessage(waitLong); string(p) != out {
		t.Fatalf("client got %.80q after reconnect, want the router's message", p)
	}
}
