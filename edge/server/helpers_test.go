package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sipws/sipws/edge/bus"
	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/internal/natstest"
	"github.com/sipws/sipws/edge/internal/testlog"
	"github.com/sipws/sipws/edge/server"
)

const (
	testGateway = "gw"
	testNode    = "edge1"
	// waitLong bounds every wait for something that must happen.
	waitLong = 10 * time.Second
	// quiet is how long a test watches for something that must not happen.
	quiet = 500 * time.Millisecond
)

// testLogger discards logs unless SIPWS_TEST_LOG is set.
func testLogger() *slog.Logger { return testlog.Logger() }

// ---- NATS ----

// startNATS runs an in-process nats-server on a random port.
func startNATS(t testing.TB) *natsserver.Server {
	t.Helper()
	return startNATSAt(t, "127.0.0.1:0")
}

// startNATSAt runs an in-process nats-server on addr; it is shut down at the end of the test.
func startNATSAt(t testing.TB, addr string) *natsserver.Server { return natstest.Start(t, addr) }

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// natsConnect is the test's own NATS client (the routers' side); it reconnects forever.
func natsConnect(t testing.TB, url string) *nats.Conn {
	return natstest.Connect(t, url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectBufSize(-1))
}

// subscribe subscribes to subj and returns the channel its messages arrive on.
func subscribe(t testing.TB, nc *nats.Conn, subj string) chan *nats.Msg {
	return natstest.Subscribe(t, nc, subj, 65536)
}

// waitMsg waits for the next message on ch.
func waitMsg(t testing.TB, ch chan *nats.Msg, timeout time.Duration, what string) *nats.Msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(timeout):
		t.Fatalf("no NATS message (%s) within %s", what, timeout)
		return nil
	}
}

// waitMsgData waits for a message whose payload is data, skipping others.
func waitMsgData(t testing.TB, ch chan *nats.Msg, data []byte, timeout time.Duration) *nats.Msg {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-ch:
			if bytes.Equal(m.Data, data) {
				return m
			}
		case <-deadline:
			t.Fatalf("no NATS message with payload %.60q within %s", data, timeout)
			return nil
		}
	}
}

// noMsg checks that nothing arrives on ch during d.
func noMsg(t testing.TB, ch chan *nats.Msg, d time.Duration, what string) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected NATS message (%s) on %s: %.80q", what, m.Subject, m.Data)
	case <-time.After(d):
	}
}

// waitNotice reads node notices until one with event (and flow, when not empty) arrives.
func waitNotice(t testing.TB, ch chan *nats.Msg, event, flow string, timeout time.Duration) (bus.Notice, *nats.Msg) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-ch:
			if m.Header.Get(bus.HeaderEvent) != event {
				continue
			}
			var n bus.Notice
			if err := json.Unmarshal(m.Data, &n); err != nil {
				t.Fatalf("notice %q is not JSON: %v", m.Data, err)
			}
			if flow != "" && n.Flow != flow {
				continue
			}
			return n, m
		case <-deadline:
			t.Fatalf("no %s notice (flow %q) within %s", event, flow, timeout)
			return bus.Notice{}, nil
		}
	}
}

// ---- edge ----

// wsListener is a plain WS listener on a random port.
func wsListener(name string) config.Listener {
	return config.Listener{Name: name, Address: "127.0.0.1:0", Protocol: "ws"}
}

// newConfig is an edge configuration on natsURL with the given listeners (one "ws" listener
// when none); the caller adjusts it before startEdge applies the defaults.
func newConfig(natsURL string, listeners ...config.Listener) *config.Config {
	if len(listeners) == 0 {
		listeners = []config.Listener{wsListener("ws")}
	}
	return &config.Config{
		Gateway:      testGateway,
		Node:         testNode,
		Listeners:    listeners,
		DrainTimeout: config.D(time.Second),
		NATS:         config.NATS{URL: natsURL},
		Admin:        config.Admin{Address: "127.0.0.1:0"},
	}
}

// startEdge defaults cfg, starts an edge and shuts it down at the end of the test.
func startEdge(t testing.TB, cfg *config.Config) *server.Server {
	t.Helper()
	cfg.Default()
	s, err := server.New(cfg, server.Options{Logger: testLogger()})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx) // an error only says a test shut it down already
	})
	waitFor(t, waitLong, s.Ready, "edge ready")
	return s
}

