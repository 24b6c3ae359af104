package router

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/sipws/sipws/edge/config"
)

// TestInDialogWithoutRecordRoute: when the upstream does not Record-Route, the client's ACK and
// BYE carry only our Route entries; once popped, the request must follow its Request-URI (the
// remote target, RFC 3261 §16.6 / §12.2.1.1) to the server of the dialog, not to whatever
// target the route's balancer picks next.
func TestInDialogWithoutRecordRoute(t *testing.T) {
	h := newHarness(t, harnessOpts{upstreams: 2})
	for _, p := range h.up {
		p.drop = true
	}
	token := h.token(41)
	for call := range 2 {
		callID := fmt.Sprintf("norr%d", call)
		inv := clientInvite(fmt.Sprintf("z9hG4bKnorr%d", call), callID)
		h.fromClient(token, inv.bytes())
		idx, pk := waitEither(t, h.up, "INVITE", and(isRequest("INVITE"), hasCallID(callID)))
		x := h.up[idx]
		m := pk.msg(t)
		contact := "sip:bob@" + x.addr().String()
		x.reply(t, pk, respondRR(m, 200, "OK", true, "Contact: <"+contact+">"))
		ok := mustParse(t, h.toClient(token, "200 INVITE").Data)
		routeSet := slices.Clone(ok.Values("Record-Route"))
		slices.Reverse(routeSet)
		to := "<sip:bob@example.com>;tag=" + toTag(t, ok)
		for n, method := range []string{"ACK", "BYE"} {
			h.fromClient(token, sipReq{
				Method: method, RURI: contact, Via: []string{fmt.Sprintf("SIP/2.0/WS c1.invalid;branch=z9hG4bKnorr%d%s", call, method)},
				Route: routeSet, From: inv.From, To: to, CallID: callID, CSeq: 1 + n,
			}.bytes())
			got, pk := waitEither(t, h.up, method, and(isRequest(method), hasCallID(callID)))
			if got != idx {
				t.Errorf("call %d: dialog with %s, but its %s (Request-URI %s) went to %s", call, x.uri(), method, contact, h.up[got].uri())
			}
			if method == "BYE" {
				h.up[got].reply(t, pk, respond(pk.msg(t), 200, "OK"))
				h.toClient(token, "200 BYE")
			}
		}
	}
}

// TestClientResponseNotRelayedElsewhere: a client's response goes back to the upstream whose
// request it answers. A response for which the router has no server transaction must not be
// sent to whatever its second Via names: that lets any WebSocket client make the router send
// arbitrary bytes over UDP, or dial TCP connections, to any address (never an open relay).
func TestClientResponseNotRelayedElsewhere(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	token := h.token(42)
	victimUDP := newUDPPeer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	for _, tc := range []struct{ transport, hostport string }{
		{"UDP", victimUDP.addr().String()},
		{"TCP", ln.Addr().String()},
	} {
		body := "GET / HTTP/1.0\r\n\r\n"
		forged := crlf(fmt.Sprintf("SIP/2.0 200 OK\n"+
			"Via: SIP/2.0/WS %s;branch=%sforged.x\n"+
			"Via: SIP/2.0/%s %s;branch=z9hG4bKvictim\n"+
			"From: <sip:a@example.com>;tag=1\nTo: <sip:b@example.com>;tag=2\nCall-ID: forged\nCSeq: 1 MESSAGE\n"+
			"Content-Length: %d\n\n", testAdv, branchPrefix, tc.transport, tc.hostport, len(body)))
		mustParse(t, append(forged, body...))
		h.fromClient(token, append(forged, body...))
	}
	select {
	case pk := <-victimUDP.ch:
		t.Errorf("a response with no transaction was sent over UDP to the address its second Via names:\n%s", pk.data)
	case <-time.After(quiet):
	}
	select {
	case c := <-accepted:
		c.SetReadDeadline(time.Now().Add(time.Second))
		b := make([]byte, 512)
		n, _ := c.Read(b)
		c.Close()
		t.Errorf("the router dialed a TCP connection to the address a client named in a Via and wrote:\n%s", b[:n])
	case <-time.After(quiet):
	}
}

// TestAliasClientToClient: with contact aliases, a client may address a request straight to
// another flow's alias; the router delivers it (toAlias), but keeps no transaction for it, so
// the callee's response goes to clientResponse's fallback: the caller's Via, transport "ws",
// which the SIP transport layer cannot send on. The caller never gets an answer.
func TestAliasClientToClient(t *testing.T) {
	h := newHarness(t, harnessOpts{adjust: func(c *config.Config, _ []*udpPeer) {
		c.Router.Routes[0].FlowRouting = config.FlowRoutingContactAlias
	}})
	up := h.up[0]
	callee, caller := h.token(61), h.token(62)
	h.fromClient(callee, sipReq{
		Method: "REGISTER", RURI: "sip:example.com", Via: []string{"SIP/2.0/WS b1.invalid;branch=z9hG4bKaliasreg"},
		From: "<sip:bob@example.com>;tag=r", To: "<sip:bob@example.com>", CallID: "aliasreg", CSeq: 1,
		Extra: []string{"Contact: <sip:bob@b1.invalid;transport=ws>"},
	}.bytes())
	pk := up.next(t, "REGISTER", isRequest("REGISTER"))
	contact, _ := pk.msg(t).Get("Contact")
	alias := uriOf(t, contact)
	up.reply(t, pk, respond(pk.msg(t), 200, "OK"))
	h.toClient(callee, "200 REGISTER")

	h.fromClient(caller, sipReq{
		Method: "MESSAGE", RURI: alias.String(), Via: []string{"SIP/2.0/WS a1.invalid;branch=z9hG4bKc2c"},
		From: "<sip:alice@example.com>;tag=c2c", To: "<sip:bob@example.com>", CallID: "c2c", CSeq: 1,
		Extra: []string{"Content-Type: text/plain"}, Body: "hi bob",
	}.bytes())
	in := h.toClient(callee, "MESSAGE delivered to the alias")
	m := mustParse(t, in.Data)
	if m.RequestURI != "sip:bob@b1.invalid;transport=ws" {
		t.Errorf("alias not restored: %s", m.RequestURI)
	}
	h.fromClient(callee, respond(m, 200, "OK"))
	select {
	case r := <-h.out:
		if r.Subject != testSubj.Out(testNode, caller) || statusOf(t, r.Data) != 200 {
			t.Errorf("got %s on %s, want the 200 on the caller's subject", r.Data, r.Subject)
		}
	case <-time.After(3 * time.Second):
		v, _ := metricValue(t, h.reg, "sipws_router_send_errors_total", map[string]string{"transport": "ws"})
		t.Errorf("the caller never got the callee's 200 (sipws_router_send_errors_total{transport=\"ws\"} = %v)", v)
	}
}
