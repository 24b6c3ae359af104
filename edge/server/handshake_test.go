package server_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/sipws/sipws/edge/config"
)

// TestHandshake runs one upgrade request per row against an edge with a "ws" listener on
// path /sip (any origin) and a "strict" listener on / that allows one origin, and checks the
// HTTP answer and the handshake metric.
func TestHandshake(t *testing.T) {
	t.Parallel()
	const allowed = "https://app.example.com"
	e := newTestEdge(t, func(c *config.Config) {
		ws := wsListener("ws")
		ws.Path = "/sip"
		strict := wsListener("strict")
		strict.AllowedOrigins = []string{allowed}
		c.Listeners = []config.Listener{ws, strict}
	})
	tests := []struct {
		name     string
		listener string
		path     string
		headers  []string
		status   int
		result   string // sipws_edge_handshakes_total result label
	}{
		{"sip offered", "ws", "/sip", []string{"Sec-WebSocket-Protocol: sip"}, 101, "ok"},
		{"sip among others", "ws", "/sip", []string{"Sec-WebSocket-Protocol: foo, sip"}, 101, "ok"},
		{"sip in a second header line", "ws", "/sip", []string{"Sec-WebSocket-Protocol: foo", "Sec-WebSocket-Protocol: sip"}, 101, "ok"},
		{"no subprotocol", "ws", "/sip", nil, 400, "no_sip_subprotocol"},
		{"only other subprotocols", "ws", "/sip", []string{"Sec-WebSocket-Protocol: foo, bar"}, 400, "no_sip_subprotocol"},
		{"sip as a substring only", "ws", "/sip", []string{"Sec-WebSocket-Protocol: sips, xsip"}, 400, "no_sip_subprotocol"},
		{"wrong path", "ws", "/other", []string{"Sec-WebSocket-Protocol: sip"}, 404, "bad_path"},
		{"path prefix is not the path", "ws", "/sip/x", []string{"Sec-WebSocket-Protocol: sip"}, 404, "bad_path"},
		{"path with query", "ws", "/sip?user=alice&t=1", []string{"Sec-WebSocket-Protocol: sip"}, 101, "ok"},
		{"origin not allowed", "strict", "/", []string{"Sec-WebSocket-Protocol: sip", "Origin: https://evil.example.com"}, 403, "bad_origin"},
		{"origin missing on a strict listener", "strict", "/", []string{"Sec-WebSocket-Protocol: sip"}, 403, "bad_origin"},
		{"origin allowed", "strict", "/", []string{"Sec-WebSocket-Protocol: sip", "Origin: " + allowed}, 101, "ok"},
		{"origin allowed, default port", "strict", "/", []string{"Sec-WebSocket-Protocol: sip", "Origin: https://APP.example.com:443"}, 101, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels := map[string]string{"listener": tt.listener, "result": tt.result}
			before := metricValue(t, e.s, "sipws_edge_handshakes_total", labels)
			resp, conn := rawHandshake(t, e.s.Addr(tt.listener).String(), tt.path, tt.headers...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, resp.Status, tt.status)
			}
			proto := resp.Header.Values("Sec-WebSocket-Protocol")
			if tt.status == 101 {
				if len(proto) != 1 || proto[0] != "sip" {
					t.Errorf("Sec-WebSocket-Protocol %q, want [sip]", proto)
				}
				// The upgraded flow works: a ping is answered.
				c := &client{t: t, conn: conn, r: conn}
				c.ping("hs")
			} else {
				if len(proto) != 0 {
					// RFC 6455 §4.2.2: never answer a subprotocol on a refusal.
					t.Errorf("refusal carries Sec-WebSocket-Protocol %q", proto)
				}
				if resp.Header.Get("Upgrade") != "" || resp.Header.Get("Sec-WebSocket-Accept") != "" {
					t.Errorf("refusal carries upgrade headers: %v", resp.Header)
				}
				// The edge closes a refused connection.
				_ = conn.SetReadDeadline(time.Now().Add(waitLong))
				_, _ = io.Copy(io.Discard, resp.Body)
				var one [1]byte
				if _, err := conn.Read(one[:]); err == nil {
					t.Errorf("refused connection still open")
				} else if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
					t.Errorf("refused connection not closed within %s", waitLong)
				}
			}
			waitMetric(t, e.s, "sipws_edge_handshakes_total", labels, equals(before+1), "counted once")
		})
	}
}

