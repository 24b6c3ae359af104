package router

import (
	"context"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sipws/sipws/edge/bus"
	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/flow"
	"github.com/sipws/sipws/edge/sip"
	"github.com/sipws/sipws/edge/sipmsg"
	"github.com/sipws/sipws/edge/siptransport"
)

// aliasParam carries the client's own Contact URI inside the alias we give upstreams that do
// not support Path (flowRouting: contactAlias).
const aliasParam = "sws-alias"

// fromClient handles one message a client sent, as published by its edge.
func (r *Router) fromClient(nm *nats.Msg) {
	token := nm.Header.Get(bus.HeaderFlow)
	if token == "" {
		if i := strings.LastIndexByte(nm.Subject, '.'); i >= 0 {
			token = nm.Subject[i+1:]
		}
	}
	f, err := r.keys.Decode(token)
	if err != nil {
		r.m.dropped.WithLabelValues("client", "bad_token").Inc()
		r.log.Warn("message from an edge with a token we cannot verify; are the flow token keys shared?", "err", err)
		return
	}
	m, err := sipmsg.Parse(nm.Data)
	if err != nil {
		r.m.dropped.WithLabelValues("client", "parse").Inc()
		r.replyToFlow(f, token, nm.Data, 400, "Bad Request")
		return
	}
	if m.Request {
		r.m.requests.WithLabelValues("client", m.Method).Inc()
		r.clientRequest(f, token, nm.Header, m)
		return
	}
	r.m.responses.WithLabelValues("client", strconv.Itoa(m.StatusCode)).Inc()
	r.clientResponse(m)
}

// replyToFlow answers a client request with a response the router makes itself.
func (r *Router) replyToFlow(f flow.Flow, token string, req []byte, code int, reason string, extra ...string) {
	resp, err := sip.Response(req, code, reason, extra...)
	if err != nil {
		return // ACK, or not a request
	}
	r.m.ownResponses.WithLabelValues(strconv.Itoa(code)).Inc()
	_ = r.toFlow(f, token, resp)
}

