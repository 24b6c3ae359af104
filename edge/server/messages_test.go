package server_test

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"

	"github.com/sipws/sipws/edge/bus"
	"github.com/sipws/sipws/edge/config"
)

// checkInbound checks the subject and headers of a message the edge published for c.
func checkInbound(t *testing.T, e *testEdge, m *nats.Msg, c *client, listener, transport, origin string) string {
	t.Helper()
	prefix := "sipws." + testGateway + ".in."
	if !strings.HasPrefix(m.Subject, prefix) {
		t.Fatalf("subject %q, want %s<token>", m.Subject, prefix)
	}
	token := strings.TrimPrefix(m.Subject, prefix)
	if token == "" || strings.Contains(token, ".") {
		t.Fatalf("subject %q: token %q is not one subject token", m.Subject, token)
	}
	want := map[string]string{
		bus.HeaderFlow:      token,
		bus.HeaderNode:      testNode,
		bus.HeaderRemote:    c.conn.LocalAddr().String(),
		bus.HeaderLocal:     e.s.Addr(listener).String(),
		bus.HeaderTransport: transport,
		bus.HeaderListener:  listener,
		bus.HeaderOrigin:    origin,
	}
	for k, v := range want {
		if got := m.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	return token
}

func TestClientToNATS(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, nil)

	t.Run("text REGISTER", func(t *testing.T) {
		c := dial(t, e.url("ws", "/"))
		msg := register("text-1", 1)
		c.sendText(msg)
		m := waitMsg(t, e.in, waitLong, "REGISTER")
		if !bytes.Equal(m.Data, []byte(msg)) {
			t.Fatalf("payload differs:\n got %q\nwant %q", m.Data, msg)
		}
		tok := checkInbound(t, e, m, c, "ws", "ws", "")
		// A second message of the same flow carries the same token.
		msg2 := register("text-1", 2)
		c.sendText(msg2)
		m2 := waitMsg(t, e.in, waitLong, "second REGISTER")
		if !bytes.Equal(m2.Data, []byte(msg2)) || m2.Header.Get(bus.HeaderFlow) != tok {
			t.Errorf("second message: flow %q payload %.40q", m2.Header.Get(bus.HeaderFlow), m2.Data)
		}
	})

	t.Run("origin header", func(t *testing.T) {
		const origin = "https://app.example.com"
		c := dial(t, e.url("ws", "/"), withOrigin(origin))
		msg := register("origin-1", 1)
		c.sendText(msg)
		m := waitMsg(t, e.in, waitLong, "REGISTER")
		checkInbound(t, e, m, c, "ws", "ws", origin)
	})

	t.Run("distinct flows", func(t *testing.T) {
		c1 := dial(t, e.url("ws", "/"))
		c2 := dial(t, e.url("ws", "/"))
		t1 := flowOf(t, c1, e.in, "flows-1")
		t2 := flowOf(t, c2, e.in, "flows-2")
		if t1 == t2 {
			t.Fatalf("two connections share flow token %q", t1)
		}
	})

	t.Run("binary frame", func(t *testing.T) {
		c := dial(t, e.url("ws", "/"))
		msg := []byte(register("binary-1", 1))
		c.sendBinary(msg)
		m := waitMsg(t, e.in, waitLong, "binary REGISTER")
		if !bytes.Equal(m.Data, msg) {
			t.Fatalf("payload differs: %q", m.Data)
		}
		checkInbound(t, e, m, c, "ws", "ws", "")
	})

	t.Run("fragmented", func(t *testing.T) {
		c := dial(t, e.url("ws", "/"))
		msg := []byte(register("frag-1", 1))
		a, b := len(msg)/3, 2*len(msg)/3
		c.writeFrame(false, ws.OpText, msg[:a])
		// A control frame may come between fragments (RFC 6455 §5.4).
		c.writeFrame(true, ws.OpPing, []byte("mid"))
		c.writeFrame(false, ws.OpContinuation, msg[a:b])
		c.writeFrame(true, ws.OpContinuation, msg[b:])
		m := waitMsg(t, e.in, waitLong, "reassembled REGISTER")
		if !bytes.Equal(m.Data, msg) {
			t.Fatalf("reassembled payload differs:\n got %q\nwant %q", m.Data, msg)
		}
		noMsg(t, e.in, quiet, "only one message for the fragments")
		// The pong for the ping between fragments came back.
		h, p, err := c.readFrame(waitLong)
		if err != nil || h.OpCode != ws.OpPong || string(p) != "mid" {
			t.Fatalf("pong between fragments: op %d %q %v", h.OpCode, p, err)
		}
	})

	t.Run("frame split across writes", func(t *testing.T) {
		c := dial(t, e.url("ws", "/"))
		msg := []byte(register("split-1", 1))
		raw := frameBytes(true, ws.OpText, msg)
		for i := 0; i < len(raw); i += 7 {
			if err := c.writeRaw(raw[i:min(i+7, len(raw))]); err != nil {
				t.Fatal(err)
			}
		}
		m := waitMsg(t, e.in, waitLong, "REGISTER in pieces")
		if !bytes.Equal(m.Data, msg) {
			t.Fatalf("payload differs: %q", m.Data)
		}
	})

	t.Run("several frames in one write", func(t *testing.T) {
		c := dial(t, e.url("ws", "/"))
		var raw []byte
		var msgs []string
		for i := range 5 {
			msgs = append(msgs, register("batch", i+1))
			raw = append(raw, frameBytes(true, ws.OpText, []byte(msgs[i]))...)
		}
		if err := c.writeRaw(raw); err != nil {
			t.Fatal(err)
		}
		for i, want := range msgs {
			m := waitMsg(t, e.in, waitLong, "batched REGISTER")
			if string(m.Data) != want {
				t.Fatalf("message %d out of order or changed: %.60q", i, m.Data)
			}
		}
	})
}

