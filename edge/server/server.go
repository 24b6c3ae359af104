// Package server is the sipws edge: WS/WSS listeners, the epoll loop and worker pool that
// serve upgraded flows, and the NATS side that carries their SIP messages.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sys/unix"

	"github.com/sipws/sipws/edge/bus"
	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/flow"
	"github.com/sipws/sipws/edge/netpoll"
	"github.com/sipws/sipws/edge/ws"
)

// Options are what the server needs besides its configuration.
type Options struct {
	Logger *slog.Logger
	// Keys sign flow tokens. Nil loads cfg.FlowToken.KeysFile, or a random key when that is empty.
	Keys *flow.Keyring
	// NATS is an established connection to use; nil connects with cfg.NATS.
	NATS *nats.Conn
	// NATSOptions are added when the server connects itself (local mode: nats.InProcessServer).
	NATSOptions []nats.Option
}

// Server is one edge process.
type Server struct {
	log  *slog.Logger
	cfg  atomic.Pointer[config.Config]
	node string
	subj bus.Subjects
	keys *flow.Keyring
	m    *metrics

	nc       *nats.Conn
	natsOpts []nats.Option
	ownNC    bool
	outSub   *nats.Subscription

	pollers []*netpoll.Poller // a conn lives in pollers[fd % len]
	byFD    fdTable
	flows   flowTable
	work    chan *conn
	serial  atomic.Uint64
	perIP   *ipLimits

	listeners []*listener
	admin     *http.Server
	adminLn   net.Listener

	draining atomic.Bool
	started  atomic.Bool
	stop     chan struct{}
	bg       sync.WaitGroup // poller, workers, sweeper, heartbeats
	hs       sync.WaitGroup // accept loops and handshakes
	streams  sync.WaitGroup // TLS 1.2 stream flows
}

// New builds a server from a validated configuration.
func New(cfg *config.Config, o Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("edge config: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	keys := o.Keys
	if keys == nil {
		if cfg.FlowToken.KeysFile != "" {
			k, err := flow.LoadKeyring(cfg.FlowToken.KeysFile)
			if err != nil {
				return nil, fmt.Errorf("flow token keys: %w", err)
			}
			keys = k
		} else {
			keys = flow.RandomKeyring()
		}
	}
	s := &Server{
		log:      log.With("component", "edge", "node", cfg.Node),
		node:     cfg.Node,
		subj:     bus.Subjects{Prefix: cfg.NATS.SubjectPrefix, Gateway: cfg.Gateway},
		keys:     keys,
		m:        newMetrics(),
		nc:       o.NATS,
		natsOpts: o.NATSOptions,
		work:     make(chan *conn, 4096),
		perIP:    newIPLimits(),
		stop:     make(chan struct{}),
	}
	s.flows.init()
	// Serials start at a random point so a restarted node does not reissue recent tokens.
	s.serial.Store(rand.Uint64() >> 16)
	s.cfg.Store(cfg)
	for i := range cfg.Listeners {
		l, err := newListener(s, cfg.Listeners[i])
		if err != nil {
			return nil, err
		}
		s.listeners = append(s.listeners, l)
	}
	return s, nil
}

// Start binds the listeners and the admin endpoint, connects to NATS and starts serving.
func (s *Server) Start(ctx context.Context) error {
	cfg := s.cfg.Load()
	if s.nc == nil {
		nc, err := connectNATS(cfg, s, s.natsOpts...)
		if err != nil {
			return err
		}
		s.nc, s.ownNC = nc, true
	} else {
		s.watchNATS(s.nc)
	}
	if s.nc.IsConnected() {
		s.m.natsConnected.Set(1)
	}
	sub, err := s.nc.Subscribe(s.subj.OutNode(s.node), s.deliver)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", s.subj.OutNode(s.node), err)
	}
	// One subscription carries every flow of the node: let it buffer bursts instead of dropping.
	_ = sub.SetPendingLimits(1<<20, 256<<20)
	s.outSub = sub
	if s.nc.IsConnected() {
		// Ready means routers can reach our flows: the server must have the subscription.
		if err := s.nc.FlushTimeout(5 * time.Second); err != nil {
			s.log.Warn("NATS flush after subscribe", "err", err)
		}
	}

	// One poller per two Ps: a poller reads its ready conns itself (no hand-off to a worker for
	// the common case), so several share the reading on bigger machines.
	for range max(1, runtime.GOMAXPROCS(0)/2) {
		p, err := netpoll.New()
		if err != nil {
			s.releasePollers()
			return err
		}
		s.pollers = append(s.pollers, p)
	}
	for _, l := range s.listeners {
		if err := l.bind(); err != nil {
			s.closeListeners()
			s.releasePollers()
			return err
		}
	}
	if err := s.startAdmin(cfg.Admin); err != nil {
		s.closeListeners()
		s.releasePollers()
		return err
	}
	for _, p := range s.pollers {
		s.bg.Add(1)
		go s.pollLoop(p)
	}
	for range cfg.Workers {
		s.bg.Add(1)
		go s.workerLoop()
	}
	s.bg.Add(2)
	go s.sweepLoop()
	go s.heartbeatLoop()
	for _, l := range s.listeners {
		s.hs.Add(1)
		go l.acceptLoop()
	}
	s.started.Store(true)
	s.log.Info("edge started", "listeners", len(s.listeners), "workers", cfg.Workers, "nats", s.nc.ConnectedUrlRedacted())
	return nil
}

