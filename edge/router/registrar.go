package router

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sipws/sipws/edge/bus"
	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/flow"
	"github.com/sipws/sipws/edge/registrar"
	"github.com/sipws/sipws/edge/sipmsg"
)

// regState is the built-in registrar of a router: one binding store per gateway, one forking
// proxy per router, and a registrar per route (each route has its own expiry bounds and auth).
type regState struct {
	mu    sync.Mutex
	store *registrar.Store
	proxy *registrar.Proxy
	byUp  map[*config.Registrar]*registrar.Registrar
	subs  []*nats.Subscription
}

// regOpTimeout bounds one binding store operation.
const regOpTimeout = 5 * time.Second

// registrarQueue is the queue group in which one router removes a closed flow's bindings.
const registrarQueue = "registrar"

func (r *Router) regSubject(replica string) string {
	return r.subj.Prefix + "." + r.subj.Gateway + ".registrar." + replica
}

// startRegistrar opens the binding store and the proxy's subscriptions when a route uses the
// registrar (at start, or at the first request after a reload added such a route).
func (r *Router) startRegistrar() error {
	var rc *config.Registrar
	for _, rt := range r.cfg.Load().Router.Routes {
		if rt.Upstream.Registrar != nil {
			rc = rt.Upstream.Registrar
			break
		}
	}
	if rc == nil {
		return nil
	}
	g := &r.reg
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.store != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := registrar.OpenStore(ctx, r.nc, rc.RegistrarBucket(r.cfg.Load().Gateway), rc.MaxExpires.Duration+time.Hour, rc.Replicas)
	if err != nil {
		return fmt.Errorf("registrar: %w", err)
	}
	p := registrar.NewProxy(r.adv, regTransport{r}, r.log)
	// Responses to legs another router forked, and CANCELs of INVITEs it forked.
	own, err := r.nc.Subscribe(r.regSubject(p.Replica()), func(m *nats.Msg) {
		if sm, err := sipmsg.Parse(m.Data); err == nil && !sm.Request {
			p.Response(sm)
		}
	})
	if err != nil {
		return fmt.Errorf("registrar subscribe: %w", err)
	}
	cxl, err := r.nc.Subscribe(r.regSubject("cancel"), func(m *nats.Msg) {
		if caller, branch, ok := strings.Cut(string(m.Data), "|"); ok {
			p.Cancel(caller, branch)
		}
	})
	if err != nil {
		_ = own.Unsubscribe()
		return fmt.Errorf("registrar subscribe: %w", err)
	}
	// Every router ends its own legs towards a closed flow; one of them removes the bindings.
	legs, err := r.nc.Subscribe(r.subj.NodeAll(), func(m *nats.Msg) {
		if n, ok := flowNotice(m); ok {
			p.FlowGone(n.Flow)
		}
	})
	if err != nil {
		return fmt.Errorf("registrar subscribe: %w", err)
	}
	binds, err := r.nc.QueueSubscribe(r.subj.NodeAll(), registrarQueue, func(m *nats.Msg) {
		if n, ok := flowNotice(m); ok {
			r.removeFlowBindings(n.Flow)
		}
	})
	if err != nil {
		return fmt.Errorf("registrar subscribe: %w", err)
	}
	for _, s := range []*nats.Subscription{own, cxl, legs, binds} {
		_ = s.SetPendingLimits(1<<20, 64<<20)
	}
	g.subs = []*nats.Subscription{own, cxl, legs, binds}
	_ = r.nc.FlushTimeout(5 * time.Second)
	g.store, g.proxy = st, p
	g.byUp = map[*config.Registrar]*registrar.Registrar{}
	r.log.Info("registrar started", "bucket", rc.RegistrarBucket(r.cfg.Load().Gateway), "replica", p.Replica())
	return nil
}

func flowNotice(m *nats.Msg) (bus.Notice, bool) {
	var n bus.Notice
	if err := json.Unmarshal(m.Data, &n); err != nil || n.Flow == "" {
		return n, false
	}
	return n, n.Event == bus.EventFlowClosed || n.Event == bus.EventFlowFailed
}

