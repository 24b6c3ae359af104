package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sipws/sipws/edge/bus"
)

// runResponder stands in for the router tier and a registrar: every request an edge publishes
// is answered at once with a 200 OK on the edge's out subject for that flow.
func runResponder(args []string) error {
	fs := flag.NewFlagSet("responder", flag.ExitOnError)
	var c common
	c.register(fs, 2*time.Hour)
	natsURL := fs.String("nats", nats.DefaultURL, "NATS URL (ignored with -embed)")
	embed := fs.String("embed", "", "start an in-process nats-server on this host:port first")
	gateway := fs.String("gateway", "bench", "gateway name (second subject token)")
	prefix := fs.String("prefix", "sipws", "subject prefix")
	queue := fs.String("queue", "router", "queue group, as routers use")
	if err := parse(fs, args); err != nil {
		return err
	}
	c.watchdog()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var opts []nats.Option
	if *embed != "" {
		ns, err := startNATS(*embed)
		if err != nil {
			return err
		}
		defer ns.Shutdown()
		*natsURL = ns.ClientURL()
		say("NATS %s", *natsURL)
		// In process: the responder should cost the shared CPUs as little as possible.
		opts = append(opts, nats.InProcessServer(ns))
	}
	opts = append(opts, nats.Name("edgebench-responder"), nats.MaxReconnects(-1),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Printf("nats: %v", err) }))
	nc, err := nats.Connect(*natsURL, opts...)
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()

	subj := bus.Subjects{Prefix: *prefix, Gateway: *gateway}
	var answered, ignored atomic.Int64
	sub, err := nc.QueueSubscribe(subj.InAll(), *queue, func(m *nats.Msg) {
		node, flow := m.Header.Get(bus.HeaderNode), m.Header.Get(bus.HeaderFlow)
		resp, ok := okResponse(m.Data, time.Now())
		if !ok || node == "" || flow == "" {
			ignored.Add(1)
			return
		}
		if err := nc.Publish(subj.Out(node, flow), resp); err != nil {
			ignored.Add(1)
			return
		}
		answered.Add(1)
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", subj.InAll(), err)
	}
	// A burst of 18,000 REGISTERs must not be dropped as a slow consumer.
	if err := sub.SetPendingLimits(1<<20, 256<<20); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	log.Printf("answering %s on %s", subj.InAll(), *natsURL)
	say("READY")

	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			emit(Result{Test: "responder", Server: c.server, OK: answered.Load(), Failures: ignored.Load()})
			return nil
		case <-tick.C:
			if n := answered.Load(); n != last {
				log.Printf("answered %d, ignored %d", n, ignored.Load())
				last = n
			}
		}
	}
}

// startNATS runs an in-process nats-server on addr and waits until it accepts clients.
func startNATS(addr string) (*server.Server, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-embed: %w", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("-embed port: %w", err)
	}
	ns, err := server.NewServer(&server.Options{Host: host, Port: p, NoSigs: true, MaxConn: 1000, Logtime: true})
	if err != nil {
		return nil, fmt.Errorf("nats-server: %w", err)
	}
	// The server's log (on stderr) says why it closes a client: slow consumer, stale connection...
	ns.ConfigureLogger()
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats-server on %s did not start", addr)
	}
	return ns, nil
}
