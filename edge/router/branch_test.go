package router

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipws/sipws/edge/flow"
	"github.com/sipws/sipws/edge/sipmsg"
)

// sipReq builds a request; CSeq's method is Method.
type sipReq struct {
	Method, RURI string
	Via          []string
	Route        []string
	From, To     string
	CallID       string
	CSeq         int
	Extra        []string
	Body         string
}

func (q sipReq) bytes() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", q.Method, q.RURI)
	for _, v := range q.Via {
		fmt.Fprintf(&b, "Via: %s\r\n", v)
	}
	b.WriteString("Max-Forwards: 70\r\n")
	for _, r := range q.Route {
		fmt.Fprintf(&b, "Route: %s\r\n", r)
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n", q.From, q.To, q.CallID, q.CSeq, q.Method)
	for _, e := range q.Extra {
		b.WriteString(e + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(q.Body), q.Body)
	return []byte(b.String())
}

// clientInvite is an initial INVITE from a WebSocket client with the given top Via branch.
func clientInvite(branch, callID string) sipReq {
	return sipReq{
		Method: "INVITE", RURI: "sip:bob@example.com",
		Via:  []string{"SIP/2.0/WS c1.invalid;branch=" + branch},
		From: "<sip:alice@example.com>;tag=a" + callID, To: "<sip:bob@example.com>",
		CallID: callID, CSeq: 1,
		Extra: []string{"Contact: <sip:alice@c1.invalid;transport=ws;ob>"},
	}
}

// cancelOf is the CANCEL a UAC builds for inv (RFC 3261 §9.1).
func cancelOf(inv sipReq) sipReq {
	c := inv
	c.Method, c.Route, c.Extra, c.Body = "CANCEL", nil, nil, ""
	return c
}

// waitEither waits for the next message kept by keep on any of the peers.
func waitEither(t testing.TB, peers []*udpPeer, what string, keep func(packet) bool) (int, packet) {
	t.Helper()
	deadline := time.After(waitLong)
	for {
		for i, p := range peers {
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
				return i, pk
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatalf("no upstream received %s within %s", what, waitLong)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func hasCallID(callID string) func(packet) bool {
	return func(p packet) bool {
		m, err := sipmsg.Parse(p.data)
		return err == nil && m.CallID() == callID
	}
}

func and(fs ...func(packet) bool) func(packet) bool {
	return func(p packet) bool {
		for _, f := range fs {
			if !f(p) {
				return false
			}
		}
		return true
	}
}

func TestBranchSameRequestTwice(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	up := h.up[0]
	token := h.token(7)
	reg := sipReq{
		Method: "REGISTER", RURI: "sip:example.com", Via: []string{"SIP/2.0/WS c1.invalid;branch=z9hG4bKsame1"},
		From: "<sip:alice@example.com>;tag=s1", To: "<sip:alice@example.com>", CallID: "same1", CSeq: 1,
		Extra: []string{"Contact: <sip:alice@c1.invalid;transport=ws>", "Supported: path"},
	}.bytes()
	var branches []string
	for i := range 2 {
		h.fromClient(token, reg)
		pk := up.next(t, fmt.Sprintf("REGISTER #%d", i+1), isRequest("REGISTER"))
		branches = append(branches, topBranch(t, pk.data))
		up.reply(t, pk, respond(pk.msg(t), 200, "OK"))
		if code := statusOf(t, h.toClient(token, "200 REGISTER").Data); code != 200 {
			t.Fatalf("client got %d", code)
		}
		up.drain() // retransmissions that crossed the answer
	}
	if branches[0] != branches[1] {
		t.Errorf("same request twice got branches %q and %q", branches[0], branches[1])
	}
	if tok, ok := tokenFromBranch(branches[0]); !ok || tok != token {
		t.Errorf("branch %q does not carry the flow token", branches[0])
	}

	// A second router with the same keys computes the same branch: routers share the queue
	// group, so a retransmission or CANCEL may reach any of them.
	r2 := startRouter(t, h.cfg, h.keys, prometheus.NewRegistry())
	r2.fromClient(clientMsg(token, reg))
	pk := up.next(t, "REGISTER via the second router", isRequest("REGISTER"))
	if b := topBranch(t, pk.data); b != branches[0] {
		t.Errorf("second router branch %q, first router %q", b, branches[0])
	}
	up.reply(t, pk, respond(pk.msg(t), 200, "OK"))
}

func TestBranchDifferentClientBranch(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	up := h.up[0]
	up.drop = true
	token := h.token(8)
	seen := map[string]string{}
	for _, cb := range []string{"z9hG4bKdiff1", "z9hG4bKdiff2", "z9hG4bKdiff3"} {
		// Same Call-ID, From, CSeq: only the client's branch differs.
		h.fromClient(token, clientInvite(cb, "diff").bytes())
		pk := up.next(t, "INVITE "+cb, isRequest("INVITE"))
		b := topBranch(t, pk.data)
		if prev, dup := seen[b]; dup {
			t.Errorf("client branches %s and %s both became %s", prev, cb, b)
		}
		seen[b] = cb
		up.reply(t, pk, respond(pk.msg(t), 486, "Busy Here"))
		h.toClient(token, "486")
	}
}

// TestBranchCancel: a CANCEL leaves with the INVITE's branch, to the INVITE's target, also
// with two targets to choose from.
func TestBranchCancel(t *testing.T) {
	h := newHarness(t, harnessOpts{upstreams: 2})
	for _, p := range h.up {
		p.drop = true
	}
	token := h.token(9)
	for i := range 3 { // three calls: round robin sends them to both targets
		callID := fmt.Sprintf("cancel%d", i)
		inv := clientInvite(fmt.Sprintf("z9hG4bKcan%d", i), callID)
		h.fromClient(token, inv.bytes())
		idx, pk := waitEither(t, h.up, "INVITE", and(isRequest("INVITE"), hasCallID(callID)))
		x := h.up[idx]
		invMsg := pk.msg(t)
		x.reply(t, pk, respond(invMsg, 180, "Ringing"))
		if code := statusOf(t, h.toClient(token, "180").Data); code != 180 {
			t.Fatalf("client got %d, want 180", code)
		}
		h.fromClient(token, cancelOf(inv).bytes())
		cidx, cpk := waitEither(t, h.up, "CANCEL", and(isRequest("CANCEL"), hasCallID(callID)))
		if cidx != idx {
			t.Fatalf("call %d: INVITE went to upstream %d, CANCEL to upstream %d", i, idx, cidx)
		}
		if got, want := topBranch(t, cpk.data), topBranch(t, pk.data); got != want {
			t.Errorf("call %d: CANCEL branch %q, INVITE branch %q", i, got, want)
		}
		x.reply(t, cpk, respond(cpk.msg(t), 200, "OK"))
		x.reply(t, pk, respond(invMsg, 487, "Request Terminated"))
		got := map[int]bool{}
		for range 2 {
			got[statusOf(t, h.toClient(token, "CANCEL answers").Data)] = true
		}
		if !got[200] || !got[487] {
			t.Errorf("call %d: client got %v, want 200 (CANCEL) and 487 (INVITE)", i, got)
		}
	}
}

// TestBranchCancelOnAnotherRouter: routers share a NATS queue group, so the CANCEL of an INVITE
// may be handled by a router that never saw the INVITE. It must still reach the INVITE's target
// (RFC 3261 §9.1, §16.10): a CANCEL sent elsewhere cancels nothing, and the call rings on.
func TestBranchCancelOnAnotherRouter(t *testing.T) {
	h := newHarness(t, harnessOpts{upstreams: 2})
	for _, p := range h.up {
		p.drop = true
	}
	r1 := h.r
	r2 := startRouter(t, h.cfg, h.keys, prometheus.NewRegistry())
	token := h.token(10)

	// r2 has already served another request of some flow.
	other := h.token(11)
	r2.fromClient(clientMsg(other, sipReq{
		Method: "MESSAGE", RURI: "sip:bob@example.com", Via: []string{"SIP/2.0/WS c2.invalid;branch=z9hG4bKother"},
		From: "<sip:carol@example.com>;tag=o", To: "<sip:bob@example.com>", CallID: "other", CSeq: 1,
	}.bytes()))
	oidx, opk := waitEither(t, h.up, "MESSAGE", isRequest("MESSAGE"))
	h.up[oidx].reply(t, opk, respond(opk.msg(t), 200, "OK"))
	h.toClient(other, "200 MESSAGE")

	inv := clientInvite("z9hG4bKxr1", "xrouter")
	r1.fromClient(clientMsg(token, inv.bytes()))
	idx, pk := waitEither(t, h.up, "INVITE", and(isRequest("INVITE"), hasCallID("xrouter")))
	h.up[idx].reply(t, pk, respond(pk.msg(t), 180, "Ringing"))
	h.toClient(token, "180")

	r2.fromClient(clientMsg(token, cancelOf(inv).bytes()))
	cidx, cpk := waitEither(t, h.up, "CANCEL", and(isRequest("CANCEL"), hasCallID("xrouter")))
	if got, want := topBranch(t, cpk.data), topBranch(t, pk.data); got != want {
		t.Errorf("CANCEL branch %q, INVITE branch %q", got, want)
	}
	if cidx != idx {
		t.Errorf("INVITE (router 1) went to upstream %d (%s), its CANCEL (router 2) to upstream %d (%s): the CANCEL cannot match the INVITE transaction",
			idx, h.up[idx].uri(), cidx, h.up[cidx].uri())
	}
}

func TestTokenFromBranch(t *testing.T) {
	keys := flow.RandomKeyring()
	var tokens []string
	for _, f := range []flow.Flow{{Node: "n1", Serial: 0}, {Node: "n1", Serial: 1<<64 - 1}, {Node: strings.Repeat("x", 32), Serial: 42}, {Node: "a-b_c", Serial: 7}} {
		tok, err := keys.Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	parse := func(s string) *sipmsg.Msg {
		m, err := sipmsg.Parse(crlf(s))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	msgs := map[string]*sipmsg.Msg{
		"rfc3261": parse("INVITE sip:b@example.com SIP/2.0\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKabc\nCall-ID: 1\nCSeq: 1 INVITE\nFrom: <sip:a@example.com>;tag=1\nTo: <sip:b@example.com>\n\n"),
		"rfc2543": parse("INVITE sip:b@example.com SIP/2.0\nVia: SIP/2.0/UDP old.example.com\nCall-ID: 1\nCSeq: 1 INVITE\nFrom: <sip:a@example.com>;tag=1\nTo: <sip:b@example.com>\n\n"),
	}
	for _, tok := range tokens {
		for name, m := range msgs {
			top, _ := m.TopValue("Via")
			via, err := sipmsg.ParseVia(top)
			if err != nil {
				t.Fatal(err)
			}
			b := makeBranch(tok, via, m)
			if !strings.HasPrefix(b, branchPrefix) {
				t.Errorf("%s: branch %q lacks prefix %q", name, b, branchPrefix)
			}
			got, ok := tokenFromBranch(b)
			if !ok || got != tok {
				t.Errorf("%s: tokenFromBranch(%q) = %q, %v; want %q", name, b, got, ok, tok)
			}
			if b2 := makeBranch(tok, via, m); b2 != b {
				t.Errorf("%s: makeBranch not deterministic: %q then %q", name, b, b2)
			}
			// CANCEL and the ACK of a non-2xx answer share the INVITE's branch (RFC 3261 §9.1, §17.1.1.3).
			for _, method := range []string{"CANCEL", "ACK"} {
				c := *m
				c.Method = method
				if bc := makeBranch(tok, via, &c); bc != b {
					t.Errorf("%s: %s branch %q, INVITE branch %q", name, method, bc, b)
				}
			}
		}
	}
	// The same client branch from another sent-by is another transaction.
	m := msgs["rfc3261"]
	v1, _ := sipmsg.ParseVia("SIP/2.0/WS x.invalid;branch=z9hG4bKabc")
	v2, _ := sipmsg.ParseVia("SIP/2.0/WS y.invalid;branch=z9hG4bKabc")
	if makeBranch(tokens[0], v1, m) == makeBranch(tokens[0], v2, m) {
		t.Error("same branch from two sent-by values gave the same branch")
	}

	for _, bad := range []string{"", "z9hG4bKabc", "z9hG4bK.sws.", "z9hG4bK.sws.notoken", "z9hG4bK.sws..hash", probePrefix + "abc", "z9hg4bk.sws.tok.hash"} {
		if tok, ok := tokenFromBranch(bad); ok {
			t.Errorf("tokenFromBranch(%q) = %q, true; want false", bad, tok)
		}
	}
}
