package server_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/sipws/sipws/edge/bus"
	"github.com/sipws/sipws/edge/config"
)

func TestPingPong(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, nil)
	c := dial(t, e.url("ws", "/"))
	for _, p := range []string{"", "x", "payload-123", string(bytes.Repeat([]byte{'z'}, 125))} {
		c.ping(p)
	}
	waitMetric(t, e.s, "sipws_edge_keepalives_total", map[string]string{"kind": "ping_received"}, equals(4), "pings counted")
	noMsg(t, e.in, quiet, "pings are not forwarded")
}

func TestCRLFKeepAlive(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, nil)
	c := dial(t, e.url("ws", "/"))
	for range 3 {
		c.sendText("\r\n\r\n")
		op, p := c.readMessage(waitLong)
		if op != ws.OpText || string(p) != "\r\n" {
			t.Fatalf("answer to CRLFCRLF: op %d %q, want text \"\\r\\n\"", op, p)
		}
	}
	noMsg(t, e.in, quiet, "CRLF keep-alive must not be forwarded")
	msg := register("after-crlf", 1)
	c.sendText(msg)
	m := waitMsg(t, e.in, waitLong, "REGISTER after keep-alives")
	if string(m.Data) != msg {
		t.Fatalf("first published message is %.60q, want the REGISTER", m.Data)
	}
	waitMetric(t, e.s, "sipws_edge_keepalives_total", map[string]string{"kind": "crlf"}, equals(3), "CRLF keep-alives counted")
}

func TestServerPings(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, func(c *config.Config) {
		c.KeepAlive = config.KeepAlive{PingInterval: config.D(time.Second), IdleTimeout: config.D(30 * time.Second)}
	})
	c := dial(t, e.url("ws", "/"))
	deadline := time.Now().Add(waitLong)
	pings := 0
	for pings < 2 {
		h, p, err := c.readFrame(time.Until(deadline))
		if err != nil {
			t.Fatalf("no server ping (got %d): %v", pings, err)
		}
		if h.OpCode != ws.OpPing {
			t.Fatalf("unexpected frame op %d %q", h.OpCode, p)
		}
		pings++
		// A client that answers stays connected.
		c.writeFrame(true, ws.OpPong, p)
	}
	c.ping("still-open")
	waitMetric(t, e.s, "sipws_edge_keepalives_total", map[string]string{"kind": "pong_received"}, atLeast(2), "pongs counted")
}

// TestIdleTimeout: a client that sends nothing at all (not even pongs) is closed with 1001.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, func(c *config.Config) {
		c.KeepAlive = config.KeepAlive{PingInterval: config.D(time.Second), IdleTimeout: config.D(2 * time.Second)}
	})
	silent := dial(t, e.url("ws", "/"))
	tok := flowOf(t, silent, e.in, "idle") // the last frame the client ever sends
	notices := subscribe(t, e.nc, e.s.Subjects().Node(testNode))
	pings := 0
	deadline := time.Now().Add(waitLong)
	var code uint16
	var reason string
	for {
		h, p, err := silent.readFrame(time.Until(deadline))
		if err != nil {
			t.Fatalf("idle client not closed (after %d pings): %v", pings, err)
		}
		if h.OpCode == ws.OpPing {
			pings++ // never answered
			continue
		}
		if h.OpCode != ws.OpClose {
			t.Fatalf("unexpected frame op %d %q", h.OpCode, p)
		}
		code, reason = parseClose(p)
		break
	}
	if code != 1001 {
		t.Fatalf("idle close code %d %q, want 1001", code, reason)
	}
	if pings == 0 {
		t.Errorf("idle client closed without ever being pinged")
	}
	// The client does not answer the close either: the edge ends the connection itself.
	silent.expectEOF(waitLong)
	waitNotice(t, notices, bus.EventFlowClosed, tok, waitLong)
	waitFor(t, waitLong, func() bool { return e.s.Flows() == 0 }, "idle flow forgotten (flows %d)", e.s.Flows())
	waitMetric(t, e.s, "sipws_edge_closes_total", map[string]string{"code": "1001", "by": "server"}, equals(1), "idle close counted")
}

// TestKeepAliveAnsweringClientStaysUp: a client that answers every server ping at once is
// healthy and must not be closed as idle. The idle timeout leaves room for a loaded CI
// machine to schedule the sweeper late.
func TestKeepAliveAnsweringClientStaysUp(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, func(c *config.Config) {
		c.KeepAlive = config.KeepAlive{PingInterval: config.D(time.Second), IdleTimeout: config.D(3 * time.Second)}
	})
	c := dial(t, e.url("ws", "/"))
	start := time.Now()
	var pingAt []time.Duration
	for time.Since(start) < 5*time.Second {
		h, p, err := c.readFrame(waitLong)
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		switch h.OpCode {
		case ws.OpPing:
			pingAt = append(pingAt, time.Since(start).Round(time.Millisecond))
			c.writeFrame(true, ws.OpPong, p) // answered at once
		case ws.OpClose:
			code, reason := parseClose(p)
			t.Fatalf("client answering every ping closed after %s: %d %q (pings at %v)",
				time.Since(start).Round(time.Millisecond), code, reason, pingAt)
		default:
			t.Fatalf("unexpected frame op %d", h.OpCode)
		}
	}
	if len(pingAt) < 2 {
		t.Fatalf("pings at %v in 5s with a 1s interval", pingAt)
	}
}
