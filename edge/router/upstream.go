package router

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/sip"
	"github.com/sipws/sipws/edge/sipmsg"
	"github.com/sipws/sipws/edge/siptransport"
)

// probePrefix marks the branches of our OPTIONS health probes.
const probePrefix = "z9hG4bK.swsp."

func (r *Router) timers() config.Timers { return r.cfg.Load().Router.Timers }

func (r *Router) healthCheck(x *tx) config.HealthCheck {
	if x.route != nil {
		return x.route.route.Upstream.HealthCheck
	}
	return config.HealthCheck{UpAfter: 1, DownAfter: 1 << 30}
}

// attempt sends a client transaction's request to its current candidate, moving on to the next
// one on resolution or transport errors. x.mu is held.
func (r *Router) attempt(x *tx) {
	tm := r.timers()
	for x.idx < len(x.cands) {
		t := x.cands[x.idx]
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var dst siptransport.Target
		var err error
		if x.pinned != nil {
			dst = *x.pinned
		} else {
			dst, err = r.resolve(ctx, t)
		}
		if err == nil {
			setOurVia(x.msg, r.adv, dst.Transport, x.branch)
			x.out = x.msg.Bytes()
			err = r.tp.SendTarget(ctx, dst, x.out)
		}
		cancel()
		if err == nil {
			x.dst = dst
			x.state = txTrying
			r.m.relayed.WithLabelValues("upstream", x.method).Inc()
			r.armClientTimers(x, tm)
			return
		}
		r.m.sendErrors.WithLabelValues(t.transport).Inc()
		r.log.Debug("upstream send failed", "target", t.raw, "err", err)
		if x.route != nil && t.health(false, r.healthCheck(x)) {
			r.targetChanged(t)
		}
		x.idx++
	}
	x.stopTimers()
	r.ctx.remove(x)
	r.m.ownResponses.WithLabelValues("503").Inc()
	r.replyToFlow(x.flow, x.token, x.asSent(), 503, "Service Unavailable", "Retry-After: 5")
}

func (r *Router) armClientTimers(x *tx, tm config.Timers) {
	x.stopTimers()
	if x.dst.Transport == "udp" {
		x.interval = tm.T1.Duration
		x.retrans = time.AfterFunc(x.interval, func() { r.retransmit(x) })
	}
	if x.idx+1 < len(x.cands) {
		x.failover = time.AfterFunc(tm.Failover.Duration, func() { r.failover(x, "timeout") })
	}
	x.timeout = time.AfterFunc(64*tm.T1.Duration, func() { r.expireClientTx(x) })
}

// retransmit is Timer A (INVITE: doubling) or E (non-INVITE: doubling up to T2) over UDP.
func (r *Router) retransmit(x *tx) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.state == txCompleted || x.method == "INVITE" && x.state == txProceeding {
		return
	}
	tm := r.timers()
	if err := r.tp.Send(context.Background(), x.dst.Transport, x.dst.Addr, x.out); err != nil {
		r.m.sendErrors.WithLabelValues(x.dst.Transport).Inc()
	}
	r.m.retransmissions.Inc()
	x.interval *= 2
	if x.method != "INVITE" {
		if x.state == txProceeding {
			x.interval = tm.T2.Duration
		}
		x.interval = min(x.interval, tm.T2.Duration)
	}
	x.retrans = time.AfterFunc(x.interval, func() { r.retransmit(x) })
}

// failover moves a transaction that got no usable answer to its next target.
func (r *Router) failover(x *tx, why string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.state != txTrying || x.idx+1 >= len(x.cands) {
		return
	}
	if t := x.cands[x.idx]; x.route != nil && t.health(false, r.healthCheck(x)) {
		r.targetChanged(t)
	}
	r.m.failovers.WithLabelValues(why).Inc()
	x.idx++
	r.attempt(x)
}

