package router

// Integration: a WebSocket client → the real edge (edge/server) → NATS → the router → an
// upstream SIP server written here (UDP or TCP), and back.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/flow"
	"github.com/sipws/sipws/edge/server"
	"github.com/sipws/sipws/edge/sipmsg"
)

type edgeEnv struct {
	keys *flow.Keyring
	reg  *prometheus.Registry
	cfg  *config.Config
	r    *Router
	edge *server.Server
	url  string
}

// newEdgeEnv starts NATS, an edge and a router sharing one configuration (as local mode does);
// the router advertises its bound UDP address so Path and Record-Route lead back for real.
func newEdgeEnv(t *testing.T, targets []string, adjust func(*config.Config)) *edgeEnv {
	t.Helper()
	ns := startNATS(t)
	keys := flow.RandomKeyring()
	cfg := baseConfig(ns.ClientURL(), targets, func(c *config.Config) {
		c.Router.Advertise = ""
		if adjust != nil {
			adjust(c)
		}
	})
	edge, err := server.New(cfg, server.Options{Logger: testLogger(), Keys: keys})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := edge.Start(ctx); err != nil {
		t.Fatalf("edge start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		_ = edge.Shutdown(ctx)
	})
	waitFor(t, edge.Ready, "edge ready")
	reg := prometheus.NewRegistry()
	r := startRouter(t, cfg, keys, reg)
	return &edgeEnv{keys: keys, reg: reg, cfg: cfg, r: r, edge: edge, url: "ws://" + edge.Addr("ws").String() + "/"}
}

// ---- WebSocket SIP client ----

type wsClient struct {
	t    testing.TB
	conn net.Conn
	wmu  sync.Mutex
	in   chan []byte
	host string // random .invalid host of Via and Contact (RFC 7118 §5.2)
	user string
	n    atomic.Int64
}

type lockedWriter struct{ c *wsClient }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.c.wmu.Lock()
	defer w.c.wmu.Unlock()
	_ = w.c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return w.c.conn.Write(p)
}