func TestNATSToClient(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, nil)
	c := dial(t, e.url("ws", "/"))
	tok := flowOf(t, c, e.in, "n2c-1")

	t.Run("text", func(t *testing.T) {
		resp := []byte(sipResponse("n2c-1"))
		e.out(t, tok, resp)
		op, p := c.readMessage(waitLong)
		if op != ws.OpText {
			t.Errorf("opcode %d, want text", op)
		}
		if !bytes.Equal(p, resp) {
			t.Errorf("payload differs:\n got %q\nwant %q", p, resp)
		}
	})

	t.Run("non-UTF-8 as binary", func(t *testing.T) {
		resp := []byte(sipResponse("n2c-2"))
		resp = append(resp[:len(resp)-len("Content-Length: 0\r\n\r\n")], "Content-Length: 3\r\n\r\n\xff\xfe\x00"...)
		e.out(t, tok, resp)
		op, p := c.readMessage(waitLong)
		if op != ws.OpBinary {
			t.Errorf("opcode %d, want binary", op)
		}
		if !bytes.Equal(p, resp) {
			t.Errorf("payload differs:\n got %q\nwant %q", p, resp)
		}
	})

	t.Run("order kept", func(t *testing.T) {
		var want []string
		for i := range 50 {
			m := sipResponse("order-" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
			want = append(want, m)
			e.out(t, tok, []byte(m))
		}
		for i, w := range want {
			_, p := c.readMessage(waitLong)
			if string(p) != w {
				t.Fatalf("message %d: got %.60q, want %.60q", i, p, w)
			}
		}
	})

	t.Run("other flows not affected", func(t *testing.T) {
		c2 := dial(t, e.url("ws", "/"))
		tok2 := flowOf(t, c2, e.in, "n2c-other")
		e.out(t, tok2, []byte(sipResponse("for-c2")))
		if _, p := c2.readMessage(waitLong); sipHeader(string(p), "Call-ID") != "for-c2" {
			t.Fatalf("c2 got %.60q", p)
		}
		// c has nothing waiting: its next frame is the pong.
		c.ping("nothing-else")
	})
}