// expireClientTx is Timer B/F: no final response in time; the client gets 408.
func (r *Router) expireClientTx(x *tx) {
	x.mu.Lock()
	if x.state == txCompleted {
		x.mu.Unlock()
		return
	}
	if x.method == "INVITE" && x.state == txProceeding && time.Since(x.start) < 3*time.Minute {
		// Timer C: a ringing INVITE may wait for its final response.
		x.timeout = time.AfterFunc(3*time.Minute-time.Since(x.start), func() { r.expireClientTx(x) })
		x.mu.Unlock()
		return
	}
	was := x.state
	x.state = txCompleted
	x.stopTimers()
	probe := x.probe
	x.mu.Unlock()
	r.ctx.remove(x)
	if probe != nil {
		if probe.health(false, x.route.route.Upstream.HealthCheck) {
			r.targetChanged(probe)
		}
		return
	}
	if was == txTrying && x.route != nil {
		if t := x.cands[x.idx]; t.health(false, r.healthCheck(x)) {
			r.targetChanged(t)
		}
	}
	r.m.ownResponses.WithLabelValues("408").Inc()
	r.replyToFlow(x.flow, x.token, x.asSent(), 408, "Request Timeout")
}

func (r *Router) targetChanged(t *target) {
	state := "down"
	if t.up.Load() {
		state = "up"
	}
	r.m.targetUp.WithLabelValues(t.raw).Set(map[bool]float64{true: 1, false: 0}[t.up.Load()])
	r.log.Info("upstream target "+state, "target", t.raw)
}

// fromUpstream handles one SIP message from an upstream server.
func (r *Router) fromUpstream(p siptransport.Packet) {
	if !r.serving.Load() {
		// Start binds the sockets before it knows its advertised address and has NATS.
		r.m.dropped.WithLabelValues("upstream", "starting").Inc()
		return
	}
	m := respMsgs.Get().(*sipmsg.Msg)
	if err := sipmsg.ParseInto(m, p.Data); err != nil {
		respMsgs.Put(m)
		r.m.dropped.WithLabelValues("upstream", "parse").Inc()
		if resp, rerr := sip.Response(p.Data, 400, "Bad Request"); rerr == nil {
			_ = r.tp.Send(context.Background(), p.Transport, p.Source, resp)
		}
		return
	}
	if m.Request {
		r.m.requests.WithLabelValues("upstream", m.Method).Inc()
		r.upstreamRequest(p, m)
		return
	}
	r.m.responses.WithLabelValues("upstream", strconv.Itoa(m.StatusCode)).Inc()
	r.upstreamResponse(p, m)
	m.Body = nil // do not hold the packet until the next parse
	respMsgs.Put(m)
}

// Responses from upstream are relayed and forgotten (nothing keeps the Msg or the bytes it is
// written to; a request may be kept by its transaction, so it gets a Msg of its own), so their
// Msg, with its Headers array, and the buffer they are written to for NATS are reused: two of
// the router's largest allocations per transaction.
var (
	respMsgs = sync.Pool{New: func() any { return new(sipmsg.Msg) }}
	respBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}
)

