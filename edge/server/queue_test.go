package server_test

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/sipws/sipws/edge/bus"
	"github.com/sipws/sipws/edge/config"
)

// TestSendQueueOverflow: a client that stops reading is closed once its send queue passes
// the bound, and counted; another client on the edge keeps getting its messages.
func TestSendQueueOverflow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		listener string
		tls      uint16
	}{
		{"ws", "ws", 0},
		{"wss TLS 1.3", "wss", tls.VersionTLS13},
		{"wss TLS 1.2", "wss", tls.VersionTLS12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sendQueueOverflow(t, tt.listener, tt.tls)
		})
	}
}

func sendQueueOverflow(t *testing.T, listener string, version uint16) {
	cert := selfSigned(t, t.TempDir(), "localhost", "127.0.0.1")
	e := newTestEdge(t, func(c *config.Config) {
		c.Listeners = append(c.Listeners, wssListener("wss", cert))
		for i := range c.Listeners {
			c.Listeners[i].Limits.MaxMessageBytes = 64 << 10
			c.Listeners[i].Limits.SendQueueBytes = 64 << 10
		}
	})
	var opts []dialOpt
	if version != 0 {
		opts = append(opts, withTLS(tlsVersion(version)))
	}
	notices := subscribe(t, e.nc, e.s.Subjects().Node(testNode))
	stuck := dial(t, e.url(listener, "/"), append(opts, withSmallReceiveBuffer())...)
	stuckTok := flowOf(t, stuck, e.in, "stuck")
	normal := dial(t, e.url(listener, "/"), opts...)
	normalTok := flowOf(t, normal, e.in, "normal")

	// The normal client reads everything sent to it.
	type got struct {
		callID string
		err    error
	}
	received := make(chan got, 4096)
	go func() {
		for {
			h, p, err := normal.readFrame(waitLong)
			if err != nil {
				received <- got{err: err}
				return
			}
			if h.OpCode == ws.OpText {
				received <- got{callID: sipHeader(string(p), "Call-ID")}
			}
		}
	}()

	big := []byte(sipResponse("flood") + strings.Repeat("f", 60<<10))
	sentNormal := 0
	// Kernel socket buffers take several MB before the edge has to queue at all.
	deadline := time.Now().Add(3 * waitLong)
	for i := 0; e.s.Flows() == 2; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("a client that never reads is still open after %d messages of %d bytes", i, len(big))
		}
		e.out(t, stuckTok, big)
		if i%10 == 0 {
			e.out(t, normalTok, []byte(sipResponse(fmt.Sprintf("normal-%d", sentNormal))))
			sentNormal++
			if err := e.nc.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitMetric(t, e.s, "sipws_edge_send_queue_drops_total", map[string]string{"listener": listener}, atLeast(1), "drop counted")
	n, _ := waitNotice(t, notices, bus.EventFlowClosed, stuckTok, waitLong)
	if n.Flow != stuckTok {
		t.Fatalf("flow-closed for %q", n.Flow)
	}

	// The normal client got every message, in order, and still does.
	e.out(t, normalTok, []byte(sipResponse("normal-last")))
	for i := 0; i <= sentNormal; i++ {
		want := fmt.Sprintf("normal-%d", i)
		if i == sentNormal {
			want = "normal-last"
		}
		select {
		case g := <-received:
			if g.err != nil {
				t.Fatalf("normal client: %v", g.err)
			}
			if g.callID != want {
				t.Fatalf("normal client got %q, want %q", g.callID, want)
			}
		case <-time.After(waitLong):
			t.Fatalf("normal client did not get %s", want)
		}
	}
	if e.s.Flows() != 1 {
		t.Errorf("flows %d, want 1", e.s.Flows())
	}
}
