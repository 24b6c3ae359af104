// Package router is the SIP side of sipws: an RFC 5626 edge proxy spread over NATS. It takes
// what clients send from the edges' subjects, relays it to the configured upstream SIP servers
// over UDP, TCP or TLS, and brings responses and upstream requests back to the edge that holds
// the flow.
package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipws/sipws/edge/bus"
	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/flow"
	"github.com/sipws/sipws/edge/siptransport"
)

// QueueGroup is the NATS queue group routers share: each client message goes to one router.
const QueueGroup = "router"

// Options are what the router needs besides its configuration.
type Options struct {
	Logger *slog.Logger
	// Keys decode flow tokens; they must be the edges' keys.
	Keys *flow.Keyring
	// NATS is an established connection; nil connects with cfg.NATS.
	NATS *nats.Conn
	// NATSOptions are added when the router connects itself (local mode: nats.InProcessServer).
	NATSOptions []nats.Option
	// Registry receives the router's metrics; nil makes a new one.
	Registry *prometheus.Registry
}

// Router is one router process.
type Router struct {
	log  *slog.Logger
	cfg  atomic.Pointer[config.Config]
	keys *flow.Keyring
	subj bus.Subjects
	m    *metrics

	nc       *nats.Conn
	natsOpts []nats.Option
	ownNC    bool
	subs     []*nats.Subscription

	tp      *siptransport.Layer
	adv     string // host:port in Via, Path, Record-Route
	advHost string
	advPort int

	routes  atomic.Pointer[[]*upstream]
	allowMu sync.RWMutex
	allowed map[netip.AddrPort]bool // resolved upstream addresses: in-dialog requests may go there

	live    *liveness
	serving atomic.Bool      // set once advertise and NATS are ready; upstream packets wait for it
	work    []chan *nats.Msg // client messages, sharded by flow so one flow stays in order
	ctx     *txTable
	stx     *txTable
	reg     regState // built-in registrar (registrar.go)

	stop chan struct{}
	wg   sync.WaitGroup
}

// New builds a router from a validated configuration.
func New(cfg *config.Config, o Options) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("router config: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.Keys == nil {
		if cfg.FlowToken.KeysFile == "" {
			return nil, errors.New("router: flow token keys are required (flowToken.keysFile)")
		}
		k, err := flow.LoadKeyring(cfg.FlowToken.KeysFile)
		if err != nil {
			return nil, fmt.Errorf("flow token keys: %w", err)
		}
		o.Keys = k
	}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	r := &Router{
		log:      log.With("component", "router"),
		keys:     o.Keys,
		subj:     bus.Subjects{Prefix: cfg.NATS.SubjectPrefix, Gateway: cfg.Gateway},
		m:        newMetrics(reg),
		nc:       o.NATS,
		natsOpts: o.NATSOptions,
		allowed:  map[netip.AddrPort]bool{},
		ctx:      newTxTable(),
		stx:      newTxTable(),
		stop:     make(chan struct{}),
	}
	r.live = newLiveness(r.flowFailed)
	for side, t := range map[string]*txTable{"client": r.ctx, "upstream": r.stx} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "sipws", Subsystem: "router",
			Name: "transactions", Help: "Transactions the router keeps, by side that sent the request (client, upstream); bounded by router.maxTransactions.",
			ConstLabels: prometheus.Labels{"from": side}}, func() float64 { return float64(t.len()) }))
	}
	r.cfg.Store(cfg)
	if err := r.compileRoutes(cfg); err != nil {
		return nil, err
	}
	tcfg := siptransport.Config{
		UDP:    cfg.Router.Listen.UDP,
		TCP:    cfg.Router.Listen.TCP,
		TLS:    cfg.Router.Listen.TLS,
		Logger: r.log,
	}
	if cfg.Router.Listen.TLS != "" {
		cert, err := tls.LoadX509KeyPair(cfg.Router.Listen.CertFile, cfg.Router.Listen.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("router TLS listener: %w", err)
		}
		tcfg.ServerTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	tp, err := siptransport.New(tcfg, r.fromUpstream)
	if err != nil {
		return nil, fmt.Errorf("router transports: %w", err)
	}
	r.tp = tp
	return r, nil
}

func (r *Router) compileRoutes(cfg *config.Config) error {
	var ups []*upstream
	for _, rt := range cfg.Router.Routes {
		u, err := newUpstream(rt)
		if err != nil {
			return err
		}
		ups = append(ups, u)
	}
	r.routes.Store(&ups)
	return nil
}

