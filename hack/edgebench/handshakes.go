package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// runHandshakes measures complete handshakes per second: TCP connect, TLS for wss, HTTP upgrade
// with subprotocol sip, then an immediate close 1000. No TLS session resumption.
func runHandshakes(args []string) error {
	fs := flag.NewFlagSet("handshakes", flag.ExitOnError)
	var c common
	var df dialFlags
	df.register(fs, "127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8")
	duration := fs.Duration("duration", 10*time.Second, "how long to run")
	concurrency := fs.Int("concurrency", 32, "handshakes in flight")
	pid := fs.Int("pid", 0, "server process whose CPU time to report")
	phase := fs.String("phase", "", "label for the result line (e.g. x25519)")
	c.register(fs, 0)
	if err := parse(fs, args); err != nil {
		return err
	}
	if c.lifetime == 0 {
		c.lifetime = *duration + time.Minute
	}
	c.watchdog()
	d, err := df.dialer()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The rate counts handshakes completed inside the window and the server's CPU is read over
	// the same window; latencies include handshakes that finish after it, so a stall still shows.
	var ok, late, failed atomic.Int64
	var errs firstError
	var tlsOnce sync.Once
	var tlsName string
	lats := make([]latencies, *concurrency)
	cpu := serverCPU{pid: *pid}
	cpu.begin()
	start := time.Now()
	end := start.Add(*duration)
	var wg sync.WaitGroup
	for w := range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				t0 := time.Now()
				conn, err := d.dial(ctx)
				if err != nil {
					failed.Add(1)
					errs.add(err)
					time.Sleep(10 * time.Millisecond) // don't spin on a refusing server
					continue
				}
				done := time.Now()
				lats[w].add(done.Sub(t0))
				if done.Before(end) {
					ok.Add(1)
				} else {
					late.Add(1)
				}
				tlsOnce.Do(func() { tlsName = tlsInfo(conn.Conn) })
				conn.closeNormal()
			}
		}()
	}
	time.Sleep(time.Until(end))
	var server Result
	cpu.end(&server)
	wg.Wait()
	if n := late.Load(); n > 0 {
		log.Printf("%d handshakes completed after the window", n)
	}
	r := Result{Test: "handshakes", Server: c.server, Transport: df.transport(), Phase: *phase, Source: df.sources,
		OK: ok.Load(), Failures: failed.Load(), Conns: *concurrency, Seconds: duration.Seconds(),
		PerSecond: float64(ok.Load()) / duration.Seconds(), TLS: tlsName, FirstError: errs.String(),
		Errors: errs.byKind(), ServerCPUms: server.ServerCPUms, ServerSyscalls: server.ServerSyscalls}
	fill(&r, lats)
	emit(r)
	return nil
}

// runProbe waits until one flow can be opened and registered, for orchestration and for
// checking that a server under development works at all.
func runProbe(args []string) error {
	fs := flag.NewFlagSet("probe", flag.ExitOnError)
	var df dialFlags
	df.register(fs, "")
	wait := fs.Duration("wait", 30*time.Second, "keep trying this long")
	register := fs.Bool("register", true, "also send a REGISTER and wait for the 200 (needs a responder)")
	if err := parse(fs, args); err != nil {
		return err
	}
	df.timeout = min(df.timeout, 5*time.Second)
	d, err := df.dialer()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(*wait)
	for {
		err = probeOnce(d, *register, df.timeout)
		if err == nil {
			log.Printf("%s ok", df.url)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w", df.url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func probeOnce(d *dialer, register bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := d.dial(ctx)
	if err != nil {
		return err
	}
	defer c.closeNormal()
	if register {
		id := newFlowIdentity()
		return c.registerFlow(&id, 1, time.Now().Add(timeout))
	}
	return nil
}

// runFreePort prints n distinct free TCP ports on 127.0.0.1 (they are free until someone
// else takes them; good enough on a bench machine).
func runFreePort(args []string) error {
	fs := flag.NewFlagSet("freeport", flag.ExitOnError)
	n := fs.Int("n", 1, "how many ports")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 1 || *n > 100 {
		return errors.New("-n must be 1..100")
	}
	var ports []string
	for range *n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close() // hold all until printed so they differ
		_, p, _ := net.SplitHostPort(ln.Addr().String())
		ports = append(ports, p)
	}
	say("%s", strings.Join(ports, " "))
	return nil
}