func (e *edgeEnv) dial(t *testing.T, user string) *wsClient {
	t.Helper()
	d := ws.Dialer{Protocols: []string{"sip"}, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, hs, err := d.Dial(ctx, e.url)
	if err != nil {
		t.Fatalf("dial %s: %v", e.url, err)
	}
	if hs.Protocol != "sip" {
		t.Fatalf("handshake selected %q, want sip", hs.Protocol)
	}
	c := &wsClient{t: t, conn: conn, in: make(chan []byte, 256), user: user,
		host: fmt.Sprintf("%s%d.invalid", user, time.Now().UnixNano()%1e6)}
	var r io.Reader = conn
	if br != nil {
		r = br
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.in)
		rw := struct {
			io.Reader
			io.Writer
		}{r, lockedWriter{c}}
		for {
			data, op, err := wsutil.ReadServerData(rw)
			if err != nil {
				return
			}
			if op != ws.OpText && op != ws.OpBinary || strings.Trim(string(data), "\r\n") == "" {
				continue
			}
			c.in <- data
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return c
}

func (c *wsClient) send(data []byte) {
	c.t.Helper()
	if err := wsutil.WriteClientMessage(lockedWriter{c}, ws.OpText, data); err != nil {
		c.t.Fatalf("ws write: %v", err)
	}
}

func (c *wsClient) close() {
	_ = ws.WriteFrame(lockedWriter{c}, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
	c.conn.Close()
}

// recv waits for the next SIP message kept by keep; others are dropped.
func (c *wsClient) recv(what string, keep func(*sipmsg.Msg) bool) *sipmsg.Msg {
	c.t.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case data, ok := <-c.in:
			if !ok {
				c.t.Fatalf("client: connection closed while waiting for %s", what)
			}
			m, err := sipmsg.Parse(data)
			if err != nil {
				c.t.Fatalf("client received unparsable message: %v\n%s", err, data)
			}
			if keep(m) {
				return m
			}
		case <-deadline:
			c.t.Fatalf("client: no %s within %s", what, waitLong)
			return nil
		}
	}
}

// noRecv checks that nothing matching arrives for a while.
func (c *wsClient) noRecv(what string, match func(*sipmsg.Msg) bool) {
	c.t.Helper()
	deadline := time.After(quiet)
	for {
		select {
		case data, ok := <-c.in:
			if !ok {
				return
			}
			if m, err := sipmsg.Parse(data); err == nil && match(m) {
				c.t.Fatalf("client: unexpected message (%s):\n%s", what, data)
			}
		case <-deadline:
			return
		}
	}
}

func (c *wsClient) branch() string { return fmt.Sprintf("z9hG4bK%s%d", c.user, c.n.Add(1)) }
func (c *wsClient) via(branch string) string {
	return "SIP/2.0/WS " + c.host + ";branch=" + branch + ";rport"
}
func (c *wsClient) contactURI() string { return "sip:" + c.user + "@" + c.host + ";transport=ws;ob" }

func req(method string) func(*sipmsg.Msg) bool {
	return func(m *sipmsg.Msg) bool { return m.Request && m.Method == method }
}

func resp(method string) func(*sipmsg.Msg) bool {
	return func(m *sipmsg.Msg) bool {
		_, meth, _ := m.CSeq()
		return !m.Request && meth == method
	}
}

func finalResp(method string) func(*sipmsg.Msg) bool {
	return func(m *sipmsg.Msg) bool { return resp(method)(m) && m.StatusCode >= 200 }
}

func uriOf(t testing.TB, nameAddr string) sipmsg.URI {
	t.Helper()
	na, err := sipmsg.ParseNameAddr(nameAddr)
	if err != nil {
		t.Fatalf("name-addr %q: %v", nameAddr, err)
	}
	return na.URI
}

func toTag(t testing.TB, m *sipmsg.Msg) string {
	t.Helper()
	v, _ := m.Get("To")
	na, err := sipmsg.ParseNameAddr(v)
	if err != nil {
		t.Fatalf("To %q: %v", v, err)
	}
	return na.Tag()
}

const sdpBody = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"

// viaHost is the sent-by an upstream peer writes in its own requests.
func viaHost(p peer) string {
	switch p := p.(type) {
	case *udpPeer:
		return p.addr().String()
	case *tcpPeer:
		return p.ln.Addr().String()
	}
	return ""
}

func TestEdgeIntegration(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			var up peer
			switch transport {
			case "udp":
				up = newUDPPeer(t)
			case "tcp":
				up = newTCPPeer(t)
			}
			env := newEdgeEnv(t, []string{up.uri()}, nil)
			if u, ok := up.(*udpPeer); ok {
				u.router = env.r.LocalAddr("udp")
				u.drop = true
			}
			upVia := "SIP/2.0/" + strings.ToUpper(transport) + " " + viaHost(up)
			upURI := "sip:" + viaHost(up)
			if transport == "tcp" {
				upURI += ";transport=tcp"
			}
			c := env.dial(t, "alice")
			callN := 0
			newCall := func() string { callN++; return fmt.Sprintf("call%d-%s", callN, c.host) }

			// REGISTER: the upstream records the Path.
			var path string
			var pathURI sipmsg.URI
			t.Run("register", func(t *testing.T) {
				c.send(sipReq{
					Method: "REGISTER", RURI: "sip:example.com", Via: []string{c.via(c.branch())},
					From: "<sip:alice@example.com>;tag=reg", To: "<sip:alice@example.com>", CallID: "reg-" + c.host, CSeq: 1,
					Extra: []string{
						"Contact: <sip:alice@" + c.host + ";transport=ws>;reg-id=1;+sip.instance=\"<urn:uuid:00000000-0000-4000-8000-0000000000a1>\";expires=600",
						"Supported: path, outbound", "Expires: 600",
					},
				}.bytes())
				pk := up.next(t, "REGISTER", isRequest("REGISTER"))
				m := pk.msg(t)
				var ok bool
				if path, ok = m.Get("Path"); !ok {
					t.Fatalf("REGISTER without Path:\n%s", pk.data)
				}
				pathURI = uriOf(t, path)
				if f, err := env.keys.Decode(pathURI.User); err != nil || f.Node != testNode {
					t.Errorf("Path user %q is not a flow token of %s: %v", pathURI.User, testNode, err)
				}
				if !pathURI.Params.Has("lr") || !pathURI.Params.Has("ob") || pathURI.HostPort() != env.r.Advertise() {
					t.Errorf("Path %q: want <sip:TOKEN@%s;lr;ob>", path, env.r.Advertise())
				}
				vias := m.Values("Via")
				if len(vias) != 2 || !strings.Contains(vias[0], branchPrefix) || !strings.Contains(vias[1], "received=127.0.0.1") || !strings.Contains(vias[1], "rport=") {
					t.Errorf("Vias %q: want ours on top, the client's with received and rport", vias)
				}
				up.reply(t, pk, respond(m, 200, "OK", "Path: "+path, "Contact: <sip:alice@"+c.host+";transport=ws>;expires=600", "Require: outbound"))
				if r := c.recv("200 REGISTER", finalResp("REGISTER")); r.StatusCode != 200 {
					t.Fatalf("REGISTER answered %d", r.StatusCode)
				}
			})
			if t.Failed() {
				return
			}
			pathHP := pathURI.HostPort()

			t.Run("message client to upstream", func(t *testing.T) {
				c.send(sipReq{
					Method: "MESSAGE", RURI: "sip:bob@example.com", Via: []string{c.via(c.branch())},
					From: "<sip:alice@example.com>;tag=m1", To: "<sip:bob@example.com>", CallID: newCall(), CSeq: 1,
					Extra: []string{"Content-Type: text/plain"}, Body: "hello bob",
				}.bytes())
				pk := up.next(t, "MESSAGE", isRequest("MESSAGE"))
				m := pk.msg(t)
				if string(m.Body) != "hello bob" {
					t.Errorf("MESSAGE body %q", m.Body)
				}
				up.reply(t, pk, respond(m, 200, "OK"))
				if r := c.recv("200 MESSAGE", finalResp("MESSAGE")); r.StatusCode != 200 {
					t.Errorf("MESSAGE answered %d", r.StatusCode)
				}
			})

			t.Run("message upstream to client along the Path", func(t *testing.T) {
				ub := "z9hG4bKum1" + transport
				up.request(t, pathHP, sipReq{
					Method: "MESSAGE", RURI: "sip:alice@" + c.host + ";transport=ws",
					Via: []string{upVia + ";branch=" + ub + ";rport"}, Route: []string{path},
					From: "<sip:bob@example.com>;tag=um1", To: "<sip:alice@example.com>", CallID: newCall(), CSeq: 1,
					Extra: []string{"Content-Type: text/plain"}, Body: "hello alice",
				}.bytes())
				in := c.recv("MESSAGE from upstream", req("MESSAGE"))
				if string(in.Body) != "hello alice" {
					t.Errorf("client got body %q", in.Body)
				}
				if _, has := in.Get("Route"); has {
					t.Errorf("our Route was not popped:\n%s", in.Bytes())
				}
				c.send(respond(in, 200, "OK"))
				pk := up.next(t, "200 MESSAGE", isResponse("MESSAGE"))
				if code := statusOf(t, pk.data); code != 200 || topBranch(t, pk.data) != ub {
					t.Errorf("upstream got %d with branch %s, want 200 with %s", code, topBranch(t, pk.data), ub)
				}
			})

			t.Run("invite 200 ack bye from the client", func(t *testing.T) {
				callID := newCall()
				c.send(sipReq{
					Method: "INVITE", RURI: "sip:bob@example.com", Via: []string{c.via(c.branch())},
					From: "<sip:alice@example.com>;tag=i1", To: "<sip:bob@example.com>", CallID: callID, CSeq: 1,
					Extra: []string{"Contact: <" + c.contactURI() + ">", "Content-Type: application/sdp"}, Body: sdpBody,
				}.bytes())
				pk := up.next(t, "INVITE", isRequest("INVITE"))
				m := pk.msg(t)
				rr := m.Values("Record-Route")
				if len(rr) != 2 || !strings.Contains(rr[0], "transport="+transport) || !strings.Contains(rr[1], "transport=ws") || uriOf(t, rr[0]).User != pathURI.User {
					t.Fatalf("Record-Route %q: want ours for %s on top, then ours for ws", rr, transport)
				}
				upRR := "<" + upURI + ";lr>"
				up.reply(t, pk, respond(m, 200, "OK", "Record-Route: "+upRR, "Record-Route: "+strings.Join(rr, ", "),
					"Contact: <sip:bob@"+viaHost(up)+map[bool]string{true: ";transport=tcp"}[transport == "tcp"]+">"))
				ok := c.recv("200 INVITE", finalResp("INVITE"))
				if ok.StatusCode != 200 {
					t.Fatalf("INVITE answered %d", ok.StatusCode)
				}
				routeSet := slices.Clone(ok.Values("Record-Route"))
				slices.Reverse(routeSet)
				contact, _ := ok.Get("Contact")
				remote := uriOf(t, contact).String()
				to := "<sip:bob@example.com>;tag=" + toTag(t, ok)
				for _, method := range []string{"ACK", "BYE"} {
					cseq := 1
					if method == "BYE" {
						cseq = 2
					}
					c.send(sipReq{Method: method, RURI: remote, Via: []string{c.via(c.branch())}, Route: routeSet,
						From: "<sip:alice@example.com>;tag=i1", To: to, CallID: callID, CSeq: cseq}.bytes())
					pk := up.next(t, method, isRequest(method))
					m := pk.msg(t)
					if m.RequestURI != remote {
						t.Errorf("%s Request-URI %q, want %q", method, m.RequestURI, remote)
					}
					if got := m.Values("Route"); len(got) != 1 || got[0] != upRR {
						t.Errorf("%s Route %q, want only the upstream's %q", method, got, upRR)
					}
					if method == "BYE" {
						up.reply(t, pk, respond(m, 200, "OK"))
					}
				}
				if r := c.recv("200 BYE", finalResp("BYE")); r.StatusCode != 200 {
					t.Errorf("BYE answered %d", r.StatusCode)
				}
			})

			t.Run("bye from upstream along the Record-Route", func(t *testing.T) {
				callID := newCall()
				c.send(sipReq{
					Method: "INVITE", RURI: "sip:bob@example.com", Via: []string{c.via(c.branch())},
					From: "<sip:alice@example.com>;tag=i2", To: "<sip:bob@example.com>", CallID: callID, CSeq: 1,
					Extra: []string{"Contact: <" + c.contactURI() + ">"},
				}.bytes())
				pk := up.next(t, "INVITE", isRequest("INVITE"))
				m := pk.msg(t)
				rr := m.Values("Record-Route")
				up.reply(t, pk, respondRR(m, 200, "OK", true, "Contact: <"+upURI+">"))
				ok := c.recv("200 INVITE", finalResp("INVITE"))
				routeSet := slices.Clone(ok.Values("Record-Route"))
				slices.Reverse(routeSet)
				bobTag := toTag(t, ok)
				c.send(sipReq{Method: "ACK", RURI: upURI, Via: []string{c.via(c.branch())}, Route: routeSet,
					From: "<sip:alice@example.com>;tag=i2", To: "<sip:bob@example.com>;tag=" + bobTag, CallID: callID, CSeq: 1}.bytes())
				up.next(t, "ACK", isRequest("ACK"))

				// The UAS route set is the Record-Route in order (RFC 3261 §12.1.1).
				ub := "z9hG4bKub2" + transport
				up.request(t, uriOf(t, rr[0]).HostPort(), sipReq{
					Method: "BYE", RURI: c.contactURI(), Via: []string{upVia + ";branch=" + ub + ";rport"}, Route: rr,
					From: "<sip:bob@example.com>;tag=" + bobTag, To: "<sip:alice@example.com>;tag=i2", CallID: callID, CSeq: 1,
				}.bytes())
				in := c.recv("BYE from upstream", req("BYE"))
				if in.RequestURI != c.contactURI() || in.Count("Route") != 0 {
					t.Errorf("client got BYE %s with Route %q", in.RequestURI, in.Values("Route"))
				}
				c.send(respond(in, 200, "OK"))
				pk = up.next(t, "200 BYE", isResponse("BYE"))
				if code := statusOf(t, pk.data); code != 200 || topBranch(t, pk.data) != ub {
					t.Errorf("upstream got %d (branch %s) to its BYE", code, topBranch(t, pk.data))
				}
			})

			t.Run("cancel of a ringing invite", func(t *testing.T) {
				inv := sipReq{
					Method: "INVITE", RURI: "sip:bob@example.com", Via: []string{c.via(c.branch())},
					From: "<sip:alice@example.com>;tag=i3", To: "<sip:bob@example.com>", CallID: newCall(), CSeq: 1,
					Extra: []string{"Contact: <" + c.contactURI() + ">"},
				}
				c.send(inv.bytes())
				pk := up.next(t, "INVITE", isRequest("INVITE"))
				m := pk.msg(t)
				invBranch := topBranch(t, pk.data)
				up.reply(t, pk, respond(m, 180, "Ringing"))
				if r := c.recv("180", resp("INVITE")); r.StatusCode != 180 {
					t.Fatalf("client got %d, want 180", r.StatusCode)
				}
				c.send(cancelOf(inv).bytes())
				pc := up.next(t, "CANCEL", isRequest("CANCEL"))
				if b := topBranch(t, pc.data); b != invBranch {
					t.Errorf("CANCEL branch %q, INVITE branch %q", b, invBranch)
				}
				up.reply(t, pc, respond(pc.msg(t), 200, "OK"))
				up.reply(t, pk, respond(m, 487, "Request Terminated"))
				got := map[string]int{}
				for range 2 {
					r := c.recv("answers to CANCEL and INVITE", func(m *sipmsg.Msg) bool { return !m.Request && m.StatusCode >= 200 })
					_, meth, _ := r.CSeq()
					got[meth] = r.StatusCode
				}
				if got["CANCEL"] != 200 || got["INVITE"] != 487 {
					t.Fatalf("client got %v, want CANCEL:200 INVITE:487", got)
				}
				ack := inv
				ack.Method, ack.Extra = "ACK", nil
				ack.To = "<sip:bob@example.com>;tag=up487"
				c.send(ack.bytes())
				pa := up.next(t, "ACK of 487", isRequest("ACK"))
				if b := topBranch(t, pa.data); b != invBranch {
					t.Errorf("ACK of the 487 has branch %q, INVITE %q (RFC 3261 §17.1.1.3)", b, invBranch)
				}
			})

			t.Run("430 once the client has gone", func(t *testing.T) {
				c.close()
				waitFor(t, func() bool { return env.edge.Flows() == 0 }, "edge closed the flow")
				up.request(t, pathHP, sipReq{
					Method: "MESSAGE", RURI: "sip:alice@" + c.host + ";transport=ws",
					Via: []string{upVia + ";branch=z9hG4bKgone" + transport + ";rport"}, Route: []string{path},
					From: "<sip:bob@example.com>;tag=gone", To: "<sip:alice@example.com>", CallID: newCall(), CSeq: 1,
				}.bytes())
				pk := up.next(t, "answer to a MESSAGE for a closed flow", isResponse("MESSAGE"))
				if code := statusOf(t, pk.data); code != 430 {
					t.Errorf("upstream got %d, want 430 Flow Failed", code)
				}
			})
		})
	}
}

