package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/sipws/sipws/edge/bus"
	"github.com/sipws/sipws/edge/certgen"
	"github.com/sipws/sipws/edge/config"
)

// selfSigned writes a self-signed certificate for hosts into dir.
func selfSigned(t testing.TB, dir string, hosts ...string) config.Certificate {
	t.Helper()
	cert, key, err := certgen.EnsureSelfSigned(dir, hosts)
	if err != nil {
		t.Fatalf("certificate: %v", err)
	}
	return config.Certificate{CertFile: cert, KeyFile: key}
}

func wssListener(name string, certs ...config.Certificate) config.Listener {
	return config.Listener{Name: name, Address: "127.0.0.1:0", Protocol: "wss", TLS: &config.TLS{Certificates: certs}}
}

func tlsVersion(v uint16) *tls.Config {
	return &tls.Config{MinVersion: v, MaxVersion: v, InsecureSkipVerify: true}
}

// wssEdge has a "ws" listener and a "wss" listener with a localhost certificate; messages up
// to 256 KiB.
func wssEdge(t *testing.T, certDir string) *testEdge {
	t.Helper()
	cert := selfSigned(t, certDir, "localhost", "127.0.0.1")
	return newTestEdge(t, func(c *config.Config) {
		wss := wssListener("wss", cert)
		wss.Limits.MaxMessageBytes = 256 << 10
		wss.Limits.SendQueueBytes = 1 << 20
		wss.Limits.MessageBurst = 1000 // exchange sends 300 requests in one write
		c.Listeners = append(c.Listeners, wss)
	})
}

// exchange checks messages both ways on a flow, including a 100 KB one each way and a run of
// many messages.
func exchange(t *testing.T, e *testEdge, c *client, tag string) string {
	t.Helper()
	msg := register(tag, 1)
	c.sendText(msg)
	m := waitMsgData(t, e.in, []byte(msg), waitLong)
	if got := m.Header.Get(bus.HeaderTransport); got != "wss" {
		t.Errorf("%s = %q, want wss", bus.HeaderTransport, got)
	}
	if got := m.Header.Get(bus.HeaderListener); got != "wss" {
		t.Errorf("%s = %q, want wss", bus.HeaderListener, got)
	}
	if got := m.Header.Get(bus.HeaderRemote); got != c.conn.LocalAddr().String() {
		t.Errorf("%s = %q, want %q", bus.HeaderRemote, got, c.conn.LocalAddr())
	}
	tok := m.Header.Get(bus.HeaderFlow)

	resp := sipResponse(tag)
	e.out(t, tok, []byte(resp))
	if op, p := c.readMessage(waitLong); op != ws.OpText || string(p) != resp {
		t.Fatalf("client got op %d %.80q", op, p)
	}

	// 100 KB each way.
	big := bigRegister(tag+"-big", 100<<10)
	c.sendText(big)
	waitMsgData(t, e.in, []byte(big), waitLong)
	bigResp := strings.Replace(sipResponse(tag+"-big"), "Content-Length: 0\r\n\r\n", fmt.Sprintf("Content-Length: %d\r\n\r\n", 100<<10), 1) + strings.Repeat("b", 100<<10)
	e.out(t, tok, []byte(bigResp))
	if _, p := c.readMessage(waitLong); string(p) != bigResp {
		t.Fatalf("client got %d bytes, want the %d-byte message", len(p), len(bigResp))
	}

	// Many in a row, both ways.
	const many = 300
	var sent [][]byte
	var raw []byte
	for i := range many {
		m := []byte(register(fmt.Sprintf("%s-many-%d", tag, i), i+1))
		sent = append(sent, m)
		raw = append(raw, frameBytes(true, ws.OpText, m)...)
	}
	if err := c.writeRaw(raw); err != nil {
		t.Fatal(err)
	}
	for i := range many {
		m := waitMsg(t, e.in, waitLong, "one of many")
		if !bytes.Equal(m.Data, sent[i]) {
			t.Fatalf("message %d of %d: %.60q", i, many, m.Data)
		}
	}
	for i := range many {
		e.out(t, tok, []byte(sipResponse(fmt.Sprintf("%s-out-%d", tag, i))))
	}
	for i := range many {
		_, p := c.readMessage(waitLong)
		if want := fmt.Sprintf("%s-out-%d", tag, i); sipHeader(string(p), "Call-ID") != want {
			t.Fatalf("message %d of %d to the client: %.80q", i, many, p)
		}
	}
	c.ping(tag)
	return tok
}