func (r *Router) clientRequest(f flow.Flow, token string, h nats.Header, m *sipmsg.Msg) {
	// The client's Via names a random .invalid host: record where it really is (RFC 3261
	// §18.2.1, RFC 3581 §4).
	topVia, ok := m.TopValue("Via")
	if !ok {
		r.replyToFlow(f, token, m.Bytes(), 400, "Missing Via")
		return
	}
	via, err := sipmsg.ParseVia(topVia)
	if err != nil {
		r.replyToFlow(f, token, m.Bytes(), 400, "Bad Via")
		return
	}
	if remote, err := netip.ParseAddrPort(h.Get(bus.HeaderRemote)); err == nil {
		via.Params.Set("received", remote.Addr().Unmap().String())
		if v, ok := via.Params.Get("rport"); ok && v == "" {
			via.Params.Set("rport", strconv.Itoa(int(remote.Port())))
		}
		m.SetTopValue("Via", via.String())
	}
	mf, present, err := m.MaxForwards()
	switch {
	case err != nil:
		r.replyToFlow(f, token, m.Bytes(), 400, "Bad Max-Forwards")
		return
	case !present:
		mf = 70
	case mf == 0:
		r.replyToFlow(f, token, m.Bytes(), 483, "Too Many Hops")
		return
	}
	m.Set("Max-Forwards", strconv.Itoa(mf-1))
	if code, reason, extra := validateRequest(m); code != 0 {
		r.replyToFlow(f, token, m.Bytes(), code, reason, extra...)
		return
	}

	if r.regInDialog(f, token, m, via) {
		return // a dialog between two clients of the built-in registrar
	}
	// Loose routing: our own Route entries (Record-Route of a dialog through us) are popped.
	r.popOurRoutes(m)
	ruri, err := sipmsg.ParseURI(m.RequestURI)
	if err != nil || ruri.Headers != "" {
		// Headers in a Request-URI are never routed (RFC 4475 §3.1.2.11).
		r.replyToFlow(f, token, m.Bytes(), 400, "Bad Request-URI")
		return
	}
	branch := makeBranch(token, via, m)
	cfg := r.cfg.Load()

	// ACK and CANCEL follow the INVITE they belong to. Without the INVITE's transaction (it may
	// live on another router) they are routed like it, which lands on the same target when the
	// route balances by Call-ID (the default) or AOR.
	if m.Method == "CANCEL" || m.Method == "ACK" {
		if inv := r.ctx.get(branch + "|INVITE"); inv != nil {
			inv.mu.Lock()
			dst := inv.dst
			inv.mu.Unlock()
			switch {
			case !dst.Addr.IsValid():
			case m.Method == "ACK" && m.Count("Route") == 0:
				r.sendStateless(m, branch, dst)
				return
			case m.Method == "CANCEL":
				// A CANCEL is a non-INVITE transaction of its own: retransmitted over UDP.
				r.startTx(f, token, m, branch, nil, []*target{{raw: dst.Addr.String(), transport: dst.Transport}}, &dst)
				return
			}
		}
	}

	var up *upstream
	var cands []*target
	if rv, ok := m.TopValue("Route"); ok {
		// In dialog (or preloaded route): the next hop must be one of our upstreams; sipws is
		// never an open relay.
		na, err := sipmsg.ParseNameAddr(rv)
		if err != nil {
			r.replyToFlow(f, token, m.Bytes(), 400, "Bad Route")
			return
		}
		t, ok := r.routeTarget(na.URI)
		if !ok {
			r.m.ownResponses.WithLabelValues("403").Inc()
			r.replyToFlow(f, token, m.Bytes(), 403, "Route Not Allowed")
			return
		}
		cands = []*target{t}
	} else if r.ourURI(ruri) && r.toAlias(m, ruri, via, token) {
		// Contact alias of another flow: a client calling a client through us.
		return
	} else if t, ok := r.routeTarget(ruri); ok && toTagged(m) && m.Method != "CANCEL" {
		// In dialog without Route (an upstream that does not Record-Route): the Request-URI
		// is the remote target, one of our upstreams.
		cands = []*target{t}
	} else if toTagged(m) && m.Method != "CANCEL" && m.Method != "ACK" {
		r.m.ownResponses.WithLabelValues("403").Inc()
		r.replyToFlow(f, token, m.Bytes(), 403, "Target Not Allowed")
		return
	} else {
		if m.Method == "OPTIONS" && ruri.User == "" && *cfg.Router.AnswerOptions && (r.ourURI(ruri) || r.match(m, ruri, h) == nil) {
			r.replyToFlow(f, token, m.Bytes(), 200, "OK", "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, REGISTER, SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, PRACK", "Accept: application/sdp")
			return
		}
		up = r.match(m, ruri, h)
		if up == nil {
			r.m.ownResponses.WithLabelValues("404").Inc()
			r.replyToFlow(f, token, m.Bytes(), 404, "No Route")
			return
		}
		if up.route.Upstream.NATSSubject != "" {
			r.toSubject(up.route.Upstream.NATSSubject, h, m)
			return
		}
		if up.route.Upstream.Registrar != nil {
			r.toRegistrar(f, token, m, via, ruri, up.route.Upstream.Registrar)
			return
		}
		cands = up.candidates(m)
	}

	initial := !toTagged(m)
	mode := config.FlowRoutingPath
	if up != nil {
		mode = up.route.FlowRouting
	}
	if m.Method == "REGISTER" {
		if mode == config.FlowRoutingPath && supports(m, "path") {
			m.Prepend("Path", r.flowURI(token, ""))
		} else {
			r.aliasContacts(m, token, cands[0].transport)
		}
	} else if initial && dialogForming(m.Method) {
		// Double Record-Route (RFC 5658): the upstream-facing entry on top, the client-facing
		// (WebSocket) one below it; both carry the flow token and ob.
		m.Prepend("Record-Route", r.flowURI(token, "ws"))
		m.Prepend("Record-Route", r.flowURI(token, cands[0].transport))
		if mode == config.FlowRoutingContactAlias {
			r.aliasContacts(m, token, cands[0].transport)
		}
	}
	if m.Method == "ACK" {
		// ACK for a 2xx is its own transaction with nothing to retransmit or answer.
		dst, err := r.resolve(context.Background(), cands[0])
		if err == nil {
			r.sendStateless(m, branch, dst)
		}
		return
	}
	r.startTx(f, token, m, branch, up, cands, nil)
}