// Addr returns the bound address of the named listener, nil if unknown or not bound.
func (s *Server) Addr(name string) net.Addr {
	for _, l := range s.listeners {
		if l.name == name && l.ln != nil {
			return l.ln.Addr()
		}
	}
	return nil
}

// AdminAddr is the bound admin address, nil when disabled.
func (s *Server) AdminAddr() net.Addr {
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

// Node is this edge's node id.
func (s *Server) Node() string { return s.node }

// Subjects are the gateway's NATS subjects.
func (s *Server) Subjects() bus.Subjects { return s.subj }

// Flows is the number of open flows.
func (s *Server) Flows() int64 { return s.flows.count.Load() }

// Ready reports whether the edge should receive new connections.
func (s *Server) Ready() bool {
	return s.started.Load() && !s.draining.Load() && s.nc != nil && s.nc.IsConnected()
}

// Shutdown drains the edge: not ready, no new connections, every flow closed with 1001 spread
// with jitter over the drain timeout (so clients do not all reconnect at once elsewhere), then
// NATS is flushed and everything stops. ctx bounds the whole drain.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.draining.CompareAndSwap(false, true) {
		return errors.New("edge: already shutting down")
	}
	cfg := s.cfg.Load()
	s.log.Info("draining", "flows", s.Flows(), "drainTimeout", cfg.DrainTimeout.Duration)
	s.closeListeners()
	// Handshakes in progress end now (their deadline is moved to now), so a slow client cannot
	// hold the drain; one that completed first is among the flows closed below.
	for _, l := range s.listeners {
		l.abortHandshakes()
	}
	s.hs.Wait()

	conns := s.flows.snapshot(nil)
	rand.Shuffle(len(conns), func(i, j int) { conns[i], conns[j] = conns[j], conns[i] })
	const tick = 10 * time.Millisecond
	steps := max(1, int(cfg.DrainTimeout.Duration/tick))
	per := (len(conns) + steps - 1) / steps
	t := time.NewTicker(tick)
	for i := 0; i < len(conns); i += per {
		for _, c := range conns[i:min(i+per, len(conns))] {
			c.requestClose(ws.CloseGoingAway, "server shutting down")
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			i = len(conns) // deadline: close the rest now
			for _, c := range conns {
				c.force()
			}
		}
	}
	t.Stop()
	// Wait for the closes to complete; flows that do not answer are forced.
	waitUntil := time.Now().Add(closeTimeout + time.Second)
	forced := false
	for s.Flows() > 0 && ctx.Err() == nil {
		if time.Now().After(waitUntil) {
			if forced {
				s.log.Warn("flows still open after drain", "flows", s.Flows())
				break
			}
			for _, c := range s.flows.snapshot(nil) {
				c.force()
			}
			forced, waitUntil = true, time.Now().Add(time.Second)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(s.stop)
	for _, p := range s.pollers {
		_ = p.Close()
	}
	s.bg.Wait()
	// Workers and the poller are gone, so this goroutine owns every flow still open (the drain
	// deadline passed, or clients ignored the close): close them now, with a last close frame.
	for _, c := range s.flows.snapshot(nil) {
		c.wmu.Lock()
		if !c.closed && c.state.Load() < stateClosing {
			var frame [64]byte
			_ = c.writeLocked(ws.AppendClose(frame[:0], ws.CloseGoingAway, "server shutting down"))
		}
		c.wmu.Unlock()
		c.finish(ws.CloseGoingAway, "server", "shutdown")
	}
	s.streams.Wait()
	s.releasePollers()
	if s.outSub != nil {
		_ = s.outSub.Unsubscribe()
	}
	if s.ownNC {
		_ = s.nc.FlushTimeout(time.Second)
		s.nc.Close()
	}
	if s.admin != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.admin.Shutdown(sctx)
		cancel()
	}
	s.log.Info("edge stopped")
	return nil
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		l.close()
	}
}

// register makes an upgraded conn live: in the flow table, and in the poller for fd conns.
func (s *Server) register(c *conn) error {
	s.flows.add(c)
	c.ln.m.flows.Inc()
	if c.stream != nil {
		return nil
	}
	s.byFD.set(c.fd, c)
	if err := s.pollers[c.fd%len(s.pollers)].Add(c.fd); err != nil {
		s.byFD.clear(c.fd)
		s.flows.remove(c)
		c.ln.m.flows.Dec()
		return err
	}
	return nil
}

func (s *Server) unregisterFD(fd int) {
	s.byFD.clear(fd)
}

