package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sipws/sipws/edge/config"
)

// TestDemoPage: a listener with demo on answers plain GETs with the demo page and still
// upgrades WebSocket handshakes on the same port; without demo a plain GET is refused as
// before (no page served in production configurations).
func TestDemoPage(t *testing.T) {
	e := newTestEdge(t, func(c *config.Config) {
		demo := wsListener("demo")
		demo.Demo = true
		c.Listeners = append(c.Listeners, demo)
	})
	httpURL := func(listener, path string) string {
		return "http://" + e.s.Addr(listener).String() + path
	}
	for _, tc := range []struct {
		listener, path string
		status         int
		contains       string
	}{
		{"demo", "/demo/", http.StatusOK, "sipws demo softphone"},
		{"demo", "/demo", http.StatusOK, "jssip.min.js"},
		{"demo", "/demo/demo.js?v=1", http.StatusOK, "JsSIP.UA"},
		{"demo", "/demo/jssip.min.js", http.StatusOK, ""},
		{"demo", "/demo/missing.js", http.StatusNotFound, ""},
		{"demo", "/demo/../../etc/passwd", http.StatusNotFound, ""},
		{"demo", "/", http.StatusOK, "sipws demo softphone"}, // 302 to /demo/, followed
		{"ws", "/demo/", http.StatusNotFound, ""},            // the upgrader: no WebSocket endpoint there
	} {
		t.Run(tc.listener+tc.path, func(t *testing.T) {
			st, err := httpStatus(httpURL(tc.listener, tc.path))
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			if st != tc.status {
				t.Fatalf("status %d, want %d", st, tc.status)
			}
			if tc.contains != "" {
				if body := httpGetBody(t, httpURL(tc.listener, tc.path)); !strings.Contains(body, tc.contains) {
					t.Fatalf("body does not contain %q", tc.contains)
				}
			}
		})
	}
	// The WebSocket endpoint of the demo listener still works.
	c := dial(t, e.url("demo", "/"))
	c.sendText("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:x>\r\nCall-ID: demo1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	waitMsg(t, e.in, waitLong, "OPTIONS from the demo listener's WebSocket")
}