func TestWSSTLS13(t *testing.T) {
	t.Parallel()
	e := wssEdge(t, t.TempDir())
	c := dial(t, e.url("wss", "/"), withTLS(tlsVersion(tls.VersionTLS13)))
	if st := c.conn.(*tls.Conn).ConnectionState(); st.Version != tls.VersionTLS13 {
		t.Fatalf("negotiated %#x, want TLS 1.3", st.Version)
	}
	exchange(t, e, c, "tls13")
	waitMetric(t, e.s, "sipws_edge_tls_flows_total", map[string]string{"mode": "detached"}, equals(1), "detached flow counted")
	if v := metricValue(t, e.s, "sipws_edge_tls_flows_total", map[string]string{"mode": "stream"}); v != 0 {
		t.Errorf("stream flows %v, want 0", v)
	}
	c.sendClose(1000)
	c.expectClose(1000, waitLong)
	waitFor(t, waitLong, func() bool { return e.s.Flows() == 0 }, "flow forgotten")
}

func TestWSSTLS12Stream(t *testing.T) {
	t.Parallel()
	e := wssEdge(t, t.TempDir())
	c := dial(t, e.url("wss", "/"), withTLS(tlsVersion(tls.VersionTLS12)))
	if st := c.conn.(*tls.Conn).ConnectionState(); st.Version != tls.VersionTLS12 {
		t.Fatalf("negotiated %#x, want TLS 1.2", st.Version)
	}
	exchange(t, e, c, "tls12")
	waitMetric(t, e.s, "sipws_edge_tls_flows_total", map[string]string{"mode": "stream"}, equals(1), "stream flow counted")

	// A client close is echoed and the flow is forgotten.
	c.sendClose(1000)
	code, reason, err := c.awaitClose(waitLong)
	if err != nil {
		t.Errorf("TLS 1.2 flow: no close echo after the client's close: %v", err)
	} else if code != 1000 {
		t.Errorf("TLS 1.2 flow: echoed close %d %q, want 1000", code, reason)
	}
	waitFor(t, waitLong, func() bool { return e.s.Flows() == 0 }, "flow forgotten")
}

// TestWSSTLS12ServerClose: server-initiated closes reach TLS 1.2 clients too.
func TestWSSTLS12ServerClose(t *testing.T) {
	t.Parallel()
	cert := selfSigned(t, t.TempDir(), "localhost", "127.0.0.1")
	e := newTestEdge(t, func(c *config.Config) {
		wss := wssListener("wss", cert)
		wss.Limits.MaxMessageBytes = 1024
		c.Listeners = append(c.Listeners, wss)
	})
	c := dial(t, e.url("wss", "/"), withTLS(tlsVersion(tls.VersionTLS12)))
	c.ping("x")
	c.sendText(bigRegister("too-big", 2000))
	c.expectClose(1009, waitLong)
	waitFor(t, waitLong, func() bool { return e.s.Flows() == 0 }, "flow forgotten")
}

func TestWSSSNI(t *testing.T) {
	t.Parallel()
	a := selfSigned(t, t.TempDir(), "a.example.test")
	b := selfSigned(t, t.TempDir(), "b.example.test")
	w := selfSigned(t, t.TempDir(), "*.wild.example.test")
	e := newTestEdge(t, func(c *config.Config) {
		c.Listeners = append(c.Listeners, wssListener("wss", a, b, w))
	})
	addr := e.s.Addr("wss").String()
	tests := []struct {
		serverName string
		want       string // a DNS name of the expected leaf
	}{
		{"a.example.test", "a.example.test"},
		{"b.example.test", "b.example.test"},
		{"B.Example.Test", "b.example.test"},
		{"x.wild.example.test", "*.wild.example.test"},
		{"unknown.example.test", "a.example.test"}, // the first certificate is the default
		{"", "a.example.test"},
	}
	for _, tt := range tests {
		t.Run(tt.serverName, func(t *testing.T) {
			for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
				leaf := serverLeaf(t, addr, tt.serverName, v)
				if !slices.Contains(leaf.DNSNames, tt.want) {
					t.Errorf("TLS %#x, SNI %q: leaf for %v, want %s", v, tt.serverName, leaf.DNSNames, tt.want)
				}
			}
			// And a full WebSocket flow with that name.
			cfg := tlsVersion(tls.VersionTLS13)
			cfg.ServerName = tt.serverName
			if tt.serverName == "" {
				cfg.ServerName = "127.0.0.1"
			}
			c := dial(t, e.url("wss", "/"), withTLS(cfg))
			c.ping("sni")
		})
	}
}

