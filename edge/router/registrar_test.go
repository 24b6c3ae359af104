package router

// Tests of the built-in registrar through the router: REGISTER processing against a
// JetStream key-value bucket on an in-process nats-server, parallel forking between flows,
// removal of bindings with their flow, bindings shared by two routers and kept across a
// router restart, digest authentication.

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipws/sipws/edge/bus"
	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/flow"
	"github.com/sipws/sipws/edge/natsembed"
	"github.com/sipws/sipws/edge/registrar"
	"github.com/sipws/sipws/edge/sipmsg"
)

func startJSNATS(t testing.TB) *natsserver.Server {
	t.Helper()
	ns, err := natsembed.Start(natsembed.Options{Name: "registrar-test", JetStreamDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start nats-server with JetStream: %v", err)
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// regHarness: routers whose only route is the registrar; the test plays the edge of node n1
// and its clients.
type regHarness struct {
	*harness
}

func registrarConfig(natsURL string, adjust func(*config.Registrar)) *config.Config {
	return baseConfig(natsURL, nil, func(c *config.Config) {
		rc := &config.Registrar{}
		if adjust != nil {
			adjust(rc)
		}
		c.Router.Routes = []config.Route{{Name: "registrar", Upstream: config.Upstream{Registrar: rc}}}
	})
}

func newRegHarness(t *testing.T, adjust func(*config.Registrar)) *regHarness {
	t.Helper()
	h := &harness{t: t, ns: startJSNATS(t), keys: flow.RandomKeyring(), reg: prometheus.NewRegistry()}
	h.nc = natsConnect(t, h.ns.ClientURL())
	h.cfg = registrarConfig(h.ns.ClientURL(), adjust)
	h.out = subscribe(t, h.nc, testSubj.OutNode(testNode))
	h.heartbeats(testNode)
	h.r = startRouter(t, h.cfg, h.keys, h.reg)
	return &regHarness{h}
}

// register sends a REGISTER for user over token and returns the response.
func (h *regHarness) register(token, user string, cseq int, expires string, extra ...string) *sipmsg.Msg {
	h.t.Helper()
	q := sipReq{
		Method: "REGISTER", RURI: "sip:example.com",
		Via:  []string{fmt.Sprintf("SIP/2.0/WSS %s.invalid;branch=z9hG4bKreg%s%d", user, tid(token), cseq)},
		From: "<sip:" + user + "@example.com>;tag=r" + user, To: "<sip:" + user + "@example.com>",
		CallID: "reg-" + user + "-" + tid(token), CSeq: cseq,
		Extra: append([]string{"Supported: path, outbound"}, extra...),
	}
	if expires != "" {
		q.Extra = append(q.Extra, "Expires: "+expires)
	}
	h.fromClient(token, q.bytes())
	return mustParse(h.t, h.toClient(token, "REGISTER response").Data)
}

// tid is a short host-name-safe id of a token.
func tid(token string) string {
	h := fnv.New32a()
	h.Write([]byte(token))
	return fmt.Sprintf("t%x", h.Sum32())
}

func contactOf(user, token string) string {
	return "Contact: <sip:" + user + "@" + tid(token) + ".invalid;transport=ws>"
}

var cseqSeq atomic.Int32

// nextCSeq is a CSeq higher than every one used before.
func nextCSeq() int { return int(cseqSeq.Add(1)) + 100 }

func TestRegistrarRegister(t *testing.T) {
	h := newRegHarness(t, nil)
	tok := h.token(1)
	type step struct {
		name    string
		cseq    int
		expires string
		extra   []string
		code    int
		check   func(t *testing.T, m *sipmsg.Msg)
	}
	contactCount := func(n int) func(*testing.T, *sipmsg.Msg) {
		return func(t *testing.T, m *sipmsg.Msg) {
			if got := len(m.Values("Contact")); got != n {
				t.Errorf("200 lists %d contacts, want %d: %v", got, n, m.Values("Contact"))
			}
		}
	}
	steps := []step{
		{"query, nothing bound", 1, "", nil, 200, contactCount(0)},
		{"add", 2, "600", []string{contactOf("alice", tok)}, 200, func(t *testing.T, m *sipmsg.Msg) {
			contactCount(1)(t, m)
			if c := m.Values("Contact"); len(c) == 1 && !strings.Contains(c[0], "expires=600") && !strings.Contains(c[0], "expires=599") {
				t.Errorf("contact %q: want expires=600", c[0])
			}
			if p, _ := m.Get("Path"); !strings.Contains(p, tok) {
				t.Errorf("Path %q: want the flow URI with the token", p)
			}
		}},
		{"refresh", 3, "600", []string{contactOf("alice", tok)}, 200, contactCount(1)},
		{"out of order CSeq", 3, "600", []string{contactOf("alice", tok)}, 500, nil},
		{"too brief", 4, "10", []string{contactOf("alice", tok)}, 423, func(t *testing.T, m *sipmsg.Msg) {
			if v, _ := m.Get("Min-Expires"); v != "60" {
				t.Errorf("Min-Expires %q, want 60", v)
			}
		}},
		{"second contact, capped", 5, "", []string{"Contact: <sip:alice@second.invalid;transport=ws>;expires=99999"}, 200, func(t *testing.T, m *sipmsg.Msg) {
			contactCount(2)(t, m)
			for _, c := range m.Values("Contact") {
				if strings.Contains(c, "second") && !strings.Contains(c, "expires=3600") && !strings.Contains(c, "expires=3599") {
					t.Errorf("contact %q: want expires capped at 3600", c)
				}
			}
		}},
		{"remove one", 6, "0", []string{contactOf("alice", tok)}, 200, contactCount(1)},
		{"wildcard needs Expires 0", 7, "60", []string{"Contact: *"}, 400, nil},
		{"wildcard", 8, "0", []string{"Contact: *"}, 200, contactCount(0)},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			m := h.register(tok, "alice", s.cseq, s.expires, s.extra...)
			if m.StatusCode != s.code {
				t.Fatalf("status %d %s, want %d", m.StatusCode, m.Reason, s.code)
			}
			if s.check != nil {
				s.check(t, m)
			}
		})
	}
}

// legs collects n messages the router publishes to node n1, by flow token.
func (h *regHarness) legs(n int, what string) map[string]*sipmsg.Msg {
	h.t.Helper()
	out := map[string]*sipmsg.Msg{}
	for i := range n {
		m := h.toClient("", fmt.Sprintf("%s %d/%d", what, i+1, n))
		tok := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
		out[tok] = mustParse(h.t, m.Data)
	}
	return out
}

func TestRegistrarForkingFirst2xxWins(t *testing.T) {
	h := newRegHarness(t, nil)
	a1, a2, caller := h.token(11), h.token(12), h.token(13)
	for _, tok := range []string{a1, a2} {
		if m := h.register(tok, "alice", 1, "600", contactOf("alice", tok)); m.StatusCode != 200 {
			t.Fatalf("REGISTER: %d", m.StatusCode)
		}
	}
	inv := sipReq{
		Method: "INVITE", RURI: "sip:alice@example.com",
		Via:  []string{"SIP/2.0/WSS bob.invalid;branch=z9hG4bKcall1"},
		From: "<sip:bob@example.com>;tag=b1", To: "<sip:alice@example.com>", CallID: "fork1", CSeq: 1,
		Extra: []string{"Contact: <sip:bob@bob.invalid;transport=ws;ob>", "Content-Type: application/sdp"}, Body: "v=0\r\n",
	}
	h.fromClient(caller, inv.bytes())
	legs := h.legs(2, "forked INVITE")
	for _, tok := range []string{a1, a2} {
		m := legs[tok]
		if m == nil || m.Method != "INVITE" {
			t.Fatalf("flow %s got no INVITE: %v", tok, legs)
		}
		if want := "sip:alice@" + tid(tok) + ".invalid;transport=ws"; m.RequestURI != want {
			t.Errorf("leg Request-URI %s, want the contact %s", m.RequestURI, want)
		}
		rr := m.Values("Record-Route")
		if len(rr) != 2 || !strings.Contains(rr[0], caller) || !strings.Contains(rr[1], tok) {
			t.Errorf("leg Record-Route %v: want the caller's then the callee's flow", rr)
		}
		h.fromClient(tok, respond(m, 180, "Ringing"))
	}
	for range 2 {
		if m := mustParse(t, h.toClient(caller, "180").Data); m.StatusCode != 180 || m.Count("Via") != 1 {
			t.Fatalf("caller got %d with %d Vias, want 180 with its own Via only", m.StatusCode, m.Count("Via"))
		}
	}
	h.fromClient(a1, respondRR(legs[a1], 200, "OK", true, "Contact: <sip:alice@a1.invalid;transport=ws>"))
	got := map[string]*sipmsg.Msg{}
	for range 2 { // the 200 to the caller and the CANCEL to the other leg, in any order
		m := h.toClient("", "200 and CANCEL")
		got[m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]] = mustParse(t, m.Data)
	}
	ok, cxl := got[caller], got[a2]
	if ok == nil || ok.StatusCode != 200 {
		t.Fatalf("caller did not get the 200: %v", got)
	}
	if cxl == nil || cxl.Method != "CANCEL" || topBranch(t, cxl.Bytes()) != topBranch(t, legs[a2].Bytes()) {
		t.Fatalf("other leg did not get a CANCEL with its INVITE's branch: %v", got)
	}
	h.fromClient(a2, respond(cxl, 200, "OK"))
	h.fromClient(a2, respond(legs[a2], 487, "Request Terminated"))
	if ack := mustParse(t, h.toClient(a2, "ACK of 487").Data); ack.Method != "ACK" {
		t.Fatalf("cancelled leg got %s, want the proxy's ACK", ack.Method)
	}
	// The caller's ACK and the callee's BYE follow the Record-Route entries.
	routeSet := slices.Clone(ok.Values("Record-Route"))
	slices.Reverse(routeSet)
	to, _ := ok.Get("To")
	h.fromClient(caller, sipReq{Method: "ACK", RURI: "sip:alice@a1.invalid;transport=ws", Via: []string{"SIP/2.0/WSS bob.invalid;branch=z9hG4bKack1"},
		Route: routeSet, From: inv.From, To: to, CallID: "fork1", CSeq: 1}.bytes())
	if ack := mustParse(t, h.toClient(a1, "ACK of 200").Data); ack.Method != "ACK" || ack.Count("Route") != 0 {
		t.Fatalf("answering leg got %s with Route %v, want the ACK without our Routes", ack.Method, ack.Values("Route"))
	}
	calleeRoutes := ok.Values("Record-Route")
	h.fromClient(a1, sipReq{Method: "BYE", RURI: "sip:bob@bob.invalid;transport=ws;ob", Via: []string{"SIP/2.0/WSS a1.invalid;branch=z9hG4bKbye1"},
		Route: calleeRoutes, From: to, To: inv.From, CallID: "fork1", CSeq: 2}.bytes())
	bye := mustParse(t, h.toClient(caller, "BYE").Data)
	if bye.Method != "BYE" {
		t.Fatalf("caller got %s, want BYE", bye.Method)
	}
	h.fromClient(caller, respond(bye, 200, "OK"))
	if m := mustParse(t, h.toClient(a1, "200 BYE").Data); m.StatusCode != 200 {
		t.Fatalf("callee got %d to its BYE", m.StatusCode)
	}
}