func (r *Router) removeFlowBindings(token string) {
	st := r.regStore()
	if st == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), regOpTimeout)
	defer cancel()
	n, err := st.RemoveFlow(ctx, token)
	if err != nil {
		r.log.Warn("registrar: remove bindings of a closed flow", "err", err)
		return
	}
	if n > 0 {
		r.m.regBindings.WithLabelValues("removed_flow").Add(float64(n))
	}
}

func (r *Router) regStore() *registrar.Store {
	r.reg.mu.Lock()
	defer r.reg.mu.Unlock()
	return r.reg.store
}

func (r *Router) stopRegistrar() {
	g := &r.reg
	g.mu.Lock()
	subs, p := g.subs, g.proxy
	g.subs = nil
	g.mu.Unlock()
	for _, s := range subs {
		_ = s.Unsubscribe()
	}
	if p != nil {
		p.Close()
	}
}

// registrarFor returns the registrar of a route's configuration.
func (r *Router) registrarFor(rc *config.Registrar) (*registrar.Registrar, *registrar.Proxy, error) {
	if err := r.startRegistrar(); err != nil {
		return nil, nil, err
	}
	g := &r.reg
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.store == nil {
		return nil, nil, fmt.Errorf("registrar not started")
	}
	if reg := g.byUp[rc]; reg != nil {
		return reg, g.proxy, nil
	}
	cfg := registrar.Config{
		MinExpires:     int(rc.MinExpires.Seconds()),
		MaxExpires:     int(rc.MaxExpires.Seconds()),
		DefaultExpires: int(rc.DefaultExpires.Seconds()),
	}
	if a := rc.Auth; a != nil {
		auth, err := registrar.LoadAuth(a.UsersFile, a.Realm, a.Algorithms)
		if err != nil {
			return nil, nil, err
		}
		cfg.Auth = auth
	}
	reg := registrar.New(g.store, cfg)
	if len(g.byUp) > 64 {
		clear(g.byUp) // old configurations after many reloads
	}
	g.byUp[rc] = reg
	return reg, g.proxy, nil
}

// regTransport delivers the proxy's messages to flows.
type regTransport struct{ r *Router }

func (t regTransport) Send(token string, msg []byte) error {
	f, err := t.r.keys.Decode(token)
	if err != nil {
		return fmt.Errorf("flow token: %w", err)
	}
	if !t.r.live.alive(f.Node, token) {
		return fmt.Errorf("flow %s is gone", token)
	}
	return t.r.toFlow(f, token, msg)
}

// regResponse takes a client's response to a request the registrar's proxy forked. It returns
// false when the response is not one.
func (r *Router) regResponse(m *sipmsg.Msg, raw []byte) bool {
	top, ok := m.TopValue("Via")
	if !ok || !strings.Contains(top, registrar.BranchPrefix) {
		return false
	}
	v, err := sipmsg.ParseVia(top)
	if err != nil {
		return false
	}
	replica, _, _, ok := registrar.ParseBranch(v.Branch())
	if !ok {
		return false
	}
	r.reg.mu.Lock()
	p := r.reg.proxy
	r.reg.mu.Unlock()
	if p != nil && replica == p.Replica() {
		if !p.Response(m) {
			r.m.dropped.WithLabelValues("client", "unknown_fork").Inc()
		}
		return true
	}
	// The fork lives on another router.
	if err := r.nc.Publish(r.regSubject(replica), raw); err != nil {
		r.m.sendErrors.WithLabelValues("nats").Inc()
	}
	return true
}