// twoUpstreams is an edge environment with two UDP upstreams in one route and short timers.
func twoUpstreams(t *testing.T) (*edgeEnv, []*udpPeer) {
	t.Helper()
	ups := []*udpPeer{newUDPPeer(t), newUDPPeer(t)}
	env := newEdgeEnv(t, []string{ups[0].uri(), ups[1].uri()}, func(c *config.Config) {
		c.Router.Timers = config.Timers{T1: config.D(100 * time.Millisecond), T2: config.D(400 * time.Millisecond), Failover: config.D(300 * time.Millisecond)}
	})
	for _, u := range ups {
		u.router = env.r.LocalAddr("udp")
		u.drop = true
	}
	return env, ups
}

func clientMessage(c *wsClient, callID string) []byte {
	return sipReq{
		Method: "MESSAGE", RURI: "sip:bob@example.com", Via: []string{c.via(c.branch())},
		From: "<sip:alice@example.com>;tag=" + callID, To: "<sip:bob@example.com>", CallID: callID, CSeq: 1,
		Extra: []string{"Content-Type: text/plain"}, Body: "hi",
	}.bytes()
}

// TestEdgeFailover: the target a request goes to first is silent (timeout) or answers 503; the
// request reaches the other target and the client only sees that target's 200.
func TestEdgeFailover(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(t *testing.T, p *udpPeer, pk packet) // what the first target does
	}{
		{"timeout", func(*testing.T, *udpPeer, packet) {}},
		{"503", func(t *testing.T, p *udpPeer, pk packet) {
			p.reply(t, pk, respond(pk.msg(t), 503, "Service Unavailable"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, ups := twoUpstreams(t)
			c := env.dial(t, "alice")
			for i := range 2 {
				callID := fmt.Sprintf("fo%d-%s", i, c.host)
				c.send(clientMessage(c, callID))
				bad, pk := waitEither(t, ups, "MESSAGE", and(isRequest("MESSAGE"), hasCallID(callID)))
				tc.first(t, ups[bad], pk)
				good := ups[1-bad]
				pk = good.next(t, "MESSAGE after failover", and(isRequest("MESSAGE"), hasCallID(callID)))
				good.reply(t, pk, respond(pk.msg(t), 200, "OK"))
				r := c.recv("final answer to MESSAGE", finalResp("MESSAGE"))
				if r.StatusCode != 200 || r.CallID() != callID {
					t.Fatalf("client got %d for %s, want 200 for %s", r.StatusCode, r.CallID(), callID)
				}
			}
			c.noRecv("a second final answer", finalResp("MESSAGE"))
			if v, _ := metricValue(t, env.reg, "sipws_router_failovers_total", map[string]string{"reason": tc.name}); v < 2 {
				t.Errorf("sipws_router_failovers_total{reason=%q} = %v, want 2", tc.name, v)
			}
		})
	}
}

// TestEdgeFailover503InviteAcked: a stateful proxy that fails over on a 503 to an INVITE must
// ACK that 503 itself (RFC 3261 §17.1.1.3, §16.7): the client never sees it, so no one else
// will, and the first server retransmits its 503 until Timer H.
func TestEdgeFailover503InviteAcked(t *testing.T) {
	env, ups := twoUpstreams(t)
	c := env.dial(t, "alice")
	callID := "inv503-" + c.host
	c.send(sipReq{
		Method: "INVITE", RURI: "sip:bob@example.com", Via: []string{c.via(c.branch())},
		From: "<sip:alice@example.com>;tag=i503", To: "<sip:bob@example.com>", CallID: callID, CSeq: 1,
		Extra: []string{"Contact: <" + c.contactURI() + ">"},
	}.bytes())
	bad, pk := waitEither(t, ups, "INVITE", and(isRequest("INVITE"), hasCallID(callID)))
	ups[bad].reply(t, pk, respond(pk.msg(t), 503, "Service Unavailable"))
	good := ups[1-bad]
	pk2 := good.next(t, "INVITE after the 503", and(isRequest("INVITE"), hasCallID(callID)))
	good.reply(t, pk2, respond(pk2.msg(t), 486, "Busy Here"))
	if r := c.recv("final answer", finalResp("INVITE")); r.StatusCode != 486 {
		t.Errorf("client got %d, want 486 from the second target", r.StatusCode)
	}
	ack := ups[bad].nextWithin(t, 3*time.Second, "ACK for its 503", and(isRequest("ACK"), hasCallID(callID)))
	if b := topBranch(t, ack.data); b != topBranch(t, pk.data) {
		t.Errorf("ACK branch %q, INVITE branch %q", b, topBranch(t, pk.data))
	}
}

// TestEdgeRetransmission: the upstream loses the first copy of a request; Timer A/E recovers.
func TestEdgeRetransmission(t *testing.T) {
	for _, method := range []string{"MESSAGE", "INVITE"} {
		t.Run(method, func(t *testing.T) {
			up := newUDPPeer(t)
			env := newEdgeEnv(t, []string{up.uri()}, func(c *config.Config) {
				c.Router.Timers.T1 = config.D(100 * time.Millisecond)
				c.Router.Timers.T2 = config.D(400 * time.Millisecond)
			})
			c := env.dial(t, "alice")
			callID := "rtx-" + c.host
			c.send(sipReq{
				Method: method, RURI: "sip:bob@example.com", Via: []string{c.via(c.branch())},
				From: "<sip:alice@example.com>;tag=rtx", To: "<sip:bob@example.com>", CallID: callID, CSeq: 1,
				Extra: []string{"Contact: <" + c.contactURI() + ">"},
			}.bytes())
			first := up.next(t, "first copy", isRequest(method)) // lost
			again := up.next(t, "retransmission", isRequest(method))
			if string(again.data) != string(first.data) {
				t.Errorf("retransmission differs from the original:\n%s\n---\n%s", first.data, again.data)
			}
			up.reply(t, again, respond(again.msg(t), 200, "OK"))
			if r := c.recv("200", finalResp(method)); r.StatusCode != 200 {
				t.Errorf("client got %d", r.StatusCode)
			}
			if v, _ := metricValue(t, env.reg, "sipws_router_retransmissions_total", nil); v < 1 {
				t.Errorf("sipws_router_retransmissions_total = %v", v)
			}
		})
	}
}

// TestEdgeCancelRetransmitted: a CANCEL crosses UDP like any non-INVITE request; when its first
// copy is lost it must be retransmitted (Timer E), since the WebSocket client never will.
func TestEdgeCancelRetransmitted(t *testing.T) {
	up := newUDPPeer(t)
	env := newEdgeEnv(t, []string{up.uri()}, func(c *config.Config) {
		c.Router.Timers.T1 = config.D(100 * time.Millisecond)
		c.Router.Timers.T2 = config.D(400 * time.Millisecond)
	})
	up.router = env.r.LocalAddr("udp")
	c := env.dial(t, "alice")
	inv := sipReq{
		Method: "INVITE", RURI: "sip:bob@example.com", Via: []string{c.via(c.branch())},
		From: "<sip:alice@example.com>;tag=cr", To: "<sip:bob@example.com>", CallID: "cr-" + c.host, CSeq: 1,
		Extra: []string{"Contact: <" + c.contactURI() + ">"},
	}
	c.send(inv.bytes())
	pk := up.next(t, "INVITE", isRequest("INVITE"))
	m := pk.msg(t)
	up.reply(t, pk, respond(m, 180, "Ringing"))
	c.recv("180", resp("INVITE"))
	c.send(cancelOf(inv).bytes())
	up.next(t, "CANCEL (lost)", isRequest("CANCEL"))
	pc := up.nextWithin(t, 3*time.Second, "CANCEL retransmission (Timer E, T1=100ms)", isRequest("CANCEL"))
	up.reply(t, pc, respond(pc.msg(t), 200, "OK"))
	up.reply(t, pk, respond(m, 487, "Request Terminated"))
	if r := c.recv("200 CANCEL", finalResp("CANCEL")); r.StatusCode != 200 {
		t.Errorf("CANCEL answered %d", r.StatusCode)
	}
}

// TestEdgeUpstreamRetransmissionAbsorbed: an upstream's retransmissions of a request reach the
// client once; after the client's answer they get the cached answer.
func TestEdgeUpstreamRetransmissionAbsorbed(t *testing.T) {
	up := newUDPPeer(t)
	env := newEdgeEnv(t, []string{up.uri()}, nil)
	up.router = env.r.LocalAddr("udp")
	c := env.dial(t, "alice")
	c.send(sipReq{
		Method: "REGISTER", RURI: "sip:example.com", Via: []string{c.via(c.branch())},
		From: "<sip:alice@example.com>;tag=reg", To: "<sip:alice@example.com>", CallID: "reg-" + c.host, CSeq: 1,
		Extra: []string{"Contact: <sip:alice@" + c.host + ";transport=ws>", "Supported: path"},
	}.bytes())
	pk := up.next(t, "REGISTER", isRequest("REGISTER"))
	path, _ := pk.msg(t).Get("Path")
	up.reply(t, pk, respond(pk.msg(t), 200, "OK"))
	c.recv("200 REGISTER", finalResp("REGISTER"))

	msg := sipReq{
		Method: "MESSAGE", RURI: "sip:alice@" + c.host + ";transport=ws",
		Via: []string{"SIP/2.0/UDP " + up.addr().String() + ";branch=z9hG4bKabsorb;rport"}, Route: []string{path},
		From: "<sip:bob@example.com>;tag=ab", To: "<sip:alice@example.com>", CallID: "absorb", CSeq: 1,
		Extra: []string{"Content-Type: text/plain"}, Body: "once",
	}.bytes()
	dst := netip.MustParseAddrPort(uriOf(t, path).HostPort())
	up.send(t, dst, msg)
	in := c.recv("MESSAGE", req("MESSAGE"))
	up.send(t, dst, msg) // Timer E retransmission before the client answered
	c.noRecv("the retransmitted MESSAGE", req("MESSAGE"))
	c.send(respond(in, 200, "OK"))
	if code := statusOf(t, up.next(t, "200", isResponse("MESSAGE")).data); code != 200 {
		t.Fatalf("upstream got %d", code)
	}
	up.send(t, dst, msg) // the 200 was lost: the router answers from its cache
	if code := statusOf(t, up.next(t, "cached 200", isResponse("MESSAGE")).data); code != 200 {
		t.Fatalf("upstream got %d for its retransmission", code)
	}
	c.noRecv("the retransmitted MESSAGE", req("MESSAGE"))
	if v, _ := metricValue(t, env.reg, "sipws_router_retransmissions_absorbed_total", nil); v < 2 {
		t.Errorf("sipws_router_retransmissions_absorbed_total = %v, want 2", v)
	}
}