// Start binds the SIP listeners, subscribes to the gateway's subjects and starts health probes.
func (r *Router) Start(ctx context.Context) error {
	cfg := r.cfg.Load()
	if err := r.tp.Start(); err != nil {
		return fmt.Errorf("router transports: %w", err)
	}
	if err := r.setAdvertise(cfg); err != nil {
		r.tp.Close()
		return err
	}
	if r.nc == nil {
		opts := append([]nats.Option{
			nats.Name("sipws-router"),
			nats.MaxReconnects(-1),
			nats.ReconnectWait(time.Second),
			nats.RetryOnFailedConnect(true),
		}, r.natsOpts...)
		nc, err := nats.Connect(cfg.NATS.URL, opts...)
		if err != nil {
			r.tp.Close()
			return fmt.Errorf("connect to NATS %s: %w", cfg.NATS.URL, err)
		}
		r.nc, r.ownNC = nc, true
	}
	r.work = make([]chan *nats.Msg, max(4, 2*runtime.GOMAXPROCS(0)))
	for i := range r.work {
		r.work[i] = make(chan *nats.Msg, 4096)
		r.wg.Add(1)
		go r.clientWorker(r.work[i])
	}
	in, err := r.nc.QueueSubscribe(r.subj.InAll(), QueueGroup, r.dispatch)
	if err != nil {
		r.Close()
		return fmt.Errorf("subscribe %s: %w", r.subj.InAll(), err)
	}
	_ = in.SetPendingLimits(1<<20, 256<<20)
	nodes, err := r.nc.Subscribe(r.subj.NodeAll(), r.live.handle)
	if err != nil {
		r.Close()
		return fmt.Errorf("subscribe %s: %w", r.subj.NodeAll(), err)
	}
	_ = nodes.SetPendingLimits(1<<20, 64<<20)
	r.subs = append(r.subs, in, nodes)
	if r.nc.IsConnected() {
		if err := r.nc.FlushTimeout(5 * time.Second); err != nil {
			r.log.Warn("NATS flush after subscribe", "err", err)
		}
	}
	if err := r.startRegistrar(); err != nil {
		r.Close()
		return err
	}
	r.wg.Add(1)
	go r.housekeeping()
	r.serving.Store(true)
	r.startProbes()
	r.log.Info("router started", "advertise", r.adv, "udp", r.tp.LocalAddr("udp"), "tcp", r.tp.LocalAddr("tcp"), "routes", len(*r.routes.Load()))
	return nil
}

// setAdvertise decides the address written into Via, Path and Record-Route.
func (r *Router) setAdvertise(cfg *config.Config) error {
	adv := cfg.Router.Advertise
	if adv == "" {
		la := r.tp.LocalAddr("udp")
		if !la.IsValid() {
			la = r.tp.LocalAddr("tcp")
		}
		host := la.Addr().String()
		if la.Addr().IsUnspecified() {
			host = os.Getenv("POD_IP")
			if host == "" {
				host = "127.0.0.1"
			}
		}
		adv = net.JoinHostPort(host, strconv.Itoa(int(la.Port())))
	}
	host, portStr, err := net.SplitHostPort(adv)
	if err != nil {
		// host without port
		host, portStr = adv, "5060"
		adv = net.JoinHostPort(host, portStr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("router.advertise %q: bad port", adv)
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
		host = "[" + host + "]"
	}
	r.adv, r.advHost, r.advPort = fmt.Sprintf("%s:%d", host, port), host, port
	return nil
}

// Advertise is the address the router puts in Via, Path and Record-Route.
func (r *Router) Advertise() string { return r.adv }

// LocalAddr is the bound address of a transport ("udp", "tcp", "tls").
func (r *Router) LocalAddr(transport string) netip.AddrPort { return r.tp.LocalAddr(transport) }

// Ready reports whether the router is connected to NATS.
func (r *Router) Ready() bool { return r.nc != nil && r.nc.IsConnected() }

// Reload swaps routes (targets, matching, balancing, health checks) without touching
// transactions in progress.
func (r *Router) Reload(cfg *config.Config) error {
	if err := r.compileRoutes(cfg); err != nil {
		return err
	}
	r.cfg.Store(cfg)
	r.startProbes()
	return nil
}

// Close stops the router: subscriptions first (the queue group sends new messages to other
// routers), then probes and timers, then the transports.
func (r *Router) Close() error {
	for _, s := range r.subs {
		_ = s.Drain()
	}
	r.stopRegistrar()
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.wg.Wait()
	r.ctx.stopAll()
	r.stx.stopAll()
	err := r.tp.Close()
	if r.ownNC && r.nc != nil {
		r.nc.Close()
	}
	return err
}

// dispatch hands a client message to the worker of its flow: flows are served in parallel,
// each flow's messages in order (a CANCEL never overtakes its INVITE).
func (r *Router) dispatch(m *nats.Msg) {
	s := m.Subject
	var h uint32 = 2166136261
	for i := strings.LastIndexByte(s, '.') + 1; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	select {
	case r.work[h%uint32(len(r.work))] <- m:
	case <-r.stop:
	}
}

func (r *Router) clientWorker(ch chan *nats.Msg) {
	defer r.wg.Done()
	for {
		select {
		case m := <-ch:
			r.fromClient(m)
		case <-r.stop:
			return
		}
	}
}

func (r *Router) housekeeping() {
	defer r.wg.Done()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.live.sweep()
		}
	}
}

// allow records an upstream address in-dialog requests and responses may be sent to.
func (r *Router) allow(a netip.AddrPort) {
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	r.allowMu.RLock()
	ok := r.allowed[a]
	r.allowMu.RUnlock()
	if !ok {
		r.allowMu.Lock()
		r.allowed[a] = true
		r.allowMu.Unlock()
	}
}

func (r *Router) isAllowed(a netip.AddrPort) bool {
	r.allowMu.RLock()
	defer r.allowMu.RUnlock()
	return r.allowed[netip.AddrPortFrom(a.Addr().Unmap(), a.Port())]
}

// toFlow publishes a message to the edge that holds the flow.
func (r *Router) toFlow(f flow.Flow, token string, msg []byte) error {
	if err := r.nc.Publish(r.subj.Out(f.Node, token), msg); err != nil {
		return fmt.Errorf("publish to flow: %w", err)
	}
	return nil
}
