package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/sipws/sipws/edge/bus"
	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/ws"
)

// connectNATS dials the bus. The edge keeps its flows while NATS is away: nats.go reconnects
// forever, and with no reconnect buffer a publish fails at once, so the edge can answer the
// client's request with 503 instead of delivering it late.
func connectNATS(cfg *config.Config, s *Server, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("sipws-edge " + cfg.Node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ReconnectBufSize(-1),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
	}
	if cfg.NATS.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.NATS.CredentialsFile))
	}
	if cfg.NATS.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.NATS.CAFile))
	}
	if cfg.NATS.CertFile != "" {
		opts = append(opts, nats.ClientCert(cfg.NATS.CertFile, cfg.NATS.KeyFile))
	}
	opts = append(opts, s.natsHandlers()...)
	opts = append(opts, extra...)
	nc, err := nats.Connect(cfg.NATS.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", cfg.NATS.URL, err)
	}
	return nc, nil
}

func (s *Server) natsHandlers() []nats.Option {
	return []nats.Option{
		nats.ConnectHandler(func(*nats.Conn) {
			s.m.natsConnected.Set(1)
			s.m.natsEvents.WithLabelValues("connected").Inc()
			s.log.Info("NATS connected")
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			s.m.natsConnected.Set(0)
			s.m.natsEvents.WithLabelValues("disconnected").Inc()
			if err != nil { // nil: our own Close at shutdown
				s.log.Warn("NATS disconnected; flows stay up", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			s.m.natsConnected.Set(1)
			s.m.natsEvents.WithLabelValues("reconnected").Inc()
			s.log.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			s.m.natsConnected.Set(0)
			s.m.natsEvents.WithLabelValues("closed").Inc()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			s.m.natsEvents.WithLabelValues("error").Inc()
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			s.log.Error("NATS error", "subject", subj, "err", err)
		}),
	}
}

// watchNATS installs the event handlers on a connection the caller made.
func (s *Server) watchNATS(nc *nats.Conn) {
	nc.SetDisconnectErrHandler(func(_ *nats.Conn, err error) {
		s.m.natsConnected.Set(0)
		s.m.natsEvents.WithLabelValues("disconnected").Inc()
		s.log.Warn("NATS disconnected; flows stay up", "err", err)
	})
	nc.SetReconnectHandler(func(*nats.Conn) {
		s.m.natsConnected.Set(1)
		s.m.natsEvents.WithLabelValues("reconnected").Inc()
	})
	nc.SetClosedHandler(func(*nats.Conn) { s.m.natsConnected.Set(0) })
}

// publish sends one client message to the routers with the flow's metadata in headers.
func (s *Server) publish(c *conn, msg []byte) error {
	h := nats.Header{
		bus.HeaderFlow:      {c.token},
		bus.HeaderNode:      {s.node},
		bus.HeaderRemote:    {c.remote},
		bus.HeaderLocal:     {c.ln.addr},
		bus.HeaderTransport: {c.ln.transport},
		bus.HeaderListener:  {c.ln.name},
	}
	if c.origin != "" {
		h[bus.HeaderOrigin] = []string{c.origin}
	}
	if !s.nc.IsConnected() {
		return nats.ErrConnectionReconnecting
	}
	return s.nc.PublishMsg(&nats.Msg{Subject: s.subj.In(c.token), Header: h, Data: msg})
}

// deliver writes a message from NATS to its flow: text frame, or binary when it is not UTF-8
// (RFC 7118 §4.2).
func (s *Server) deliver(m *nats.Msg) {
	token := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	c := s.flows.get(token)
	if c == nil || c.state.Load() != stateOpen {
		s.m.unknownFlow.Inc()
		reason := "unknown-flow"
		if c != nil {
			reason = "closed"
		}
		s.notice(bus.Notice{Event: bus.EventFlowFailed, Flow: token, Reason: reason})
		return
	}
	op := ws.OpText
	if !utf8.Valid(m.Data) {
		op = ws.OpBinary
	}
	_ = c.write(op, m.Data)
}

// notice publishes a node event (flow-failed, flow-closed, heartbeat) on the node subject.
func (s *Server) notice(n bus.Notice) {
	if s.nc == nil || !s.nc.IsConnected() {
		return
	}
	n.Node = s.node
	n.Time = time.Now().UnixMilli()
	b, err := json.Marshal(n)
	if err != nil {
		return
	}
	msg := &nats.Msg{Subject: s.subj.Node(s.node), Header: nats.Header{bus.HeaderEvent: {n.Event}}, Data: b}
	if n.Flow != "" {
		msg.Header[bus.HeaderFlow] = []string{n.Flow}
	}
	_ = s.nc.PublishMsg(msg)
}

// heartbeatLoop announces the node and its flow count every second: routers treat a node
// without heartbeats as gone and answer 430 for its flows.
func (s *Server) heartbeatLoop() {
	defer s.bg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s.notice(bus.Notice{Event: bus.EventHeartbeat, Flows: s.Flows()})
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}