// testEdge is the common case: NATS, an edge with one "ws" listener, and a NATS client.
type testEdge struct {
	ns  *natsserver.Server
	s   *server.Server
	nc  *nats.Conn
	in  chan *nats.Msg // every client message of the gateway
	cfg *config.Config
}

func newTestEdge(t testing.TB, adjust func(*config.Config)) *testEdge {
	t.Helper()
	ns := startNATS(t)
	cfg := newConfig(ns.ClientURL())
	if adjust != nil {
		adjust(cfg)
	}
	s := startEdge(t, cfg)
	nc := natsConnect(t, ns.ClientURL())
	return &testEdge{ns: ns, s: s, nc: nc, in: subscribe(t, nc, s.Subjects().InAll()), cfg: cfg}
}

func (e *testEdge) url(listener, path string) string { return edgeURL(e.s, listener, path) }

// out publishes data to the flow token on this edge.
func (e *testEdge) out(t testing.TB, token string, data []byte) {
	t.Helper()
	if err := e.nc.Publish(e.s.Subjects().Out(e.s.Node(), token), data); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// edgeURL is the ws:// or wss:// URL of a listener.
func edgeURL(s *server.Server, listener, path string) string {
	addr := s.Addr(listener)
	if addr == nil {
		panic("no listener " + listener)
	}
	scheme := "ws"
	if strings.HasPrefix(listener, "wss") {
		scheme = "wss"
	}
	return scheme + "://" + addr.String() + path
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, fmt.Sprintf(format, args...))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- metrics ----

// metricValue scrapes the edge's /metrics and sums the series called name whose labels
// include every pair in labels; 0 when none exists.
func metricValue(t testing.TB, s *server.Server, name string, labels map[string]string) float64 {
	t.Helper()
	body := httpGetBody(t, "http://"+s.AdminAddr().String()+"/metrics")
	var sum float64
	for line := range strings.SplitSeq(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, lbls := series, ""
		if i := strings.IndexByte(series, '{'); i >= 0 {
			n, lbls = series[:i], strings.TrimSuffix(series[i+1:], "}")
		}
		if n != name {
			continue
		}
		have := parseLabels(lbls)
		match := true
		for k, v := range labels {
			if have[k] != v {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		f, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += f
	}
	return sum
}

func parseLabels(s string) map[string]string {
	m := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=\"")
		if !ok {
			break
		}
		var v strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
			}
			v.WriteByte(rest[i])
		}
		m[strings.TrimPrefix(k, ",")] = v.String()
		if i+1 >= len(rest) {
			break
		}
		s = rest[i+1:]
	}
	return m
}

// waitMetric waits until the metric's value satisfies ok.
func waitMetric(t testing.TB, s *server.Server, name string, labels map[string]string, ok func(float64) bool, what string) float64 {
	t.Helper()
	var v float64
	waitFor(t, waitLong, func() bool {
		v = metricValue(t, s, name, labels)
		return ok(v)
	}, "%s%v: %s (last value %v)", name, labels, what, v)
	return v
}

func atLeast(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }
func equals(n float64) func(float64) bool  { return func(v float64) bool { return v == n } }

var httpClient = &http.Client{Timeout: 10 * time.Second}

func httpGetBody(t testing.TB, url string) string {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return string(b)
}

// httpStatus is the status of GET url, or an error.
func httpStatus(url string) (int, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// ---- WebSocket client ----

// client is a WebSocket client that reads and writes frames itself, so tests see every
// control frame and can send malformed ones.
type client struct {
	t    testing.TB
	conn net.Conn
	r    io.Reader
}

type dialOpt func(*ws.Dialer)

func withOrigin(origin string) dialOpt {
	return func(d *ws.Dialer) {
		d.Header = ws.HandshakeHeaderHTTP(http.Header{"Origin": {origin}})
	}
}

// withSmallReceiveBuffer shrinks the client's socket receive buffer (before connecting, so
// the TCP window stays small): a client that does not read soon makes the edge queue.
func withSmallReceiveBuffer() dialOpt {
	return func(d *ws.Dialer) {
		nd := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			}); err != nil {
				return err
			}
			return serr
		}}
		d.NetDial = nd.DialContext
	}
}