// serverLeaf does a TLS handshake with addr and returns the leaf certificate served.
func serverLeaf(t testing.TB, addr, serverName string, version uint16) *x509.Certificate {
	t.Helper()
	cfg := tlsVersion(version)
	cfg.ServerName = serverName
	d := &net.Dialer{Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("TLS handshake (SNI %q): %v", serverName, err)
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
}

func TestWSSCertificateRotation(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tls")
	e := wssEdge(t, dir)
	addr := e.s.Addr("wss").String()
	old := serverLeaf(t, addr, "localhost", tls.VersionTLS13)

	c13 := dial(t, e.url("wss", "/"), withTLS(tlsVersion(tls.VersionTLS13)))
	tok13 := flowOf(t, c13, e.in, "rot-13")
	c12 := dial(t, e.url("wss", "/"), withTLS(tlsVersion(tls.VersionTLS12)))
	tok12 := flowOf(t, c12, e.in, "rot-12")

	// New hosts make EnsureSelfSigned write a new pair over the old files.
	selfSigned(t, dir, "localhost", "127.0.0.1", "rotated.example.test")
	// Polled 5 times a second: every probe is a handshake from 127.0.0.1 and counts against
	// the per-IP handshake rate (50/s, burst 100), which the dials below need too.
	var leaf *x509.Certificate
	for deadline := time.Now().Add(waitLong); ; time.Sleep(200 * time.Millisecond) {
		if leaf = serverLeaf(t, addr, "localhost", tls.VersionTLS13); leaf.SerialNumber.Cmp(old.SerialNumber) != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new handshakes still see the old certificate after %s", waitLong)
		}
	}
	if !slices.Contains(leaf.DNSNames, "rotated.example.test") {
		t.Errorf("rotated leaf names %v", leaf.DNSNames)
	}
	waitMetric(t, e.s, "sipws_edge_config_reloads_total", map[string]string{"what": "certificates", "result": "ok"}, atLeast(1), "rotation counted")

	// Flows opened before the rotation keep working both ways.
	for _, f := range []struct {
		c   *client
		tok string
	}{{c13, tok13}, {c12, tok12}} {
		msg := register("after-rotation-"+f.tok[:4], 2)
		f.c.sendText(msg)
		m := waitMsgData(t, e.in, []byte(msg), waitLong)
		if m.Header.Get(bus.HeaderFlow) != f.tok {
			t.Errorf("flow token changed: %q, want %q", m.Header.Get(bus.HeaderFlow), f.tok)
		}
		resp := sipResponse("after-rotation")
		e.out(t, f.tok, []byte(resp))
		if _, p := f.c.readMessage(waitLong); string(p) != resp {
			t.Fatalf("old flow got %.60q", p)
		}
	}
	// And a new flow works with the new certificate.
	c := dial(t, e.url("wss", "/"), withTLS(tlsVersion(tls.VersionTLS13)))
	if got := c.conn.(*tls.Conn).ConnectionState().PeerCertificates[0]; got.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("new flow served serial %v, want %v", got.SerialNumber, leaf.SerialNumber)
	}
	flowOf(t, c, e.in, "rot-new")
}

// TestWSSIdleAndDisconnect: idle timeout and client disconnects on both WSS record layers.
func TestWSSIdleAndDisconnect(t *testing.T) {
	t.Parallel()
	cert := selfSigned(t, t.TempDir(), "localhost", "127.0.0.1")
	e := newTestEdge(t, func(c *config.Config) {
		c.Listeners = append(c.Listeners, wssListener("wss", cert))
		c.KeepAlive = config.KeepAlive{PingInterval: config.D(time.Second), IdleTimeout: config.D(2 * time.Second)}
	})
	notices := subscribe(t, e.nc, e.s.Subjects().Node(testNode))
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(fmt.Sprintf("TLS %#x idle", v), func(t *testing.T) {
			c := dial(t, e.url("wss", "/"), withTLS(tlsVersion(v)))
			tok := flowOf(t, c, e.in, fmt.Sprintf("idle-%x", v))
			code, reason, err := c.awaitClose(waitLong) // pings are read, never answered
			if err != nil || code != 1001 {
				t.Fatalf("idle close %d %q %v, want 1001", code, reason, err)
			}
			c.expectEOF(waitLong) // the client never answers the close either
			waitNotice(t, notices, bus.EventFlowClosed, tok, waitLong)
		})
		t.Run(fmt.Sprintf("TLS %#x disconnect", v), func(t *testing.T) {
			c := dial(t, e.url("wss", "/"), withTLS(tlsVersion(v)))
			tok := flowOf(t, c, e.in, fmt.Sprintf("drop-%x", v))
			c.conn.Close() // close_notify, then FIN; no WebSocket close
			waitNotice(t, notices, bus.EventFlowClosed, tok, waitLong)
			e.out(t, tok, []byte(sipResponse("gone")))
			waitNotice(t, notices, bus.EventFlowFailed, tok, waitLong)
		})
	}
	waitFor(t, waitLong, func() bool { return e.s.Flows() == 0 }, "no flows left (%d)", e.s.Flows())
}
