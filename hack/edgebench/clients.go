package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// runClients opens n flows, registers each once, then holds them idle (answering pings) until
// signalled or -hold is over. A client's memory is not what is measured, so each flow simply
// has a goroutine blocked in a read.
func runClients(args []string) error {
	fs := flag.NewFlagSet("clients", flag.ExitOnError)
	var c common
	var df dialFlags
	df.register(fs, "127.0.0.2")
	n := fs.Int("n", 6000, "connections to open")
	concurrency := fs.Int("concurrency", 200, "connections being set up at once")
	hold := fs.Duration("hold", 10*time.Minute, "how long to hold the flows before closing them")
	c.register(fs, 0)
	if err := parse(fs, args); err != nil {
		return err
	}
	if c.lifetime == 0 {
		c.lifetime = *hold + 2*time.Minute
	}
	c.watchdog()
	d, err := df.dialer()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *hold)
	defer cancel()

	h := &holder{}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(*concurrency, *n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*n) && ctx.Err() == nil {
				h.open(ctx, d, df.timeout)
			}
		}()
	}
	wg.Wait()
	setup := time.Since(start).Seconds()
	ok, failed := h.established.Load(), h.failures.Load()
	res := Result{Test: "connect", Server: c.server, Transport: df.transport(), Source: df.sources,
		OK: ok, Failures: failed, Seconds: setup, PerSecond: float64(ok) / setup, TLS: h.tls,
		FirstError: h.errs.String(), Errors: h.errs.byKind()}
	emit(res)
	say("READY %d %d", ok, failed)
	log.Printf("%d flows registered in %.1fs (%d failed); holding", ok, setup, failed)

	<-ctx.Done()
	h.closing.Store(true)
	dropped := h.dropped.Load()
	h.closeAll()
	emit(Result{Test: "hold", Server: c.server, Transport: df.transport(), Source: df.sources,
		OK: ok - dropped, Failures: failed, Dropped: dropped, Seconds: time.Since(start).Seconds(),
		FirstError: h.drops.String(), Errors: h.drops.byKind()})
	return nil
}

type holder struct {
	established, failures, dropped atomic.Int64
	closing                        atomic.Bool
	tlsOnce                        sync.Once
	tls                            string // negotiated TLS of the first flow
	errs, drops                    firstError

	mu    sync.Mutex
	conns []*wsConn
}

func (h *holder) open(ctx context.Context, d *dialer, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	c, err := d.dial(dctx)
	if err != nil {
		h.failures.Add(1)
		h.errs.add(fmt.Errorf("dial: %w", err))
		return
	}
	id := newFlowIdentity()
	if err := c.registerFlow(&id, 1, deadline); err != nil {
		c.Close()
		h.failures.Add(1)
		h.errs.add(err)
		return
	}
	h.tlsOnce.Do(func() { h.tls = tlsInfo(c.Conn) })
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	h.established.Add(1)
	go h.hold(c)
}

// hold reads until the connection ends; wsutil answers the server's pings on the way. An end
// that we did not cause is a dropped flow.
func (h *holder) hold(c *wsConn) {
	for {
		if _, err := c.readMessage(); err != nil {
			if !h.closing.Load() {
				h.dropped.Add(1)
				h.drops.add(fmt.Errorf("flow %s dropped: %w", c.LocalAddr(), err))
			}
			return
		}
	}
}

// closeAll closes every flow with 1000, a few hundred at a time, bounded in time.
func (h *holder) closeAll() {
	h.mu.Lock()
	conns := h.conns
	h.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 256)
		for _, c := range conns {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				c.closeNormal()
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		log.Printf("closing took too long, exiting anyway")
	}
}