func (r *Router) upstreamResponse(p siptransport.Packet, m *sipmsg.Msg) {
	top, ok := m.TopValue("Via")
	if !ok {
		r.m.dropped.WithLabelValues("upstream", "no_via").Inc()
		return
	}
	via, err := sipmsg.ParseVia(top)
	if err != nil || !r.ourVia(via) {
		r.m.dropped.WithLabelValues("upstream", "not_our_via").Inc()
		return
	}
	branch := via.Branch()
	_, method, _ := m.CSeq()
	x := r.ctx.get(branch + "|" + method)
	if x != nil {
		x.mu.Lock()
		if x.dst.Addr.IsValid() && x.dst.Transport == "udp" && x.dst.Addr != p.Source {
			// A late answer from a target we failed over from: acknowledge a final INVITE
			// response there (nobody else will), forward nothing.
			if x.method == "INVITE" && m.StatusCode >= 300 {
				r.ackUpstream(x.msg, m, p.Transport, p.Source)
			}
			x.mu.Unlock()
			r.m.dropped.WithLabelValues("upstream", "stale_target").Inc()
			return
		}
		if x.failover != nil {
			x.failover.Stop()
		}
		if x.probe != nil {
			x.state = txCompleted
			x.stopTimers()
			x.mu.Unlock()
			r.ctx.remove(x)
			if x.probe.health(true, x.route.route.Upstream.HealthCheck) {
				r.targetChanged(x.probe)
			}
			return
		}
		if x.route != nil {
			if t := x.cands[x.idx]; t.health(true, r.healthCheck(x)) {
				r.targetChanged(t)
			}
		}
		switch {
		case m.StatusCode < 200:
			x.state = txProceeding
			if x.method == "INVITE" && x.retrans != nil {
				x.retrans.Stop()
			}
		case m.StatusCode == 503 && x.route != nil && x.idx+1 < len(x.cands) && x.state != txCompleted:
			// Failover on 503 (RFC 3263 §4.3): the client never sees it, so the router
			// acknowledges an INVITE's 503 itself (RFC 3261 §17.1.1.3).
			if x.method == "INVITE" {
				r.ackUpstream(x.msg, m, x.dst.Transport, x.dst.Addr)
			}
			x.state = txTrying
			r.m.failovers.WithLabelValues("503").Inc()
			x.idx++
			r.attempt(x)
			x.mu.Unlock()
			return
		default:
			if x.state != txCompleted {
				r.m.latency.WithLabelValues(x.dst.Addr.String()).Observe(time.Since(x.start).Seconds())
			}
			x.state = txCompleted
			x.stopTimers()
		}
		done := x.state == txCompleted
		if done && x.method == "INVITE" && x.expire == nil {
			// Timer D: an INVITE's transaction stays to route the ACK of a non-2xx response
			// (same branch) where the INVITE went.
			x.expire = time.AfterFunc(64*r.timers().T1.Duration, func() { r.ctx.remove(x) })
			done = false
		}
		x.mu.Unlock()
		if done {
			r.ctx.remove(x)
		}
	}
	if m.StatusCode == 100 {
		return // hop by hop (RFC 3261 §16.7): the client has a reliable transport
	}
	if strings.HasPrefix(branch, probePrefix) {
		return
	}
	token, ok := tokenFromBranch(branch)
	if !ok {
		return
	}
	f, err := r.keys.Decode(token)
	if err != nil {
		r.m.dropped.WithLabelValues("upstream", "bad_token").Inc()
		return
	}
	m.PopValue("Via")
	bp := respBufs.Get().(*[]byte)
	out := m.AppendTo((*bp)[:0])
	err = r.toFlow(f, token, out) // nats.go copies the bytes before Publish returns
	if cap(out) <= 64<<10 {       // a rare huge response does not stay in the pool
		*bp = out[:0]
		respBufs.Put(bp)
	}
	if err != nil {
		r.m.sendErrors.WithLabelValues("nats").Inc()
		return
	}
	r.m.relayed.WithLabelValues("client", "response").Inc()
}

// ackUpstream sends the hop-by-hop ACK for a non-2xx final response to an INVITE the router
// sent and absorbed: the INVITE's top Via (same branch), Request-URI, Route, From, Call-ID,
// the response's To, CSeq with ACK.
func (r *Router) ackUpstream(inv, resp *sipmsg.Msg, transport string, dst netip.AddrPort) {
	via, _ := inv.TopValue("Via")
	from, _ := inv.Get("From")
	to, _ := resp.Get("To")
	n, _, _ := inv.CSeq()
	var b strings.Builder
	b.WriteString("ACK " + inv.RequestURI + " SIP/2.0\r\nVia: " + via + "\r\n")
	for _, rt := range inv.Values("Route") {
		b.WriteString("Route: " + rt + "\r\n")
	}
	b.WriteString("Max-Forwards: 70\r\nFrom: " + from + "\r\nTo: " + to + "\r\nCall-ID: " + inv.CallID() +
		"\r\nCSeq: " + strconv.FormatUint(uint64(n), 10) + " ACK\r\nContent-Length: 0\r\n\r\n")
	if err := r.tp.Send(context.Background(), transport, dst, []byte(b.String())); err != nil {
		r.m.sendErrors.WithLabelValues(transport).Inc()
	}
}

// ourVia reports whether a Via is one this router added.
func (r *Router) ourVia(v sipmsg.Via) bool {
	b := v.Branch()
	return strings.HasPrefix(b, branchPrefix) || strings.HasPrefix(b, probePrefix)
}

// respondUpstream answers an upstream request with a response of the router's own.
func (r *Router) respondUpstream(p siptransport.Packet, req []byte, code int, reason string, extra ...string) []byte {
	resp, err := sip.Response(req, code, reason, extra...)
	if err != nil {
		return nil
	}
	r.m.ownResponses.WithLabelValues(strconv.Itoa(code)).Inc()
	if err := r.tp.Send(context.Background(), p.Transport, p.Source, resp); err != nil {
		r.m.sendErrors.WithLabelValues(p.Transport).Inc()
	}
	return resp
}

