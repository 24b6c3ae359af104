package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/sipws/sipws/edge/config"
)

// TestDrain: Shutdown closes every flow with 1001 within the drain timeout, /readyz answers
// 503 meanwhile, new connections are refused and Shutdown returns.
func TestDrain(t *testing.T) {
	t.Parallel()
	const n = 20
	e := newTestEdge(t, func(c *config.Config) { c.DrainTimeout = config.D(time.Second) })
	readyz := "http://" + e.s.AdminAddr().String() + "/readyz"
	if code, err := httpStatus(readyz); err != nil || code != 200 {
		t.Fatalf("/readyz before the drain: %d %v", code, err)
	}
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, e.url("ws", "/"))
		clients[i].ping("up")
	}
	waitFor(t, waitLong, func() bool { return e.s.Flows() == n }, "%d flows", n)
	addr := e.s.Addr("ws").String()

	type result struct {
		i    int
		code uint16
		err  error
	}
	results := make(chan result, n)
	for i, c := range clients {
		go func() {
			code, _, err := c.awaitClose(waitLong)
			if err == nil {
				// Answer the close like a browser does.
				_ = c.writeRaw(frameBytes(true, ws.OpClose, closePayload(code)))
			}
			results <- result{i, code, err}
		}()
	}

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		shutdown <- e.s.Shutdown(ctx)
	}()

	// /readyz says 503 while draining (until the admin endpoint stops with the edge).
	saw503 := false
	deadline := time.Now().Add(waitLong)
	for !saw503 && time.Now().Before(deadline) {
		code, err := httpStatus(readyz)
		if err != nil {
			break
		}
		if code == 503 {
			saw503 = true
			break
		}
		if code != 200 {
			t.Fatalf("/readyz during drain: %d", code)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if !saw503 {
		t.Error("/readyz never answered 503 during the drain")
	}
	if e.s.Ready() {
		t.Error("Ready() is true while draining")
	}

	// New connections are refused.
	if c, err := dialErr(e.url("ws", "/")); err == nil {
		c.conn.Close()
		t.Error("a new connection was upgraded during the drain")
	}

	for range n {
		select {
		case r := <-results:
			if r.err != nil {
				t.Errorf("client %d: %v", r.i, r.err)
			} else if r.code != 1001 {
				t.Errorf("client %d: close %d, want 1001", r.i, r.code)
			}
		case <-time.After(waitLong):
			t.Fatal("not every client was closed")
		}
	}
	select {
	case err := <-shutdown:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Shutdown did not return")
	}
	if f := e.s.Flows(); f != 0 {
		t.Errorf("%d flows after Shutdown", f)
	}
	for _, c := range clients {
		c.expectEOF(waitLong)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Error("listener still accepts after Shutdown")
	}
	if err := e.s.Shutdown(context.Background()); err == nil {
		t.Error("a second Shutdown returned nil")
	}
}

// TestDrainUnansweredClose: clients that never answer the close are cut off, and Shutdown
// still returns within its bound.
func TestDrainUnansweredClose(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, func(c *config.Config) { c.DrainTimeout = config.D(time.Second) })
	var clients []*client
	for range 3 {
		c := dial(t, e.url("ws", "/"))
		c.ping("up")
		clients = append(clients, c)
	}
	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		shutdown <- e.s.Shutdown(ctx)
	}()
	for _, c := range clients {
		code, _, err := c.awaitClose(waitLong)
		if err != nil || code != 1001 {
			t.Fatalf("close %d %v, want 1001", code, err)
		}
	}
	select {
	case err := <-shutdown:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Shutdown did not return although clients never answered")
	}
	for _, c := range clients {
		c.expectEOF(waitLong)
	}
}