// forget drops a closed flow from the tables and tells the routers.
func (s *Server) forget(c *conn, why string) {
	s.flows.remove(c)
	c.ln.m.flows.Dec()
	c.ln.release(c.addr)
	s.notice(bus.Notice{Event: bus.EventFlowClosed, Flow: c.token, Reason: why})
}

// schedule queues a conn for a worker unless it is queued or running already.
func (s *Server) schedule(c *conn) {
	for {
		switch c.sched.Load() {
		case 0:
			if c.sched.CompareAndSwap(0, 1) {
				s.work <- c
				return
			}
		case 1:
			if c.sched.CompareAndSwap(1, 2) {
				return
			}
		default:
			return
		}
	}
}

// requeue puts a running conn at the back of the queue (fairness for busy clients), or keeps
// it with the current worker when the queue is full.
func (s *Server) requeue(c *conn) {
	c.sched.Store(3)
}

func (s *Server) releasePollers() {
	for _, p := range s.pollers {
		p.Release()
	}
}

// pollLoop waits for ready conns of one poller and serves them in place; a conn that a worker
// already has (a close request, a kick) gets the worker's next turn instead.
func (s *Server) pollLoop(poller *netpoll.Poller) {
	defer s.bg.Done()
	raw := make([]unix.EpollEvent, 1024)
	var evs []netpoll.Event
	w := newScratch()
	for {
		var err error
		evs, err = poller.WaitParked(raw, evs)
		if err != nil {
			if !errors.Is(err, netpoll.ErrClosed) {
				s.log.Error("poller stopped", "err", err)
			}
			return
		}
		for _, ev := range evs {
			c := s.byFD.get(ev.FD)
			if c == nil {
				continue
			}
			if ev.Events&netpoll.Writable != 0 {
				c.flush()
			}
			if ev.Events&(netpoll.Hangup|netpoll.Error) != 0 {
				c.hup.Store(true)
			}
			if ev.Events&(netpoll.Readable|netpoll.Hangup|netpoll.Error) != 0 {
				if c.sched.CompareAndSwap(0, 1) {
					s.serve(c, w)
				} else {
					s.schedule(c)
				}
			}
		}
	}
}

func (s *Server) workerLoop() {
	defer s.bg.Done()
	w := newScratch()
	for {
		var c *conn
		select {
		case c = <-s.work:
		case <-s.stop:
			return
		}
		s.serve(c, w)
	}
}

// serve runs a conn whose sched state this goroutine set to 1 until it has nothing to do.
func (s *Server) serve(c *conn, w *scratch) {
	for {
		alive := c.serviceTurn(w)
		if !alive {
			c.sched.Store(0)
			return
		}
		if c.sched.Load() == 3 { // more to read: back of the queue if there is room
			c.sched.Store(1)
			select {
			case s.work <- c:
				return
			default:
				continue
			}
		}
		if c.sched.CompareAndSwap(1, 0) {
			return
		}
		c.sched.Store(1) // work arrived while running: go again
	}
}

// sweepLoop sends pings, closes idle flows and forces flows stuck in closing.
func (s *Server) sweepLoop() {
	defer s.bg.Done()
	// Tick often enough for short ping intervals (tests, aggressive load balancers).
	period := min(max(s.cfg.Load().KeepAlive.PingInterval.Duration/4, 100*time.Millisecond), time.Second)
	t := time.NewTicker(period)
	defer t.Stop()
	var conns []*conn
	ticks := 0
	certEvery := int(5 * time.Second / period)
	// A WSS flow that has not sent a frame for two ticks (0.2-2 s) is compacted: busy flows keep
	// their AEADs, and a flow woken by a keep-alive ping/pong sheds them again soon after.
	compactAfter := int64(2 * period)
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ka := s.cfg.Load().KeepAlive
		now := time.Now().UnixNano()
		ping, idle := int64(ka.PingInterval.Duration), int64(ka.IdleTimeout.Duration)
		conns = s.flows.snapshot(conns[:0])
		for _, c := range conns {
			switch c.state.Load() {
			case stateOpen:
				quiet := now - c.lastRead.Load()
				if quiet > idle {
					c.requestClose(ws.CloseGoingAway, "idle timeout")
					continue
				}
				if c.tls != nil && quiet >= compactAfter {
					// Quiet flow: drop the cached AEADs (about 2.6 KiB for AES-GCM) so it
					// costs only its ~200-byte record state again. Compact is safe against
					// a concurrent Open (worker) and Seal (under wmu): it only swaps the
					// State's atomic cache pointers to nil, the next use rebuilds.
					c.tls.Compact()
				}
				// Due within half a tick counts as due, so pings keep their interval.
				if now-c.lastPing.Load() >= ping-int64(period/2) {
					c.lastPing.Store(now)
					if c.write(ws.OpPing, nil) == nil {
						c.ln.m.pingSent.Inc()
					}
				}
			case stateClosing:
				if now-c.closedAt.Load() > int64(closeTimeout) {
					c.force()
				}
			}
		}
		clear(conns)
		s.perIP.sweep(time.Now())
		if ticks++; ticks%certEvery == 0 {
			s.reloadCertificates()
		}
	}
}