// startTx runs a client transaction for a request towards its candidates (or a pinned
// destination: a CANCEL goes where its INVITE went).
func (r *Router) startTx(f flow.Flow, token string, m *sipmsg.Msg, branch string, up *upstream, cands []*target, pinned *siptransport.Target) {
	x := &tx{
		key:    branch + "|" + m.Method,
		method: m.Method,
		token:  token,
		flow:   f,
		start:  time.Now(),
		route:  up,
		cands:  cands,
		pinned: pinned,
		msg:    m,
		branch: branch,
	}
	if old, added := r.ctx.add(x, r.maxTransactions()); !added {
		if old == nil { // router.maxTransactions are running: refuse, do not queue
			r.m.overload.WithLabelValues("client").Inc()
			r.replyToFlow(f, token, m.Bytes(), 503, "Service Unavailable", overloadRetryAfter)
		}
		return // else a retransmission from an unreliable client: the transaction is running
	}
	x.mu.Lock()
	r.attempt(x)
	x.mu.Unlock()
}

// singleValued headers must appear exactly once in a request (RFC 3261 §8.1.1, §16.3).
var singleValued = []string{"From", "To", "Call-ID", "CSeq"}

// validateRequest is the proxy's request validation (RFC 3261 §16.3): required headers once,
// CSeq method matching the request, no Proxy-Require extension we do not support.
func validateRequest(m *sipmsg.Msg) (code int, reason string, extra []string) {
	for _, h := range singleValued {
		switch n := countLines(m, h); {
		case n == 0:
			return 400, "Missing " + h, nil
		case n > 1:
			return 400, "Duplicate " + h, nil
		}
	}
	if mf := countLines(m, "Max-Forwards"); mf > 1 {
		return 400, "Duplicate Max-Forwards", nil
	}
	_, method, err := m.CSeq()
	if err != nil {
		return 400, "Bad CSeq", nil
	}
	if method != m.Method {
		return 400, "CSeq Method Mismatch", nil
	}
	if pr := m.Values("Proxy-Require"); len(pr) > 0 {
		return 420, "Bad Extension", []string{"Unsupported: " + strings.Join(pr, ", ")}
	}
	return 0, "", nil
}

func countLines(m *sipmsg.Msg, name string) int {
	canon := sipmsg.CanonicalName(name)
	n := 0
	for _, h := range m.Headers {
		if sipmsg.CanonicalName(h.Name) == canon {
			n++
		}
	}
	return n
}

// sendStateless forwards a request that needs no transaction (ACK, CANCEL of a known INVITE).
func (r *Router) sendStateless(m *sipmsg.Msg, branch string, dst siptransport.Target) {
	setOurVia(m, r.adv, dst.Transport, branch)
	if err := r.tp.Send(context.Background(), dst.Transport, dst.Addr, m.Bytes()); err != nil {
		r.m.sendErrors.WithLabelValues(dst.Transport).Inc()
		return
	}
	r.m.relayed.WithLabelValues("upstream", m.Method).Inc()
}

// setOurVia puts our Via on top (or replaces it when a failover resends the request).
func setOurVia(m *sipmsg.Msg, adv, transport, branch string) {
	v := "SIP/2.0/" + strings.ToUpper(transport) + " " + adv + ";branch=" + branch + ";rport"
	if topViaOurs(m) {
		m.SetTopValue("Via", v)
		return
	}
	m.Prepend("Via", v)
}

// topViaOurs reports whether the top Via is the one setOurVia put there.
func topViaOurs(m *sipmsg.Msg) bool {
	top, ok := m.TopValue("Via")
	return ok && strings.Contains(top, branchPrefix)
}

// routeTarget turns a Route URI into a target, if it points at an allowed upstream.
func (r *Router) routeTarget(u sipmsg.URI) (*target, bool) {
	tr, _ := u.Params.Get("transport")
	tr = strings.ToLower(tr)
	if u.Scheme == "sips" {
		tr = "tls"
	}
	if tr == "" {
		tr = "udp"
	}
	for _, up := range *r.routes.Load() {
		for _, t := range up.targets {
			if strings.EqualFold(t.uri.Host, u.Host) && (u.Port == 0 || t.uri.Port == u.Port || (t.uri.Port == 0 && u.Port == 5060)) {
				return &target{raw: u.String(), uri: u, transport: tr, weight: 1}, true
			}
		}
	}
	port := u.Port
	if port == 0 {
		port = 5060
		if tr == "tls" {
			port = 5061
		}
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]")); err == nil && r.isAllowed(netip.AddrPortFrom(ip, uint16(port))) {
		t := &target{raw: u.String(), uri: u, transport: tr, weight: 1}
		t.up.Store(true)
		return t, true
	}
	return nil, false
}