func TestRegistrarBestResponse(t *testing.T) {
	h := newRegHarness(t, nil)
	a1, a2, caller := h.token(21), h.token(22), h.token(23)
	for _, tc := range []struct {
		name   string
		codes  [2]int
		want   int
		method string
	}{
		{"busy and decline", [2]int{486, 603}, 603, "INVITE"},
		{"busy and moved", [2]int{486, 302}, 302, "INVITE"},
		{"message 2xx wins", [2]int{480, 202}, 202, "MESSAGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, tok := range []string{a1, a2} {
				h.register(tok, "carol", nextCSeq()+i, "600", contactOf("carol", tok))
			}
			callID := "best-" + strings.ReplaceAll(tc.name, " ", "-")
			h.fromClient(caller, sipReq{Method: tc.method, RURI: "sip:carol@example.com", Via: []string{"SIP/2.0/WSS bob.invalid;branch=z9hG4bK" + callID},
				From: "<sip:bob@example.com>;tag=b", To: "<sip:carol@example.com>", CallID: callID, CSeq: 1}.bytes())
			legs := h.legs(2, tc.method)
			for i, tok := range []string{a1, a2} {
				h.fromClient(tok, respond(legs[tok], tc.codes[i], "X"))
			}
			var final *sipmsg.Msg
			for final == nil {
				m := h.toClient("", "final")
				if strings.HasSuffix(m.Subject, caller) {
					final = mustParse(t, m.Data)
				}
			}
			if final.StatusCode != tc.want {
				t.Fatalf("caller got %d, want %d", final.StatusCode, tc.want)
			}
			drain(h.out)
		})
	}
	t.Run("unknown user", func(t *testing.T) {
		h.fromClient(caller, sipReq{Method: "MESSAGE", RURI: "sip:nobody@example.com", Via: []string{"SIP/2.0/WSS bob.invalid;branch=z9hG4bKnobody"},
			From: "<sip:bob@example.com>;tag=b", To: "<sip:nobody@example.com>", CallID: "nobody", CSeq: 1}.bytes())
		if m := mustParse(t, h.toClient(caller, "404").Data); m.StatusCode != 404 {
			t.Fatalf("got %d, want 404", m.StatusCode)
		}
	})
	t.Run("known user without binding", func(t *testing.T) {
		h.register(a1, "dave", 1, "600", contactOf("dave", a1))
		h.register(a1, "dave", 2, "0", contactOf("dave", a1))
		h.fromClient(caller, sipReq{Method: "MESSAGE", RURI: "sip:dave@example.com", Via: []string{"SIP/2.0/WSS bob.invalid;branch=z9hG4bKdave"},
			From: "<sip:bob@example.com>;tag=b", To: "<sip:dave@example.com>", CallID: "dave", CSeq: 1}.bytes())
		if m := mustParse(t, h.toClient(caller, "480").Data); m.StatusCode != 480 {
			t.Fatalf("got %d, want 480", m.StatusCode)
		}
	})
}