// TestDrainWSS: the drain closes WS, detached TLS 1.3 and TLS 1.2 stream flows alike.
func TestDrainWSS(t *testing.T) {
	t.Parallel()
	e := wssEdge(t, t.TempDir())
	var clients []*client
	for range 3 {
		clients = append(clients,
			dial(t, e.url("ws", "/")),
			dial(t, e.url("wss", "/"), withTLS(tlsVersion(tls.VersionTLS13))),
			dial(t, e.url("wss", "/"), withTLS(tlsVersion(tls.VersionTLS12))))
	}
	for _, c := range clients {
		c.ping("up")
	}
	type result struct {
		i    int
		code uint16
		err  error
	}
	results := make(chan result, len(clients))
	for i, c := range clients {
		go func() {
			code, _, err := c.awaitClose(waitLong)
			if err == nil {
				_ = c.writeRaw(frameBytes(true, ws.OpClose, closePayload(code)))
			}
			results <- result{i, code, err}
		}()
	}
	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		shutdown <- e.s.Shutdown(ctx)
	}()
	for range clients {
		select {
		case r := <-results:
			if r.err != nil || r.code != 1001 {
				t.Errorf("client %d (%s): close %d %v, want 1001", r.i, []string{"ws", "tls1.3", "tls1.2"}[r.i%3], r.code, r.err)
			}
		case <-time.After(waitLong):
			t.Fatal("not every client was closed")
		}
	}
	select {
	case err := <-shutdown:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Shutdown did not return")
	}
	if f := e.s.Flows(); f != 0 {
		t.Errorf("%d flows after Shutdown", f)
	}
}

// TestDrainNotHeldBySlowHandshake: a connection that never completes its handshake must not
// hold up the drain of the open flows, nor Shutdown past its context.
func TestDrainNotHeldBySlowHandshake(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, func(c *config.Config) {
		c.DrainTimeout = config.D(time.Second)
		c.Listeners[0].Limits.HandshakeTimeout = config.D(60 * time.Second)
	})
	c := dial(t, e.url("ws", "/"))
	c.ping("up")
	// A client that connects and sends half a request, then nothing.
	slow, err := net.DialTimeout("tcp", e.s.Addr("ws").String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the edge accept it

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		shutdown <- e.s.Shutdown(ctx)
	}()
	code, _, err := c.awaitClose(waitLong)
	if err != nil {
		t.Errorf("open flow not closed during the drain while a handshake is pending: %v", err)
	} else if code != 1001 {
		t.Errorf("close %d, want 1001", code)
	}
	select {
	case <-shutdown:
	case <-time.After(waitLong):
		t.Fatalf("Shutdown with a 2s context still running after %s (a handshake with a 60s timeout is pending)", waitLong)
	}
}

// TestShutdownContextExpired: when the Shutdown context ends the remaining flows are cut off;
// every socket is closed and no flow is left when Shutdown returns.
func TestShutdownContextExpired(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, func(c *config.Config) {
		c.DrainTimeout = config.D(5 * time.Second)
		c.Listeners[0].Limits.HandshakeBurstPerIP = 1000
	})
	const n = 100
	var clients []*client
	for range n {
		c := dial(t, e.url("ws", "/"))
		c.ping("up")
		clients = append(clients, c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- e.s.Shutdown(ctx) }()
	select {
	case <-shutdown:
	case <-time.After(waitLong):
		t.Fatal("Shutdown with a cancelled context did not return")
	}
	if f := e.s.Flows(); f != 0 {
		t.Errorf("%d of %d flows still registered after Shutdown", f, n)
	}
	// Whatever was sent (a close frame or nothing), every socket must end.
	stillOpen := make(chan bool, n)
	for _, c := range clients {
		go func() {
			deadline := time.Now().Add(3 * time.Second)
			for {
				_, _, err := c.readFrame(time.Until(deadline))
				if err == nil {
					continue
				}
				var ne net.Error
				stillOpen <- errors.As(err, &ne) && ne.Timeout()
				return
			}
		}()
	}
	open := 0
	for range n {
		if <-stillOpen {
			open++
		}
	}
	if open > 0 {
		t.Errorf("%d of %d client connections still open after Shutdown returned", open, n)
	}
}
