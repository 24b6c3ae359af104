package router

// Shared helpers of the router tests: an embedded NATS server, a router built in Go, upstream
// SIP peers on UDP and TCP sockets the test owns, SIP message helpers and metrics.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipws/sipws/edge/bus"
	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/flow"
	"github.com/sipws/sipws/edge/internal/natstest"
	"github.com/sipws/sipws/edge/internal/testlog"
	"github.com/sipws/sipws/edge/sipmsg"
)

const (
	testGW     = "gw"
	testNode   = "n1"
	testAdv    = "127.0.0.1:5070"
	testRemote = "198.51.100.7:50000"
	// waitLong bounds every wait for something that must happen.
	waitLong = 10 * time.Second
	// quiet is how long a test watches for something that must not happen.
	quiet = 400 * time.Millisecond
)

func testLogger() *slog.Logger { return testlog.Logger() }

var testSubj = bus.Subjects{Prefix: config.DefaultSubjectPrefix, Gateway: testGW}

// ---- NATS ----

func startNATS(t testing.TB) *natsserver.Server { return natstest.Start(t, "") }

func natsConnect(t testing.TB, url string) *nats.Conn { return natstest.Connect(t, url) }

func subscribe(t testing.TB, nc *nats.Conn, subj string) chan *nats.Msg {
	return natstest.Subscribe(t, nc, subj, 4096)
}

// ---- configuration and router ----