func drain(ch chan *nats.Msg) {
	for {
		select {
		case <-ch:
		case <-time.After(100 * time.Millisecond):
			return
		}
	}
}

// message sends a MESSAGE from caller to user and returns the flows it reached.
func (h *regHarness) message(caller, user, callID string, legs int) map[string]*sipmsg.Msg {
	h.t.Helper()
	h.fromClient(caller, sipReq{Method: "MESSAGE", RURI: "sip:" + user + "@example.com", Via: []string{"SIP/2.0/WSS c.invalid;branch=z9hG4bK" + callID},
		From: "<sip:bob@example.com>;tag=b", To: "<sip:" + user + "@example.com>", CallID: callID, CSeq: 1, Body: "hi"}.bytes())
	if legs == 0 {
		return map[string]*sipmsg.Msg{caller: mustParse(h.t, h.toClient(caller, "answer").Data)}
	}
	return h.legs(legs, "MESSAGE")
}

func TestRegistrarFlowClosedRemovesBindings(t *testing.T) {
	h := newRegHarness(t, nil)
	a1, a2, caller := h.token(31), h.token(32), h.token(33)
	h.register(a1, "erin", 1, "600", contactOf("erin", a1))
	h.register(a2, "erin", 1, "600", contactOf("erin", a2))
	h.notice(bus.Notice{Event: bus.EventFlowClosed, Node: testNode, Flow: a1, Reason: "test"})
	waitFor(t, func() bool {
		c, _, err := h.r.reg.store.Get(t.Context(), "sip:erin@example.com")
		return err == nil && len(c.Contacts) == 1 && c.Contacts[0].Flow == a2
	}, "the binding over the closed flow is removed, the other kept")
	got := h.message(caller, "erin", "closed1", 1)
	if got[a2] == nil {
		t.Fatalf("MESSAGE went to %v, want only the open flow", got)
	}
	h.fromClient(a2, respond(got[a2], 200, "OK"))
	h.toClient(caller, "200")
	// A flow failing while a request waits on it ends that leg.
	a3 := h.token(34)
	h.register(a3, "erin", 1, "600", contactOf("erin", a3))
	h.message(caller, "erin", "closed2", 2)
	h.notice(bus.Notice{Event: bus.EventFlowFailed, Node: testNode, Flow: a3, Reason: "unknown-flow"})
	h.notice(bus.Notice{Event: bus.EventFlowFailed, Node: testNode, Flow: a2, Reason: "unknown-flow"})
	if m := mustParse(t, h.toClient(caller, "480 after both flows failed").Data); m.StatusCode != 480 {
		t.Fatalf("caller got %d, want 480", m.StatusCode)
	}
}

