package server_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/sipws/sipws/edge/config"
)

// bigRegister is a valid REGISTER of about n bytes.
func bigRegister(callID string, n int) string {
	m := register(callID, 1)
	pad := n - len(m) - len("X-Pad: \r\n")
	if pad < 1 {
		return m
	}
	return strings.Replace(m, "Expires: 600\r\n", "Expires: 600\r\nX-Pad: "+strings.Repeat("p", pad)+"\r\n", 1)
}

func limitedEdge(t *testing.T) *testEdge {
	return newTestEdge(t, func(c *config.Config) {
		c.Listeners[0].Limits.MaxMessageBytes = 1024
		c.Listeners[0].Limits.MaxInvalidMessages = 3
	})
}

// TestCloseCodes sends what a client must not and checks the close code the edge answers.
func TestCloseCodes(t *testing.T) {
	t.Parallel()
	e := limitedEdge(t)
	frame := func(fin bool, op ws.OpCode, p string) []byte { return frameBytes(fin, op, []byte(p)) }
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	half := bigRegister("frag-big", 1400)
	unmasked := append([]byte{0x81, 5}, "hello"...)
	tests := []struct {
		name string
		send []byte
		want uint16
	}{
		{"message over maxMessageBytes", frame(true, ws.OpText, bigRegister("big", 2000)), 1009},
		{"binary over maxMessageBytes", frame(true, ws.OpBinary, bigRegister("big", 1025)), 1009},
		{"fragments over maxMessageBytes", cat(frame(false, ws.OpText, half[:700]), frame(true, ws.OpContinuation, half[700:])), 1009},
		{"three fragments over maxMessageBytes", cat(frame(false, ws.OpText, half[:500]), frame(false, ws.OpContinuation, half[500:1000]), frame(true, ws.OpContinuation, half[1000:])), 1009},
		{"invalid UTF-8 text", frame(true, ws.OpText, "REGISTER sip:a SIP/2.0\r\nX: \xff\xfe\r\n\r\n"), 1007},
		{"invalid UTF-8 across fragments", cat(frame(false, ws.OpText, "REGISTER sip:a SIP/2.0\r\nX: \xe2"), frame(true, ws.OpContinuation, "(\r\n\r\n")), 1007},
		{"three non-SIP messages", cat(frame(true, ws.OpText, "hello"), frame(true, ws.OpText, "GET / HTTP/1.1\r\n\r\n"), frame(true, ws.OpBinary, "\x00\x01")), 1008},
		{"unmasked frame", unmasked, 1002},
		{"reserved bit", append([]byte{0xC1}, frame(true, ws.OpText, "x")[1:]...), 1002},
		{"unknown opcode", frame(true, ws.OpCode(0x3), "x"), 1002},
		{"continuation without a message", frame(true, ws.OpContinuation, "x"), 1002},
		{"new message inside a fragmented one", cat(frame(false, ws.OpText, "REG"), frame(true, ws.OpText, "x")), 1002},
		{"fragmented ping", frame(false, ws.OpPing, "x"), 1002},
		{"ping over 125 bytes", frame(true, ws.OpPing, strings.Repeat("x", 126)), 1002},
		{"close with a reserved code", frame(true, ws.OpClose, "\x03\xed"), 1002}, // 1005
		{"close with a one-byte payload", frame(true, ws.OpClose, "\x03"), 1002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels := map[string]string{"code": strconv.Itoa(int(tt.want)), "by": "server"}
			before := metricValue(t, e.s, "sipws_edge_closes_total", labels)
			c := dial(t, e.url("ws", "/"))
			if err := c.writeRaw(tt.send); err != nil {
				t.Fatal(err)
			}
			c.expectClose(tt.want, waitLong)
			waitMetric(t, e.s, "sipws_edge_closes_total", labels, equals(before+1), "close counted")
			noMsg(t, e.in, 0, "nothing published")
		})
	}
	waitFor(t, waitLong, func() bool { return e.s.Flows() == 0 }, "all flows gone (%d left)", e.s.Flows())
	waitMetric(t, e.s, "sipws_edge_flows", map[string]string{"listener": "ws"}, equals(0), "flows gauge back to 0")
}