// TestHandshakeLimits checks the admission limits: each refusal is a 503 with Retry-After,
// counted by reason.
func TestHandshakeLimits(t *testing.T) {
	t.Parallel()
	sip := "Sec-WebSocket-Protocol: sip"
	tests := []struct {
		name   string
		limits config.Limits
		open   int // handshakes done (and kept open) before the refused one
		result string
		retry  string
	}{
		{"per-IP connections", config.Limits{MaxConnectionsPerIP: 1}, 1, "ip_limit", "10"},
		{"listener connections", config.Limits{MaxConnections: 1}, 1, "listener_limit", "10"},
		{"per-IP handshake burst", config.Limits{HandshakeBurstPerIP: 2, HandshakesPerSecondPerIP: 0.1}, 2, "ip_rate", "10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEdge(t, func(c *config.Config) { c.Listeners[0].Limits = tt.limits })
			addr := e.s.Addr("ws").String()
			for i := range tt.open {
				resp, conn := rawHandshake(t, addr, "/", sip)
				if resp.StatusCode != 101 {
					t.Fatalf("handshake %d: status %d, want 101", i+1, resp.StatusCode)
				}
				c := &client{t: t, conn: conn, r: conn}
				c.ping("open")
			}
			resp, _ := rawHandshake(t, addr, "/", sip)
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", resp.StatusCode)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.retry {
				t.Errorf("Retry-After %q, want %q", got, tt.retry)
			}
			if len(resp.Header.Values("Sec-WebSocket-Protocol")) != 0 {
				t.Errorf("503 carries Sec-WebSocket-Protocol")
			}
			waitMetric(t, e.s, "sipws_edge_handshakes_total", map[string]string{"listener": "ws", "result": tt.result}, equals(1), "refusal counted")
			waitMetric(t, e.s, "sipws_edge_handshakes_total", map[string]string{"listener": "ws", "result": "ok"}, equals(float64(tt.open)), "admitted counted")
		})
	}
}

// TestHandshakeLimitReleased checks that a closed flow gives its per-IP slot back.
func TestHandshakeLimitReleased(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, func(c *config.Config) { c.Listeners[0].Limits.MaxConnectionsPerIP = 1 })
	addr := e.s.Addr("ws").String()
	c := dial(t, e.url("ws", "/"))
	c.sendClose(1000)
	c.expectClose(1000, waitLong)
	waitFor(t, waitLong, func() bool { return e.s.Flows() == 0 }, "flow gone")
	// Refused handshakes give their slot back too.
	for _, h := range [][]string{nil, {"Sec-WebSocket-Protocol: foo"}} {
		resp, _ := rawHandshake(t, addr, "/", h...)
		if resp.StatusCode != 400 {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
	}
	resp, _ := rawHandshake(t, addr, "/nowhere", "Sec-WebSocket-Protocol: sip")
	if resp.StatusCode != 404 {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
	waitMetric(t, e.s, "sipws_edge_handshakes_total", map[string]string{"listener": "ws", "result": "bad_path"}, equals(1), "404 counted")
	c2 := dial(t, e.url("ws", "/"))
	c2.ping("again")
	// And the slot is taken again.
	resp, _ = rawHandshake(t, addr, "/", "Sec-WebSocket-Protocol: sip")
	if resp.StatusCode != 503 {
		t.Fatalf("second concurrent connection: status %d, want 503", resp.StatusCode)
	}
}

// TestHandshakeWSSRefusals: a client speaking plain HTTP to a WSS listener is counted as a TLS
// error; refusals after TLS carry their status like on WS.
func TestHandshakeWSSRefusals(t *testing.T) {
	t.Parallel()
	cert := selfSigned(t, t.TempDir(), "localhost", "127.0.0.1")
	e := newTestEdge(t, func(c *config.Config) {
		c.Listeners = append(c.Listeners, wssListener("wss", cert))
	})
	addr := e.s.Addr("wss").String()
	if resp, conn, err := rawHandshakeErr(addr, "/", "Sec-WebSocket-Protocol: sip"); err == nil {
		conn.Close()
		t.Fatalf("plain HTTP on the WSS port got %s", resp.Status)
	}
	waitMetric(t, e.s, "sipws_edge_handshakes_total", map[string]string{"listener": "wss", "result": "tls_error"}, equals(1), "TLS error counted")

	_, err := dialErr(e.url("wss", "/"), withTLS(&tls.Config{InsecureSkipVerify: true}), func(d *ws.Dialer) { d.Protocols = []string{"foo"} })
	if err == nil {
		t.Fatal("WSS handshake without sip was upgraded")
	}
	waitMetric(t, e.s, "sipws_edge_handshakes_total", map[string]string{"listener": "wss", "result": "no_sip_subprotocol"}, equals(1), "refusal counted")
	c := dial(t, e.url("wss", "/"), withTLS(&tls.Config{InsecureSkipVerify: true}))
	c.ping("ok")
}

// TestHandshakeTimeout: a client that connects and sends nothing is closed after the
// handshake timeout, counted as "timeout".
func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, func(c *config.Config) { c.Listeners[0].Limits.HandshakeTimeout = config.D(time.Second) })
	conn, err := net.DialTimeout("tcp", e.s.Addr("ws").String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(waitLong))
	n, err := conn.Read(make([]byte, 512))
	if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("silent connection still open after %s", waitLong)
	}
	if n != 0 {
		t.Errorf("edge sent %d bytes to a client that sent no request", n)
	}
	waitMetric(t, e.s, "sipws_edge_handshakes_total", map[string]string{"listener": "ws", "result": "timeout"}, equals(1), "timeout counted")

	// A partial request times out the same way.
	conn2, err := net.DialTimeout("tcp", e.s.Addr("ws").String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if _, err := conn2.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn2.SetReadDeadline(time.Now().Add(waitLong))
	_, err = io.Copy(io.Discard, conn2)
	if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("half-sent handshake still open after %s", waitLong)
	}
	waitMetric(t, e.s, "sipws_edge_handshakes_total", map[string]string{"listener": "ws", "result": "timeout"}, equals(2), "second timeout counted")
}