// Two routers share the bucket: a binding made through one is used by the other, and by a
// router started after both stopped.
func TestRegistrarSharedAndRestart(t *testing.T) {
	ns := startJSNATS(t)
	keys := flow.RandomKeyring()
	h := &harness{t: t, ns: ns, keys: keys, reg: prometheus.NewRegistry()}
	h.nc = natsConnect(t, ns.ClientURL())
	h.out = subscribe(t, h.nc, testSubj.OutNode(testNode))
	h.heartbeats(testNode)
	rh := &regHarness{h}
	r1 := startRouter(t, registrarConfig(ns.ClientURL(), nil), keys, prometheus.NewRegistry())
	r2 := startRouter(t, registrarConfig(ns.ClientURL(), nil), keys, prometheus.NewRegistry())
	users := []string{"u0", "u1", "u2", "u3", "u4", "u5"}
	toks := map[string]string{}
	for i, u := range users {
		toks[u] = h.token(uint64(100 + i))
		if m := rh.register(toks[u], u, 1, "600", contactOf(u, toks[u])); m.StatusCode != 200 {
			t.Fatalf("REGISTER %s: %d", u, m.StatusCode)
		}
	}
	caller := h.token(99)
	check := func(stage string) {
		for i, u := range users {
			got := rh.message(caller, u, fmt.Sprintf("%s-%d", stage, i), 1)
			m := got[toks[u]]
			if m == nil {
				t.Fatalf("%s: MESSAGE for %s did not reach its flow: %v", stage, u, got)
			}
			h.fromClient(toks[u], respond(m, 200, "OK"))
			if a := mustParse(t, h.toClient(caller, "200 MESSAGE").Data); a.StatusCode != 200 {
				t.Fatalf("%s: caller got %d", stage, a.StatusCode)
			}
		}
	}
	check("both")
	// Every binding made through either router is used by the other alone. (Wait until the
	// server has seen the closed router's connection go: it would still be sent messages.)
	closeRouter := func(r *Router) {
		n := ns.NumClients()
		_ = r.Close()
		waitFor(t, func() bool { return ns.NumClients() < n }, "the server drops the closed router's connection")
	}
	closeRouter(r1)
	check("second-only")
	closeRouter(r2)
	startRouter(t, registrarConfig(ns.ClientURL(), nil), keys, prometheus.NewRegistry())
	check("after-restart")
}