// TestMessageAtLimit: a message of exactly maxMessageBytes passes, in one frame or in fragments.
func TestMessageAtLimit(t *testing.T) {
	t.Parallel()
	e := limitedEdge(t)
	c := dial(t, e.url("ws", "/"))
	msg := bigRegister("exact", 1024)
	if len(msg) != 1024 {
		t.Fatalf("test message is %d bytes", len(msg))
	}
	c.sendText(msg)
	waitMsgData(t, e.in, []byte(msg), waitLong)
	c.writeFrame(false, ws.OpText, []byte(msg[:512]))
	c.writeFrame(true, ws.OpContinuation, []byte(msg[512:]))
	waitMsgData(t, e.in, []byte(msg), waitLong)
	c.ping("alive")
}

// TestInvalidRunReset: the invalid-message limit counts messages in a row; a valid SIP
// message resets it.
func TestInvalidRunReset(t *testing.T) {
	t.Parallel()
	e := limitedEdge(t)
	c := dial(t, e.url("ws", "/"))
	bad := func() {
		c.sendText("hello there")
		c.sendBinary([]byte("not sip either"))
	}
	bad()
	good := register("run-1", 1)
	c.sendText(good)
	waitMsgData(t, e.in, []byte(good), waitLong)
	bad()
	good2 := register("run-2", 2)
	c.sendText(good2)
	waitMsgData(t, e.in, []byte(good2), waitLong)
	c.ping("still-open")
	waitMetric(t, e.s, "sipws_edge_invalid_messages_total", map[string]string{"listener": "ws"}, equals(4), "invalid messages counted")
	// The third in a row closes.
	bad()
	c.sendText("third")
	c.expectClose(1008, waitLong)
}

// TestClientClose: the edge echoes a client's close and forgets the flow.
func TestClientClose(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, nil)
	tests := []struct {
		name    string
		payload []byte
		echo    uint16
	}{
		{"normal", closePayload(1000), 1000},
		{"going away with reason", append(closePayload(1001), "bye"...), 1001},
		{"no status", nil, 1000},
		{"application code", closePayload(4000), 4000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, e.url("ws", "/"))
			flowOf(t, c, e.in, "close-"+strconv.Itoa(int(tt.echo)))
			waitMetric(t, e.s, "sipws_edge_flows", map[string]string{"listener": "ws"}, equals(1), "one flow")
			c.writeFrame(true, ws.OpClose, tt.payload)
			code, reason, err := c.awaitClose(waitLong)
			if err != nil {
				t.Fatalf("no close echo: %v", err)
			}
			if code != tt.echo {
				t.Errorf("echoed close %d %q, want %d", code, reason, tt.echo)
			}
			c.expectEOF(waitLong)
			waitFor(t, waitLong, func() bool { return e.s.Flows() == 0 }, "flow forgotten")
			waitMetric(t, e.s, "sipws_edge_flows", map[string]string{"listener": "ws"}, equals(0), "flows gauge back to 0")
		})
	}
}

// TestClientCloseWithBacklog: a client closes while the edge still has messages queued for
// it (the client was slow to read). The edge must still answer with a close frame: the
// client reads what was sent and then the close echo, not a bare EOF.
func TestClientCloseWithBacklog(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, func(c *config.Config) {
		c.Listeners[0].Limits.MaxMessageBytes = 64 << 10
		c.Listeners[0].Limits.SendQueueBytes = 16 << 20
	})
	c := dial(t, e.url("ws", "/"), withSmallReceiveBuffer())
	tok := flowOf(t, c, e.in, "backlog")
	const n = 150 // about 9 MB: more than the socket buffers hold
	big := []byte(sipResponse("backlog") + strings.Repeat("q", 60<<10))
	for range n {
		e.out(t, tok, big)
	}
	waitMetric(t, e.s, "sipws_edge_messages_out_total", map[string]string{"listener": "ws"}, equals(n), "all messages written or queued")
	c.sendClose(1000)
	deadline := time.Now().Add(waitLong)
	data := 0
	for {
		h, p, err := c.readFrame(time.Until(deadline))
		if err != nil {
			t.Fatalf("after %d data messages: %v (no close frame answered the client's close)", data, err)
		}
		if h.OpCode == ws.OpClose {
			if code, _ := parseClose(p); code != 1000 {
				t.Errorf("close echo %d, want 1000", code)
			}
			break
		}
		if h.OpCode == ws.OpText {
			if string(p) != string(big) {
				t.Fatalf("message %d corrupted (%d bytes)", data, len(p))
			}
			data++
		}
	}
	waitFor(t, waitLong, func() bool { return e.s.Flows() == 0 }, "flow forgotten")
}