func (r *Router) upstreamRequest(p siptransport.Packet, m *sipmsg.Msg) {
	top, ok := m.TopValue("Via")
	if !ok {
		r.m.dropped.WithLabelValues("upstream", "no_via").Inc()
		return
	}
	via, err := sipmsg.ParseVia(top)
	if err != nil {
		r.respondUpstream(p, p.Data, 400, "Bad Via")
		return
	}
	// Record where the request came from, so the client's response finds the way back even
	// over a connection the upstream opened (RFC 3261 §18.2.1, RFC 3581).
	src := p.Source.Addr().Unmap()
	if strings.Trim(via.Host, "[]") != src.String() || p.Transport != "udp" {
		via.Params.Set("received", src.String())
	}
	if rp, ok := via.Params.Get("rport"); ok && rp == "" || p.Transport != "udp" {
		via.Params.Set("rport", strconv.Itoa(int(p.Source.Port())))
	}
	m.SetTopValue("Via", via.String())
	key := via.Branch() + "|" + m.Method
	if old := r.stx.get(key); old != nil {
		// A retransmission: answer with what we sent last, or wait for the client.
		old.mu.Lock()
		last := old.last
		old.mu.Unlock()
		r.m.retransmissionsAbsorbed.Inc()
		if last != nil {
			_ = r.tp.Send(context.Background(), p.Transport, p.Source, last)
		}
		return
	}
	mf, present, err := m.MaxForwards()
	switch {
	case err != nil:
		r.respondUpstream(p, m.Bytes(), 400, "Bad Max-Forwards")
		return
	case !present:
		mf = 70
	case mf == 0:
		r.respondUpstream(p, m.Bytes(), 483, "Too Many Hops")
		return
	}
	m.Set("Max-Forwards", strconv.Itoa(mf-1))

	// Which flow? Our Route (Path or Record-Route), else a contact alias in the Request-URI.
	token := r.popOurRoutes(m)
	ruri, err := sipmsg.ParseURI(m.RequestURI)
	if err != nil {
		r.respondUpstream(p, m.Bytes(), 400, "Bad Request-URI")
		return
	}
	if token == "" && r.ourURI(ruri) && ruri.User != "" {
		token = ruri.User
		if orig, has := ruri.Params.Get(aliasParam); has {
			if s, err := url.QueryUnescape(orig); err == nil {
				m.RequestURI = s
			}
		}
	}
	if token == "" {
		if m.Method == "OPTIONS" && *r.cfg.Load().Router.AnswerOptions {
			r.respondUpstream(p, m.Bytes(), 200, "OK", "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, REGISTER, SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, PRACK")
			return
		}
		if m.Method != "ACK" {
			r.respondUpstream(p, m.Bytes(), 404, "Not Found")
		}
		return
	}
	f, check := r.checkToken(token)
	if check != validToken {
		r.m.tampered.Inc()
		if m.Method != "ACK" {
			r.respondUpstream(p, m.Bytes(), 403, "Invalid Flow Token")
		}
		return
	}
	if !r.live.alive(f.Node, token) {
		r.m.flowFailed.Inc()
		if m.Method != "ACK" {
			r.respondUpstream(p, m.Bytes(), 430, "Flow Failed")
		}
		return
	}
	reqCopy := m.Bytes() // what our own answers (430) are built from
	if !toTagged(m) && dialogForming(m.Method) {
		// Upstream→client dialog: the client-facing entry is nearest the client, on top.
		m.Prepend("Record-Route", r.flowURI(token, p.Transport))
		m.Prepend("Record-Route", r.flowURI(token, "ws"))
	}
	branch := makeBranch(token, via, m)
	m.Prepend("Via", "SIP/2.0/WS "+r.adv+";branch="+branch)
	if m.Method != "ACK" {
		x := &tx{key: key, method: m.Method, token: token, flow: f, start: time.Now(), from: p.Source, transport: p.Transport, clientReq: reqCopy}
		if old, added := r.stx.add(x, r.maxTransactions()); !added {
			if old == nil { // router.maxTransactions are running
				r.m.overload.WithLabelValues("upstream").Inc()
				r.respondUpstream(p, reqCopy, 503, "Service Unavailable", overloadRetryAfter)
			}
			return
		}
		x.mu.Lock()
		x.expire = time.AfterFunc(64*r.timers().T1.Duration+time.Minute, func() { r.stx.remove(x) })
		x.mu.Unlock()
	}
	if err := r.toFlow(f, token, m.Bytes()); err != nil {
		r.m.sendErrors.WithLabelValues("nats").Inc()
		return
	}
	r.m.relayed.WithLabelValues("client", m.Method).Inc()
}