// TestSIPFraming: one SIP message per WebSocket message (RFC 7118 §5.1); Content-Length is
// optional but must match when present. What is not one SIP message is dropped and counted.
func TestSIPFraming(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, func(c *config.Config) { c.Listeners[0].Limits.MaxInvalidMessages = 3 })
	noCL := strings.Replace(register("nocl", 1), "Content-Length: 0\r\n", "", 1)
	withBody := strings.Replace(register("body", 1), "Content-Length: 0\r\n\r\n", "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", 1)
	bodyNoCL := strings.Replace(noCL, "\r\n\r\n", "\r\nContent-Type: text/plain\r\n\r\nhello", 1)
	badCL := strings.Replace(register("badcl", 1), "Content-Length: 0", "Content-Length: 10", 1)
	two := register("two-a", 1) + register("two-b", 1)
	tests := []struct {
		name    string
		msg     string
		publish bool
		reason  string // invalid_messages_total reason when dropped
	}{
		{"no Content-Length", noCL, true, ""},
		{"body with Content-Length", withBody, true, ""},
		{"body without Content-Length", bodyNoCL, true, ""},
		{"compact Content-Length", strings.Replace(register("compact", 1), "Content-Length: 0", "l: 0", 1), true, ""},
		{"Content-Length larger than the body", badCL, false, "framing"},
		{"two SIP messages in one", two, false, "framing"},
		{"not SIP", "hello", false, "not_sip"},
		{"HTTP request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false, "not_sip"},
		{"no blank line", strings.TrimSuffix(register("noend", 1), "\r\n"), false, "framing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, e.url("ws", "/"))
			labels := map[string]string{"listener": "ws", "reason": tt.reason}
			before := metricValue(t, e.s, "sipws_edge_invalid_messages_total", labels)
			c.sendText(tt.msg)
			if tt.publish {
				m := waitMsg(t, e.in, waitLong, tt.name)
				if string(m.Data) != tt.msg {
					t.Fatalf("published %.80q, want the message unchanged", m.Data)
				}
				return
			}
			noMsg(t, e.in, quiet, tt.name)
			waitMetric(t, e.s, "sipws_edge_invalid_messages_total", labels, equals(before+1), "dropped message counted")
			c.ping("still-open") // one bad message does not close the flow
		})
	}

	t.Run("line ends alone are ignored", func(t *testing.T) {
		c := dial(t, e.url("ws", "/"))
		for range 5 { // more than maxInvalidMessages
			c.sendText("\r\n")
		}
		c.ping("still-open")
		noMsg(t, e.in, quiet, "CRLF")
	})
}

// TestIPv6Remote: over IPv6 the Sipws-Remote and Sipws-Local headers are "[v6]:port".
func TestIPv6Remote(t *testing.T) {
	t.Parallel()
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	e := newTestEdge(t, func(c *config.Config) {
		c.Listeners[0].Address = "[::1]:0"
	})
	c := dial(t, e.url("ws", "/"))
	msg := register("v6", 1)
	c.sendText(msg)
	m := waitMsgData(t, e.in, []byte(msg), waitLong)
	if got, want := m.Header.Get(bus.HeaderRemote), c.conn.LocalAddr().String(); got != want || !strings.HasPrefix(got, "[::1]:") {
		t.Errorf("%s = %q, want %q", bus.HeaderRemote, got, want)
	}
	if got := m.Header.Get(bus.HeaderLocal); got != e.s.Addr("ws").String() || !strings.HasPrefix(got, "[::1]:") {
		t.Errorf("%s = %q, want %q", bus.HeaderLocal, got, e.s.Addr("ws"))
	}
}