// regInDialog relays a request inside a dialog the registrar's proxy set up between two
// clients: the top Route is one of the proxy's Record-Route entries and names the flow the
// request goes to. Responses come back statelessly (our Via carries the sender's token).
func (r *Router) regInDialog(f flow.Flow, token string, m *sipmsg.Msg, via sipmsg.Via) bool {
	v, ok := m.TopValue("Route")
	if !ok || !strings.Contains(v, ";"+registrar.RouteParam) {
		return false // the common case costs one substring search
	}
	na, err := sipmsg.ParseNameAddr(v)
	if err != nil || !r.ourURI(na.URI) || !na.URI.Params.Has(registrar.RouteParam) {
		return false
	}
	dest := na.URI.User
	r.popOurRoutes(m)
	df, check := r.checkToken(dest)
	if check != validToken {
		r.m.tampered.Inc()
		r.replyToFlow(f, token, m.Bytes(), 403, "Invalid Flow Token")
		return true
	}
	if !r.live.alive(df.Node, dest) {
		r.m.flowFailed.Inc()
		if m.Method != "ACK" {
			r.replyToFlow(f, token, m.Bytes(), 430, "Flow Failed")
		}
		return true
	}
	m.Prepend("Via", "SIP/2.0/WS "+r.adv+";branch="+makeBranch(token, via, m))
	if err := r.toFlow(df, dest, m.Bytes()); err != nil {
		r.m.sendErrors.WithLabelValues("nats").Inc()
		return true
	}
	r.m.relayed.WithLabelValues("client", m.Method).Inc()
	return true
}

// toRegistrar handles a request a route sends to the built-in registrar: REGISTER is answered
// from the binding store, CANCEL and ACK follow their INVITE's fork, anything else is forked
// to the Request-URI's contacts.
func (r *Router) toRegistrar(f flow.Flow, token string, m *sipmsg.Msg, via sipmsg.Via, ruri sipmsg.URI, rc *config.Registrar) {
	reg, p, err := r.registrarFor(rc)
	if err != nil {
		r.log.Warn("registrar unavailable", "err", err)
		r.replyToFlow(f, token, m.Bytes(), 503, "Registrar Unavailable", "Retry-After: 5")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), regOpTimeout)
	defer cancel()
	branch := via.Branch()
	switch m.Method {
	case "REGISTER":
		// The router is the edge proxy in front of this registrar: its flow URI is the Path,
		// stored with the binding and returned to UAs that support path.
		m.Prepend("Path", r.flowURI(token, ""))
		rep := reg.Register(ctx, m, token)
		if rep.Code == 200 {
			r.m.regBindings.WithLabelValues("register").Inc()
		}
		r.replyToFlow(f, token, m.Bytes(), rep.Code, rep.Reason, rep.Headers...)
		return
	case "CANCEL":
		if !p.Cancel(token, branch) {
			_ = r.nc.Publish(r.regSubject("cancel"), []byte(token+"|"+branch))
		}
		r.replyToFlow(f, token, m.Bytes(), 200, "OK")
		return
	case "ACK":
		return // for a non-2xx answer of a fork: hop by hop, ends here
	case "OPTIONS":
		if ruri.User == "" { // to the domain: the registrar itself answers (RFC 3261 §11)
			r.replyToFlow(f, token, m.Bytes(), 200, "OK", "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, REGISTER, SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, PRACK", "Accept: application/sdp")
			return
		}
	}
	if a := reg.Auth(); a != nil && rc.Auth.Requests && !toTagged(m) {
		fv, _ := m.Get("From")
		fna, _ := sipmsg.ParseNameAddr(fv)
		if ok, rep := a.Check(m, fna.URI.User, true); !ok {
			r.replyToFlow(f, token, m.Bytes(), rep.Code, rep.Reason, rep.Headers...)
			return
		}
	}
	aor, err := registrar.AOR(ruri)
	if err != nil {
		r.replyToFlow(f, token, m.Bytes(), 404, "Not Found")
		return
	}
	contacts, known, err := reg.Lookup(ctx, aor)
	if err != nil {
		r.log.Warn("registrar lookup", "aor", aor, "err", err)
		r.replyToFlow(f, token, m.Bytes(), 503, "Registrar Unavailable", "Retry-After: 5")
		return
	}
	live := contacts[:0]
	for _, c := range contacts {
		cf, err := r.keys.Decode(c.Flow)
		if err == nil && r.live.alive(cf.Node, c.Flow) {
			live = append(live, c)
			continue
		}
		go r.removeFlowBindings(c.Flow) // an edge that went away without notices
	}
	switch {
	case !known:
		r.replyToFlow(f, token, m.Bytes(), 404, "Not Found")
	case len(live) == 0:
		r.replyToFlow(f, token, m.Bytes(), 480, "Temporarily Unavailable")
	default:
		r.m.relayed.WithLabelValues("registrar", m.Method).Inc()
		p.Forward(token, branch, m, live)
	}
}