// expireServerTx keeps a completed server transaction long enough to answer retransmissions
// (Timer J/H: 64×T1), then forgets it. x.mu is held.
func (r *Router) expireServerTx(x *tx) {
	if x.expire != nil {
		x.expire.Stop()
	}
	x.expire = time.AfterFunc(64*r.timers().T1.Duration, func() { r.stx.remove(x) })
}

// flowFailed answers the pending upstream requests of a flow that just failed with 430.
func (r *Router) flowFailed(token string) {
	r.stx.each(func(x *tx) {
		if x.token != token {
			return
		}
		x.mu.Lock()
		pending := x.state != txCompleted
		if pending {
			x.state = txCompleted
			r.m.flowFailed.Inc()
			x.last = r.respondUpstream(siptransport.Packet{Transport: x.transport, Source: x.from}, x.clientReq, 430, "Flow Failed")
			r.expireServerTx(x)
		}
		x.mu.Unlock()
	})
}

// startProbes runs OPTIONS health probes for every target of every route with health checks.
func (r *Router) startProbes() {
	for _, up := range *r.routes.Load() {
		if up.route.Upstream.HealthCheck.Disabled || up.route.Upstream.NATSSubject != "" {
			continue
		}
		for _, t := range up.targets {
			r.wg.Add(1)
			go r.probeLoop(up, t)
		}
	}
}

func (r *Router) probeLoop(up *upstream, t *target) {
	defer r.wg.Done()
	hc := up.route.Upstream.HealthCheck
	// Spread probes of many targets over the interval.
	first := time.NewTimer(time.Duration(rand.Int64N(int64(hc.Interval.Duration)/4 + 1)))
	defer first.Stop()
	select {
	case <-r.stop:
		return
	case <-first.C:
	}
	tick := time.NewTicker(hc.Interval.Duration)
	defer tick.Stop()
	for {
		if cur := r.routes.Load(); !containsUpstream(*cur, up) {
			return // routes were reloaded; the new set has its own probes
		}
		r.probe(up, t, hc)
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
	}
}

func containsUpstream(ups []*upstream, u *upstream) bool {
	for _, x := range ups {
		if x == u {
			return true
		}
	}
	return false
}

func (r *Router) probe(up *upstream, t *target, hc config.HealthCheck) {
	ctx, cancel := context.WithTimeout(context.Background(), hc.Timeout.Duration)
	defer cancel()
	dst, err := r.resolve(ctx, t)
	if err != nil {
		if t.health(false, hc) {
			r.targetChanged(t)
		}
		return
	}
	branch := probePrefix + strconv.FormatUint(rand.Uint64(), 36)
	callID := strconv.FormatUint(rand.Uint64(), 36) + "@sipws"
	req := fmt.Sprintf("OPTIONS %s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:sipws@%s>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nUser-Agent: sipws\r\nContent-Length: 0\r\n\r\n",
		t.uri.String(), strings.ToUpper(dst.Transport), r.adv, branch, r.adv, strconv.FormatUint(rand.Uint64(), 36), t.uri.String(), callID)
	x := &tx{key: branch + "|OPTIONS", method: "OPTIONS", start: time.Now(), route: up, probe: t, dst: dst}
	r.ctx.add(x, math.MaxInt64) // probes pass the transaction bound: overload must not mark targets down
	x.mu.Lock()
	x.timeout = time.AfterFunc(hc.Timeout.Duration, func() { r.expireClientTx(x) })
	x.mu.Unlock()
	if err := r.tp.SendTarget(ctx, dst, []byte(req)); err != nil {
		r.m.sendErrors.WithLabelValues(dst.Transport).Inc()
	}
	r.m.probes.Inc()
}