// baseConfig is a valid configuration with one ws listener (for validation), router listeners
// on 127.0.0.1:0 and one route to the given targets, health checks off. Defaults are applied
// after adjust.
func baseConfig(natsURL string, targets []string, adjust func(*config.Config)) *config.Config {
	var ts []config.Target
	for _, u := range targets {
		ts = append(ts, config.Target{URI: u})
	}
	cfg := &config.Config{
		Gateway:      testGW,
		Node:         testNode,
		Listeners:    []config.Listener{{Name: "ws", Address: "127.0.0.1:0", Protocol: "ws"}},
		DrainTimeout: config.D(200 * time.Millisecond),
		NATS:         config.NATS{URL: natsURL},
		Admin:        config.Admin{Address: config.AdminOff},
		Router: config.Router{
			Listen:    config.RouterListen{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0"},
			Advertise: testAdv,
			Routes: []config.Route{{
				Name:     "default",
				Upstream: config.Upstream{Targets: ts, HealthCheck: config.HealthCheck{Disabled: true}},
			}},
		},
	}
	if adjust != nil {
		adjust(cfg)
	}
	cfg.Default()
	return cfg
}

// startRouter builds and starts a router that owns its NATS connection, and waits until its
// subscriptions are registered with the server.
//
// Workaround for a bug in Start (see TestStartRace): the transport's UDP readers, which call
// fromUpstream, start before Start sets r.adv, r.advHost, r.advPort and r.nc, with no
// synchronisation, so under -race every upstream packet reports that race in whatever test
// sends it. fromUpstream takes the lock of the requests or responses metric vector before it
// reads those fields; taking those locks here, after Start, orders Start's writes before any
// later packet for the race detector (DeleteLabelValues of a series that does not exist
// changes nothing). TestStartRace starts its router without this.
func startRouter(t testing.TB, cfg *config.Config, keys *flow.Keyring, reg *prometheus.Registry) *Router {
	t.Helper()
	r := startRouterRaw(t, cfg, keys, reg)
	r.m.requests.DeleteLabelValues("upstream", "\x00sync")
	r.m.responses.DeleteLabelValues("upstream", "\x00sync")
	return r
}

// startRouterRaw is startRouter without the race workaround.
func startRouterRaw(t testing.TB, cfg *config.Config, keys *flow.Keyring, reg *prometheus.Registry) *Router {
	t.Helper()
	r, err := New(cfg, Options{Logger: testLogger(), Keys: keys, Registry: reg})
	if err != nil {
		t.Fatalf("router.New: %v", err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("router.Start: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	if err := r.nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatalf("router flush: %v", err)
	}
	return r
}

// harness is a router between NATS (the test plays the edge) and UDP upstreams (the test
// plays the servers).
type harness struct {
	t    testing.TB
	ns   *natsserver.Server
	nc   *nats.Conn
	keys *flow.Keyring
	reg  *prometheus.Registry
	cfg  *config.Config
	r    *Router
	up   []*udpPeer
	out  chan *nats.Msg // everything routers publish to node n1
}

type harnessOpts struct {
	upstreams  int  // UDP upstream peers, one target each in the default route (default 1)
	noBeat     bool // do not publish heartbeats for node n1
	advertise  *string
	adjust     func(*config.Config, []*udpPeer)
	keys       *flow.Keyring
	targetURIs func([]*udpPeer) []string
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	if o.upstreams == 0 {
		o.upstreams = 1
	}
	h := &harness{t: t, ns: startNATS(t), keys: o.keys, reg: prometheus.NewRegistry()}
	if h.keys == nil {
		h.keys = flow.RandomKeyring()
	}
	h.nc = natsConnect(t, h.ns.ClientURL())
	var uris []string
	for range o.upstreams {
		p := newUDPPeer(t)
		h.up = append(h.up, p)
		uris = append(uris, p.uri())
	}
	if o.targetURIs != nil {
		uris = o.targetURIs(h.up)
	}
	h.cfg = baseConfig(h.ns.ClientURL(), uris, func(c *config.Config) {
		if o.advertise != nil {
			c.Router.Advertise = *o.advertise
		}
		if o.adjust != nil {
			o.adjust(c, h.up)
		}
	})
	h.out = subscribe(t, h.nc, testSubj.OutNode(testNode))
	if !o.noBeat {
		h.heartbeats(testNode)
	}
	h.r = startRouter(t, h.cfg, h.keys, h.reg)
	for _, p := range h.up {
		p.router = netip.MustParseAddrPort(h.r.LocalAddr("udp").String())
	}
	return h
}

// heartbeats publishes a heartbeat for node every 300 ms until the test ends.
func (h *harness) heartbeats(node string) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(300 * time.Millisecond)
		defer tk.Stop()
		for {
			h.notice(bus.Notice{Event: bus.EventHeartbeat, Node: node})
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	h.t.Cleanup(func() { close(stop); <-done })
}

// notice publishes a node notice as an edge would.
func (h *harness) notice(n bus.Notice) {
	n.Time = time.Now().UnixMilli()
	b, _ := json.Marshal(n)
	msg := &nats.Msg{Subject: testSubj.Node(n.Node), Header: nats.Header{bus.HeaderEvent: {n.Event}}, Data: b}
	if n.Flow != "" {
		msg.Header.Set(bus.HeaderFlow, n.Flow)
	}
	_ = h.nc.PublishMsg(msg)
}

// token returns the flow token of serial on node n1.
func (h *harness) token(serial uint64) string {
	h.t.Helper()
	tok, err := h.keys.Encode(flow.Flow{Node: testNode, Serial: serial})
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// clientMsg is the NATS message an edge publishes for what the flow's client sent.
func clientMsg(token string, data []byte) *nats.Msg {
	return &nats.Msg{
		Subject: testSubj.In(token),
		Header: nats.Header{
			bus.HeaderFlow:      {token},
			bus.HeaderNode:      {testNode},
			bus.HeaderRemote:    {testRemote},
			bus.HeaderLocal:     {"127.0.0.1:8080"},
			bus.HeaderTransport: {"ws"},
			bus.HeaderListener:  {"ws"},
		},
		Data: data,
	}
}

// fromClient publishes data as sent by the client of token.
func (h *harness) fromClient(token string, data []byte) {
	h.t.Helper()
	if err := h.nc.PublishMsg(clientMsg(token, data)); err != nil {
		h.t.Fatalf("publish: %v", err)
	}
}

// toClient waits for the next message the router publishes to a flow of node n1; it checks
// that it goes to token's subject when token is not empty.
func (h *harness) toClient(token string, what string) *nats.Msg {
	h.t.Helper()
	m := waitNATS(h.t, h.out, waitLong, what)
	if token != "" && m.Subject != testSubj.Out(testNode, token) {
		h.t.Fatalf("%s: published on %s, want %s", what, m.Subject, testSubj.Out(testNode, token))
	}
	return m
}

// noClientMsg checks that nothing is published to node n1 for a while.
func (h *harness) noClientMsg(what string) {
	h.t.Helper()
	select {
	case m := <-h.out:
		h.t.Fatalf("unexpected message to the client (%s) on %s:\n%s", what, m.Subject, m.Data)
	case <-time.After(quiet):
	}
}

func waitNATS(t testing.TB, ch chan *nats.Msg, timeout time.Duration, what string) *nats.Msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(timeout):
		t.Fatalf("no NATS message (%s) within %s", what, timeout)
		return nil
	}
}

// ---- upstream peers ----

type packet struct {
	data []byte
	from netip.AddrPort
	conn net.Conn // stream peers: the connection it came on
}

// msg parses the packet; a parse failure fails the test.
func (p packet) msg(t testing.TB) *sipmsg.Msg {
	t.Helper()
	m, err := sipmsg.Parse(p.data)
	if err != nil {
		t.Fatalf("upstream received unparsable message: %v\n%s", err, p.data)
	}
	return m
}

// Probe handling modes of a peer.
const (
	probesPass   = iota // deliver probes like any message
	probesIgnore        // drop them silently
	probesAnswer        // answer them 200
)

// peer is an upstream SIP server the test controls, over UDP or TCP.
type peer interface {
	uri() string
	// next waits for the next message for which keep returns true, dropping the others.
	next(t testing.TB, what string, keep func(packet) bool) packet
	// none checks that no message for which match returns true arrives for a while.
	none(t testing.TB, what string, match func(packet) bool)
	// reply sends data back to where p came from.
	reply(t testing.TB, p packet, data []byte)
	// request sends data to the router at host:port (UDP) or on the latest connection (TCP).
	request(t testing.TB, hostport string, data []byte)
	transport() string
}

func anyPkt(packet) bool { return true }

// isRequest matches requests of that method.
func isRequest(method string) func(packet) bool {
	return func(p packet) bool {
		m, err := sipmsg.Parse(p.data)
		return err == nil && m.Request && m.Method == method
	}
}

// isResponse matches responses to that CSeq method.
func isResponse(method string) func(packet) bool {
	return func(p packet) bool {
		m, err := sipmsg.Parse(p.data)
		if err != nil || m.Request {
			return false
		}
		_, meth, _ := m.CSeq()
		return meth == method
	}
}

func isProbe(data []byte) bool { return bytes.Contains(data, []byte("branch="+probePrefix)) }

type udpPeer struct {
	conn   *net.UDPConn
	ch     chan packet
	router netip.AddrPort // the router's UDP address (default destination of requests)
	probes atomic.Int32
	seen   sync.Map // string(data) of delivered packets, for dropping retransmissions
	drop   bool     // drop exact duplicates of delivered packets
}

func newUDPPeer(t testing.TB) *udpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &udpPeer{conn: c, ch: make(chan packet, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			data := bytes.Clone(buf[:n])
			if isProbe(data) {
				switch p.probes.Load() {
				case probesIgnore:
					continue
				case probesAnswer:
					if m, err := sipmsg.Parse(data); err == nil {
						_, _ = c.WriteToUDPAddrPort(respond(m, 200, "OK"), from)
					}
					continue
				}
			}
			select {
			case p.ch <- packet{data: data, from: from}:
			default:
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return p
}

func (p *udpPeer) addr() netip.AddrPort {
	return p.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}
func (p *udpPeer) port() int         { return int(p.addr().Port()) }
func (p *udpPeer) uri() string       { return "sip:" + p.addr().String() }
func (p *udpPeer) transport() string { return "udp" }

func (p *udpPeer) send(t testing.TB, to netip.AddrPort, data []byte) {
	t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort(data, to); err != nil {
		t.Fatalf("udp send to %s: %v", to, err)
	}
}

func (p *udpPeer) next(t testing.TB, what string, keep func(packet) bool) packet {
	t.Helper()
	return p.nextWithin(t, waitLong, what, keep)
}

// nextWithin is next with a shorter bound, for what must happen promptly.
func (p *udpPeer) nextWithin(t testing.TB, d time.Duration, what string, keep func(packet) bool) packet {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case pk := <-p.ch:
			if !keep(pk) {
				continue
			}
			if p.drop {
				if _, dup := p.seen.LoadOrStore(string(pk.data), true); dup {
					continue
				}
			}
			return pk
		case <-deadline:
			t.Fatalf("upstream %s: nothing (%s) within %s", p.addr(), what, d)
			return packet{}
		}
	}
}

func (p *udpPeer) none(t testing.TB, what string, match func(packet) bool) {
	t.Helper()
	deadline := time.After(quiet)
	for {
		select {
		case pk := <-p.ch:
			if match(pk) {
				t.Fatalf("upstream %s: unexpected message (%s):\n%s", p.addr(), what, pk.data)
			}
		case <-deadline:
			return
		}
	}
}

// drain discards everything received so far.
func (p *udpPeer) drain() {
	for {
		select {
		case <-p.ch:
		default:
			return
		}
	}
}

func (p *udpPeer) reply(t testing.TB, pk packet, data []byte) { t.Helper(); p.send(t, pk.from, data) }

func (p *udpPeer) request(t testing.TB, hostport string, data []byte) {
	t.Helper()
	to := p.router
	if hostport != "" {
		ap, err := netip.ParseAddrPort(hostport)
		if err != nil {
			t.Fatalf("request to %q: %v", hostport, err)
		}
		to = ap
	}
	p.send(t, to, data)
}

// tcpPeer is an upstream SIP server on a TCP listener; it reads RFC 3261 §18.3 framed
// messages from every connection the router opens.
type tcpPeer struct {
	ln   net.Listener
	ch   chan packet
	mu   sync.Mutex
	last net.Conn
}

func newTCPPeer(t testing.TB) *tcpPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpPeer{ln: ln, ch: make(chan packet, 1024)}
	var wg sync.WaitGroup
	var conns sync.Map
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			p.mu.Lock()
			p.last = c
			p.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				br := bufio.NewReader(c)
				from := netip.MustParseAddrPort(c.RemoteAddr().String())
				for {
					data, err := readStreamMsg(br)
					if err != nil {
						return
					}
					select {
					case p.ch <- packet{data: data, from: from, conn: c}:
					default:
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	return p
}

func (p *tcpPeer) uri() string       { return "sip:" + p.ln.Addr().String() + ";transport=tcp" }
func (p *tcpPeer) transport() string { return "tcp" }

func (p *tcpPeer) next(t testing.TB, what string, keep func(packet) bool) packet {
	t.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case pk := <-p.ch:
			if keep(pk) {
				return pk
			}
		case <-deadline:
			t.Fatalf("tcp upstream %s: nothing (%s) within %s", p.ln.Addr(), what, waitLong)
			return packet{}
		}
	}
}

func (p *tcpPeer) none(t testing.TB, what string, match func(packet) bool) {
	t.Helper()
	deadline := time.After(quiet)
	for {
		select {
		case pk := <-p.ch:
			if match(pk) {
				t.Fatalf("tcp upstream: unexpected message (%s):\n%s", what, pk.data)
			}
		case <-deadline:
			return
		}
	}
}

func (p *tcpPeer) reply(t testing.TB, pk packet, data []byte) {
	t.Helper()
	_ = pk.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := pk.conn.Write(data); err != nil {
		t.Fatalf("tcp write: %v", err)
	}
}

// request sends on the connection the router opened last (the upstream reuses it, RFC 3261
// §18.2.2 / RFC 5923 style); hostport is ignored.
func (p *tcpPeer) request(t testing.TB, _ string, data []byte) {
	t.Helper()
	p.mu.Lock()
	c := p.last
	p.mu.Unlock()
	if c == nil {
		t.Fatal("tcp upstream: the router has not connected yet")
	}
	p.reply(t, packet{conn: c}, data)
}

// readStreamMsg reads one message framed by Content-Length (CRLF keep-alives skipped).
func readStreamMsg(br *bufio.Reader) ([]byte, error) {
	var head bytes.Buffer
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		blank := string(line) == "\r\n" || string(line) == "\n"
		if blank && head.Len() == 0 {
			continue
		}
		head.Write(line)
		if blank {
			break
		}
	}
	cl := 0
	for _, l := range strings.Split(head.String(), "\n") {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-length", "l":
			n, err := strconv.Atoi(strings.TrimSpace(val))
			if err != nil || n < 0 {
				return nil, errors.New("bad Content-Length")
			}
			cl = n
		}
	}
	body := make([]byte, cl)
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, err
	}
	return append(head.Bytes(), body...), nil
}