// match finds the first route whose match selects the request.
func (r *Router) match(m *sipmsg.Msg, ruri sipmsg.URI, h nats.Header) *upstream {
	listener := h.Get(bus.HeaderListener)
	for _, up := range *r.routes.Load() {
		mt := up.route.Match
		if len(mt.Methods) > 0 && !contains(mt.Methods, m.Method) {
			continue
		}
		if len(mt.Listeners) > 0 && !contains(mt.Listeners, listener) {
			continue
		}
		if len(mt.Domains) > 0 && !domainMatch(mt.Domains, ruri.Host) {
			continue
		}
		if len(mt.Users) > 0 {
			user, _ := url.PathUnescape(ruri.User)
			ok := false
			for _, p := range mt.Users {
				if m, _ := path.Match(p, user); m {
					ok = true
					break
				}
			}
			if !ok {
				continue
			}
		}
		return up
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func domainMatch(domains []string, host string) bool {
	host = strings.ToLower(host)
	for _, d := range domains {
		d = strings.ToLower(d)
		if d == host || strings.HasPrefix(d, "*.") && strings.HasSuffix(host, d[1:]) {
			return true
		}
	}
	return false
}

func toTagged(m *sipmsg.Msg) bool {
	v, _ := m.Get("To")
	na, err := sipmsg.ParseNameAddr(v)
	return err == nil && na.Tag() != ""
}

func dialogForming(method string) bool {
	switch method {
	case "INVITE", "SUBSCRIBE", "REFER":
		return true
	}
	return false
}

func supports(m *sipmsg.Msg, option string) bool {
	for _, v := range m.Values("Supported") {
		if strings.EqualFold(strings.TrimSpace(v), option) {
			return true
		}
	}
	return false
}

// aliasContacts rewrites each Contact to an address of ours carrying the token, with the
// client's own URI kept in a parameter so requests to the alias can be restored.
func (r *Router) aliasContacts(m *sipmsg.Msg, token, transport string) {
	vals := m.Values("Contact")
	if len(vals) == 0 {
		return
	}
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		na, err := sipmsg.ParseNameAddr(v)
		if err != nil || na.Star {
			out = append(out, v)
			continue
		}
		alias := sipmsg.URI{Scheme: "sip", User: token, Host: r.advHost, Port: r.advPort}
		alias.Params.Set("transport", transport)
		alias.Params.Set(aliasParam, url.QueryEscape(na.URI.String()))
		na.URI = alias
		out = append(out, na.String())
	}
	m.Set("Contact", strings.Join(out, ", "))
}

// toAlias delivers a client's request addressed to another flow's contact alias.
// Our Via carries the caller's token, so the callee's response finds the caller's flow.
func (r *Router) toAlias(m *sipmsg.Msg, ruri sipmsg.URI, via sipmsg.Via, callerToken string) bool {
	f, ok := r.checkToken(ruri.User)
	if ok != validToken {
		return false
	}
	if orig, has := ruri.Params.Get(aliasParam); has {
		if s, err := url.QueryUnescape(orig); err == nil {
			m.RequestURI = s
		}
	}
	branch := makeBranch(callerToken, via, m)
	m.Prepend("Via", "SIP/2.0/WS "+r.adv+";branch="+branch)
	_ = r.toFlow(f, ruri.User, m.Bytes())
	return true
}

// toSubject hands a request to an application on NATS, with the flow's headers; the
// application answers on the flow's out subject itself.
func (r *Router) toSubject(subject string, h nats.Header, m *sipmsg.Msg) {
	if err := r.nc.PublishMsg(&nats.Msg{Subject: subject, Header: h, Data: m.Bytes()}); err != nil {
		r.m.sendErrors.WithLabelValues("nats").Inc()
		return
	}
	r.m.relayed.WithLabelValues("nats", m.Method).Inc()
}

// clientResponse relays a client's response to an upstream request: our Via is popped and the
// response goes to the next Via, or back where the server transaction's request came from.
func (r *Router) clientResponse(m *sipmsg.Msg) {
	top, ok := m.TopValue("Via")
	if !ok || !strings.Contains(top, branchPrefix) {
		if ok && r.regResponse(m, m.Bytes()) {
			return // a leg of a request the built-in registrar forked
		}
		r.m.dropped.WithLabelValues("client", "not_our_via").Inc()
		return
	}
	ours, err := sipmsg.ParseVia(top)
	if err != nil {
		r.m.dropped.WithLabelValues("client", "bad_via").Inc()
		return
	}
	m.PopValue("Via")
	next, ok := m.TopValue("Via")
	if !ok {
		r.m.dropped.WithLabelValues("client", "no_via").Inc()
		return
	}
	nv, err := sipmsg.ParseVia(next)
	if err != nil {
		r.m.dropped.WithLabelValues("client", "bad_via").Inc()
		return
	}
	_, method, _ := m.CSeq()
	out := m.Bytes()
	if t := strings.ToUpper(nv.Transport); t == "WS" || t == "WSS" {
		// Client to client through a contact alias: the caller's flow is in our branch.
		token, ok := tokenFromBranch(ours.Branch())
		f, err := r.keys.Decode(token)
		if !ok || err != nil {
			r.m.dropped.WithLabelValues("client", "bad_token").Inc()
			return
		}
		_ = r.toFlow(f, token, out)
		r.m.relayed.WithLabelValues("client", "response").Inc()
		return
	}
	transport, dst := strings.ToLower(nv.Transport), viaAddr(nv)
	x := r.stx.get(nv.Branch() + "|" + method)
	if x == nil && !r.isAllowed(dst) {
		// No transaction here (it may live on another router) and not an upstream of ours:
		// a forged Via must not make the router send anywhere (never an open relay).
		r.m.dropped.WithLabelValues("client", "destination_not_allowed").Inc()
		return
	}
	if x != nil {
		x.mu.Lock()
		transport, dst = x.transport, x.from
		if x.state != txCompleted {
			x.last = out
			if m.StatusCode >= 200 {
				x.state = txCompleted
				r.expireServerTx(x)
			}
		}
		x.mu.Unlock()
	}
	if !dst.IsValid() {
		r.m.dropped.WithLabelValues("client", "no_destination").Inc()
		return
	}
	if err := r.tp.Send(context.Background(), transport, dst, out); err != nil {
		r.m.sendErrors.WithLabelValues(transport).Inc()
		return
	}
	r.m.relayed.WithLabelValues("upstream", "response").Inc()
}

// viaAddr is where a response to this Via goes: received/rport when present, else sent-by
// (RFC 3261 §18.2.2, RFC 3581 §4).
func viaAddr(v sipmsg.Via) netip.AddrPort {
	host := strings.Trim(v.Host, "[]")
	if rec, ok := v.Params.Get("received"); ok && rec != "" {
		host = rec
	}
	port := v.Port
	if rp, ok := v.Params.Get("rport"); ok && rp != "" {
		if p, err := strconv.Atoi(rp); err == nil {
			port = p
		}
	}
	if port == 0 {
		port = 5060
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ip, uint16(port))
}

// overloadRetryAfter goes with the 503 of a router at its transaction bound: transactions end
// within 64×T1 (32 s by default), most of them far sooner.
const overloadRetryAfter = "Retry-After: 5"

// maxTransactions is router.maxTransactions (its default when a config was not defaulted).
func (r *Router) maxTransactions() int64 {
	if n := r.cfg.Load().Router.MaxTransactions; n > 0 {
		return int64(n)
	}
	return config.DefaultMaxTransactions
}

// popOurRoutes removes the Route entries naming this router from the top of m (loose routing,
// RFC 3261 §16.4) and returns the user part (a flow token) of the first of them that has one.
func (r *Router) popOurRoutes(m *sipmsg.Msg) (user string) {
	for {
		v, ok := m.TopValue("Route")
		if !ok {
			return user
		}
		na, err := sipmsg.ParseNameAddr(v)
		if err != nil || !r.ourURI(na.URI) {
			return user
		}
		m.PopValue("Route")
		if user == "" {
			user = na.URI.User
		}
	}
}