func TestRegistrarDigest(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(users, []byte("users:\n  alice: s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newRegHarness(t, func(rc *config.Registrar) {
		rc.Auth = &config.RegistrarAuth{Realm: "sipws.test", UsersFile: users, Algorithms: []string{"SHA-256", "MD5"}, Requests: true}
	})
	tok := h.token(41)
	m := h.register(tok, "alice", 1, "600", contactOf("alice", tok))
	if m.StatusCode != 401 {
		t.Fatalf("unauthenticated REGISTER: %d, want 401", m.StatusCode)
	}
	ch := m.Values("WWW-Authenticate")
	if len(ch) < 2 || !strings.Contains(ch[0], "SHA-256") {
		t.Fatalf("challenges %v: want SHA-256 first, then MD5", ch)
	}
	nonce := ch[0][strings.Index(ch[0], `nonce="`)+7:]
	nonce = nonce[:strings.IndexByte(nonce, '"')]
	for _, tc := range []struct {
		name, alg, pass string
		want            int
	}{
		{"sha-256", "SHA-256", "s3cret", 200},
		{"md5", "MD5", "s3cret", 200},
		{"wrong password", "SHA-256", "nope", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := registrar.DigestResponse(tc.alg, "alice", "sipws.test", tc.pass, "REGISTER", "sip:example.com", nonce, "00000001", "c0ffee")
			auth := fmt.Sprintf(`Authorization: Digest username="alice", realm="sipws.test", nonce="%s", uri="sip:example.com", response="%s", algorithm=%s, qop=auth, nc=00000001, cnonce="c0ffee"`, nonce, resp, tc.alg)
			got := h.register(tok, "alice", nextCSeq(), "600", contactOf("alice", tok), auth)
			if got.StatusCode != tc.want {
				t.Fatalf("status %d %s, want %d", got.StatusCode, got.Reason, tc.want)
			}
		})
	}
	t.Run("requests get 407", func(t *testing.T) {
		h.fromClient(tok, sipReq{Method: "MESSAGE", RURI: "sip:alice@example.com", Via: []string{"SIP/2.0/WSS a.invalid;branch=z9hG4bKauthmsg"},
			From: "<sip:alice@example.com>;tag=m", To: "<sip:alice@example.com>", CallID: "authmsg", CSeq: 1, Body: "hi"}.bytes())
		m := mustParse(t, h.toClient(tok, "407").Data)
		if m.StatusCode != 407 || m.Count("Proxy-Authenticate") != 2 {
			t.Fatalf("MESSAGE without credentials: %d with %d challenges, want 407 with 2", m.StatusCode, m.Count("Proxy-Authenticate"))
		}
	})
}