func withTLS(cfg *tls.Config) dialOpt { return func(d *ws.Dialer) { d.TLSConfig = cfg } }

// dialErr dials url offering the "sip" subprotocol.
func dialErr(url string, opts ...dialOpt) (*client, error) {
	d := ws.Dialer{Protocols: []string{"sip"}, Timeout: 5 * time.Second}
	for _, o := range opts {
		o(&d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, hs, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	if hs.Protocol != "sip" {
		conn.Close()
		return nil, fmt.Errorf("handshake selected subprotocol %q, want sip", hs.Protocol)
	}
	c := &client{conn: conn, r: conn}
	if br != nil {
		c.r = br
	}
	return c, nil
}

func dial(t testing.TB, url string, opts ...dialOpt) *client {
	t.Helper()
	c, err := dialErr(url, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.t = t
	t.Cleanup(func() { c.conn.Close() })
	return c
}

// frameBytes builds one masked client frame.
func frameBytes(fin bool, op ws.OpCode, payload []byte) []byte {
	h := ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: ws.NewMask(), Length: int64(len(payload))}
	var b bytes.Buffer
	_ = ws.WriteHeader(&b, h)
	p := append([]byte(nil), payload...)
	ws.Cipher(p, h.Mask, 0)
	b.Write(p)
	return b.Bytes()
}

func (c *client) writeRaw(b []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.conn.Write(b)
	return err
}

func (c *client) writeFrame(fin bool, op ws.OpCode, payload []byte) {
	c.t.Helper()
	if err := c.writeRaw(frameBytes(fin, op, payload)); err != nil {
		c.t.Fatalf("write frame: %v", err)
	}
}

func (c *client) sendText(s string)   { c.t.Helper(); c.writeFrame(true, ws.OpText, []byte(s)) }
func (c *client) sendBinary(b []byte) { c.t.Helper(); c.writeFrame(true, ws.OpBinary, b) }
func (c *client) sendClose(code uint16) {
	c.t.Helper()
	c.writeFrame(true, ws.OpClose, closePayload(code))
}

func closePayload(code uint16) []byte {
	return binary.BigEndian.AppendUint16(nil, code)
}

// readFrame reads one server frame (which must not be masked).
func (c *client) readFrame(timeout time.Duration) (ws.Header, []byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	h, err := ws.ReadHeader(c.r)
	if err != nil {
		return h, nil, err
	}
	if h.Masked {
		return h, nil, errors.New("server frame is masked")
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.r, p); err != nil {
		return h, nil, err
	}
	return h, p, nil
}

// readMessage returns the next data message, skipping pings and pongs; a close fails the test.
func (c *client) readMessage(timeout time.Duration) (ws.OpCode, []byte) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var msg []byte
	var op ws.OpCode
	for {
		h, p, err := c.readFrame(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("read message: %v", err)
		}
		switch h.OpCode {
		case ws.OpPing, ws.OpPong:
			continue
		case ws.OpClose:
			code, reason := parseClose(p)
			c.t.Fatalf("unexpected close %d %q while waiting for a message", code, reason)
		case ws.OpContinuation:
			msg = append(msg, p...)
		default:
			op, msg = h.OpCode, append(msg[:0], p...)
		}
		if h.Fin {
			return op, msg
		}
	}
}

func parseClose(p []byte) (uint16, string) {
	if len(p) < 2 {
		return 1005, ""
	}
	return binary.BigEndian.Uint16(p), string(p[2:])
}

// expectClose reads until a close frame (skipping pings and pongs; a data frame fails the
// test), checks its code, answers it, and checks that the server then closes the socket.
func (c *client) expectClose(want uint16, timeout time.Duration) {
	c.t.Helper()
	code, reason, err := c.awaitClose(timeout)
	if err != nil {
		c.t.Fatalf("waiting for close %d: %v", want, err)
	}
	if code != want {
		c.t.Fatalf("close code %d (%q), want %d", code, reason, want)
	}
	_ = c.writeRaw(frameBytes(true, ws.OpClose, closePayload(code)))
	c.expectEOF(timeout)
}

// awaitClose reads frames until a close frame and returns its code; data frames are errors.
func (c *client) awaitClose(timeout time.Duration) (uint16, string, error) {
	deadline := time.Now().Add(timeout)
	for {
		h, p, err := c.readFrame(time.Until(deadline))
		if err != nil {
			return 0, "", err
		}
		switch h.OpCode {
		case ws.OpPing, ws.OpPong:
			continue
		case ws.OpClose:
			code, reason := parseClose(p)
			return code, reason, nil
		default:
			return 0, "", fmt.Errorf("data frame (op %d) %.60q before the close frame", h.OpCode, p)
		}
	}
}

// expectEOF checks that the server closes the connection (no more frames but EOF or reset).
func (c *client) expectEOF(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		h, _, err := c.readFrame(time.Until(deadline))
		if err == nil {
			if h.OpCode == ws.OpPing || h.OpCode == ws.OpPong {
				continue
			}
			c.t.Fatalf("frame (op %d) after the close frame", h.OpCode)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("server did not close the connection within %s", timeout)
		}
		return // EOF, reset: closed
	}
}