// ---- SIP helpers ----

// respond builds a response to req as a UAS would: every Via, From, To (tagged when
// code > 100), Call-ID, CSeq, Record-Route for 1xx/2xx (when copyRR), extra lines.
func respond(req *sipmsg.Msg, code int, reason string, extra ...string) []byte {
	return respondRR(req, code, reason, false, extra...)
}

func respondRR(req *sipmsg.Msg, code int, reason string, copyRR bool, extra ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, v := range req.Values("Via") {
		fmt.Fprintf(&b, "Via: %s\r\n", v)
	}
	from, _ := req.Get("From")
	to, _ := req.Get("To")
	if code > 100 && !strings.Contains(to, "tag=") {
		to += ";tag=up" + strconv.Itoa(code)
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\n", from, to, req.CallID())
	cseq, _ := req.Get("CSeq")
	fmt.Fprintf(&b, "CSeq: %s\r\n", cseq)
	if copyRR && code < 300 {
		for _, v := range req.Values("Record-Route") {
			fmt.Fprintf(&b, "Record-Route: %s\r\n", v)
		}
	}
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}

func mustParse(t testing.TB, b []byte) *sipmsg.Msg {
	t.Helper()
	m, err := sipmsg.Parse(b)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, b)
	}
	return m
}

// topBranch is the branch of the top Via of a message.
func topBranch(t testing.TB, data []byte) string {
	t.Helper()
	m, err := sipmsg.Parse(data)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, data)
	}
	v, ok := m.TopValue("Via")
	if !ok {
		t.Fatalf("no Via in\n%s", data)
	}
	via, err := sipmsg.ParseVia(v)
	if err != nil {
		t.Fatalf("bad Via %q: %v", v, err)
	}
	return via.Branch()
}

func statusOf(t testing.TB, data []byte) int {
	t.Helper()
	m, err := sipmsg.Parse(data)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, data)
	}
	if m.Request {
		t.Fatalf("want a response, got a %s request:\n%s", m.Method, data)
	}
	return m.StatusCode
}

// crlf turns a message written with LF line ends into CRLF.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

// ---- metrics ----

// metricValue sums the series called name whose labels include labels; ok is false when no
// series matches.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) (v float64, ok bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := true
			for k, want := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == want {
						found = true
					}
				}
				match = match && found
			}
			if !match {
				continue
			}
			ok = true
			switch {
			case m.Counter != nil:
				v += m.GetCounter().GetValue()
			case m.Gauge != nil:
				v += m.GetGauge().GetValue()
			}
		}
	}
	return v, ok
}

// metricSeries lists the label values of one label of every series called name.
func metricSeries(t testing.TB, reg *prometheus.Registry, name, label string) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label {
					out = append(out, lp.GetValue())
				}
			}
		}
	}
	return out
}

// waitFor polls cond until it holds or waitLong passes.
func waitFor(t testing.TB, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", waitLong, fmt.Sprintf(format, args...))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