// The caller cancels a forked INVITE: 200 to the CANCEL, a CANCEL to every ringing leg (and to
// a silent one once it rings), 487 to the caller when the legs answer 487.
func TestRegistrarCallerCancel(t *testing.T) {
	h := newRegHarness(t, nil)
	a1, a2, caller := h.token(51), h.token(52), h.token(53)
	for _, tok := range []string{a1, a2} {
		h.register(tok, "frank", 1, "600", contactOf("frank", tok))
	}
	inv := sipReq{
		Method: "INVITE", RURI: "sip:frank@example.com", Via: []string{"SIP/2.0/WSS c.invalid;branch=z9hG4bKcxl1"},
		From: "<sip:bob@example.com>;tag=b", To: "<sip:frank@example.com>", CallID: "cxl1", CSeq: 7,
		Extra: []string{"Contact: <sip:bob@c.invalid;transport=ws>"},
	}
	h.fromClient(caller, inv.bytes())
	legs := h.legs(2, "INVITE")
	h.fromClient(a1, respond(legs[a1], 180, "Ringing"))
	if m := mustParse(t, h.toClient(caller, "180").Data); m.StatusCode != 180 {
		t.Fatalf("caller got %d", m.StatusCode)
	}
	cxl := inv
	cxl.Method, cxl.Extra = "CANCEL", nil
	h.fromClient(caller, cxl.bytes())
	got := map[string]*sipmsg.Msg{}
	for range 2 { // 200 to the caller's CANCEL, CANCEL to the ringing leg
		m := h.toClient("", "200 CANCEL / CANCEL")
		got[m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]] = mustParse(t, m.Data)
	}
	if m := got[caller]; m == nil || m.StatusCode != 200 {
		t.Fatalf("caller's CANCEL not answered 200: %v", got)
	}
	if m := got[a1]; m == nil || m.Method != "CANCEL" {
		t.Fatalf("ringing leg not cancelled: %v", got)
	}
	h.noClientMsg("no CANCEL to a leg that has not answered yet (RFC 3261 §9.1)")
	h.fromClient(a2, respond(legs[a2], 180, "Ringing"))
	if m := mustParse(t, h.toClient(a2, "CANCEL after 180").Data); m.Method != "CANCEL" {
		t.Fatalf("silent leg got %s after ringing, want CANCEL", m.Method)
	}
	for _, tok := range []string{a1, a2} {
		h.fromClient(tok, respond(legs[tok], 487, "Request Terminated"))
		if m := mustParse(t, h.toClient(tok, "ACK of 487").Data); m.Method != "ACK" {
			t.Fatalf("leg got %s, want ACK", m.Method)
		}
	}
	if m := mustParse(t, h.toClient(caller, "487").Data); m.StatusCode != 487 {
		t.Fatalf("caller got %d, want 487", m.StatusCode)
	}
}