// ping sends a ping and expects the pong with the same payload as the next frame other
// than server pings; anything else in between fails the test.
func (c *client) ping(payload string) {
	c.t.Helper()
	c.writeFrame(true, ws.OpPing, []byte(payload))
	deadline := time.Now().Add(waitLong)
	for {
		h, p, err := c.readFrame(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for pong: %v", err)
		}
		switch h.OpCode {
		case ws.OpPing:
			continue
		case ws.OpPong:
			if string(p) != payload {
				c.t.Fatalf("pong payload %q, want %q", p, payload)
			}
			return
		default:
			c.t.Fatalf("frame op %d %.80q where the pong was expected", h.OpCode, p)
		}
	}
}

// ---- raw handshakes ----

// rawHandshake sends a hand-written upgrade request to addr and returns the response. The
// connection is closed at the end of the test.
func rawHandshake(t testing.TB, addr, path string, headers ...string) (*http.Response, net.Conn) {
	t.Helper()
	resp, conn, err := rawHandshakeErr(addr, path, headers...)
	if err != nil {
		t.Fatalf("handshake %s%s: %v", addr, path, err)
	}
	t.Cleanup(func() { conn.Close() })
	return resp, conn
}

func rawHandshakeErr(addr, path string, headers ...string) (*http.Response, net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, addr)
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", base64.StdEncoding.EncodeToString(key[:]))
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(b.String())); err != nil {
		conn.Close()
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return resp, conn, nil
}

// ---- SIP ----

func register(callID string, cseq int) string {
	return "REGISTER sip:example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK" + callID + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"To: <sip:alice@example.com>\r\n" +
		"From: <sip:alice@example.com>;tag=a73kszlfl\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: " + strconv.Itoa(cseq) + " REGISTER\r\n" +
		"Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>;reg-id=1;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\"\r\n" +
		"Expires: 600\r\n" +
		"Content-Length: 0\r\n\r\n"
}

func ackMsg(callID string) string {
	return "ACK sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKack" + callID + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"To: <sip:bob@example.com>;tag=b1\r\n" +
		"From: <sip:alice@example.com>;tag=a1\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: 1 ACK\r\n" +
		"Content-Length: 0\r\n\r\n"
}

// sipResponse is what a router would send to a client.
func sipResponse(callID string) string {
	return "SIP/2.0 200 OK\r\n" +
		"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK" + callID + ";received=127.0.0.1\r\n" +
		"To: <sip:alice@example.com>;tag=37GkEhwl6\r\n" +
		"From: <sip:alice@example.com>;tag=a73kszlfl\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: 1 REGISTER\r\n" +
		"Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>;expires=600\r\n" +
		"Content-Length: 0\r\n\r\n"
}

// sipHeader returns the value of the first header field called name in a SIP message.
func sipHeader(msg, name string) string {
	head, _, _ := strings.Cut(msg, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// flowOf sends a REGISTER from c and returns the flow token the edge published it with.
func flowOf(t testing.TB, c *client, in chan *nats.Msg, callID string) string {
	t.Helper()
	msg := register(callID, 1)
	c.sendText(msg)
	m := waitMsgData(t, in, []byte(msg), waitLong)
	tok := m.Header.Get(bus.HeaderFlow)
	if tok == "" {
		t.Fatalf("message without %s header", bus.HeaderFlow)
	}
	return tok
}
