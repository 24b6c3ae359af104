package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// runRTT keeps -conns flows busy, each sending a REGISTER and waiting for its 200 before the next
// one, and reports round trips per second and their latency. A round trip is client → server →
// NATS → responder → NATS → server → client.
func runRTT(args []string) error {
	fs := flag.NewFlagSet("rtt", flag.ExitOnError)
	var c common
	var df dialFlags
	df.register(fs, "127.0.0.9")
	conns := fs.Int("conns", 100, "concurrent flows, one request in flight each")
	duration := fs.Duration("duration", 10*time.Second, "measured time")
	warmup := fs.Duration("warmup", time.Second, "unmeasured time before it")
	pid := fs.Int("pid", 0, "server process whose CPU time to report")
	c.register(fs, 0)
	if err := parse(fs, args); err != nil {
		return err
	}
	if c.lifetime == 0 {
		c.lifetime = *warmup + *duration + 2*time.Minute
	}
	c.watchdog()
	d, err := df.dialer()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Open and register every flow first, so set-up cost stays out of the measurement.
	var errs firstError
	flows := make([]*wsConn, *conns)
	ids := make([]flowIdentity, *conns)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := range flows {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			dctx, cancel := context.WithTimeout(ctx, df.timeout)
			defer cancel()
			conn, err := d.dial(dctx)
			if err != nil {
				errs.add(err)
				return
			}
			ids[i] = newFlowIdentity()
			if err := conn.registerFlow(&ids[i], 1, time.Now().Add(df.timeout)); err != nil {
				errs.add(err)
				conn.Close()
				return
			}
			flows[i] = conn
		}()
	}
	wg.Wait()
	opened := 0
	for _, f := range flows {
		if f != nil {
			opened++
			defer f.closeNormal()
		}
	}
	if opened == 0 {
		emit(Result{Test: "rtt", Server: c.server, Transport: df.transport(), Source: df.sources,
			Failures: int64(len(flows)), FirstError: errs.String(), Errors: errs.byKind()})
		return fmt.Errorf("no flow could register: %s", errs.String())
	}

	var ok, failed atomic.Int64
	lats := make([]latencies, len(flows))
	cpu := serverCPU{pid: *pid}
	mstart := time.Now().Add(*warmup)
	mend := mstart.Add(*duration)
	for i, conn := range flows {
		if conn == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cseq := 2; ctx.Err() == nil; cseq++ {
				t0 := time.Now()
				if !t0.Before(mend) {
					return
				}
				// The 10 s slack lets a slow answer count as slow instead of lost.
				if err := conn.registerFlow(&ids[i], cseq, mend.Add(10*time.Second)); err != nil {
					failed.Add(1)
					errs.add(err)
					return
				}
				if !t0.Before(mstart) {
					lats[i].add(time.Since(t0))
					ok.Add(1)
				}
			}
		}()
	}
	// The server's CPU is read over the measured window only.
	time.Sleep(time.Until(mstart))
	cpu.begin()
	time.Sleep(time.Until(mend))
	var server Result
	cpu.end(&server)
	wg.Wait()
	r := Result{Test: "rtt", Server: c.server, Transport: df.transport(), Source: df.sources,
		OK: ok.Load(), Failures: failed.Load() + int64(len(flows)-opened), Conns: opened,
		Seconds: duration.Seconds(), PerSecond: float64(ok.Load()) / duration.Seconds(),
		TLS: tlsInfo(firstConn(flows).Conn), ServerCPUms: server.ServerCPUms, ServerSyscalls: server.ServerSyscalls, FirstError: errs.String(), Errors: errs.byKind()}
	fill(&r, lats)
	emit(r)
	return nil
}

func firstConn(flows []*wsConn) *wsConn {
	for _, f := range flows {
		if f != nil {
			return f
		}
	}
	return nil
}
