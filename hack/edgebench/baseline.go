package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats.go"

	"github.com/sipws/sipws/edge/bus"
)

// baseline is the conventional design the edge is compared with: net/http accepts, gobwas/ws
// upgrades, and one goroutine per connection blocks in a wsutil read. It does the same NATS relay
// as the edge (one publish per message, one subscription per node), and deliberately nothing
// more, so that the memory difference is the I/O model's.
type baseline struct {
	nc        *nats.Conn
	subj      bus.Subjects
	node      string
	transport string

	serial atomic.Uint64
	mu     sync.RWMutex
	conns  map[string]net.Conn // flow token -> connection

	published, delivered, unknown atomic.Int64
}

func runBaseline(args []string) error {
	fs := flag.NewFlagSet("baseline", flag.ExitOnError)
	var c common
	c.register(fs, 2*time.Hour)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	certFile := fs.String("tls-cert", "", "PEM certificate: serve wss")
	keyFile := fs.String("tls-key", "", "PEM key of -tls-cert")
	natsURL := fs.String("nats", nats.DefaultURL, "NATS URL")
	gateway := fs.String("gateway", "bench", "gateway name")
	node := fs.String("node", "baseline1", "node name (subject token)")
	prefix := fs.String("prefix", "sipws", "subject prefix")
	ping := fs.Duration("ping", 25*time.Second, "interval of server pings to every connection, like the edge (0: off)")
	if err := parse(fs, args); err != nil {
		return err
	}
	c.watchdog()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	wsutil.SetMaxMessageSize(65535) // the edge's default maxMessageBytes
	b := &baseline{
		subj:      bus.Subjects{Prefix: *prefix, Gateway: *gateway},
		node:      *node,
		transport: "ws",
		conns:     make(map[string]net.Conn),
	}
	if *certFile != "" {
		b.transport = "wss"
	}
	var err error
	b.nc, err = nats.Connect(*natsURL, nats.Name("edgebench-baseline-"+*node), nats.MaxReconnects(-1),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Printf("nats: %v", err) }))
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	defer b.nc.Close()
	sub, err := b.nc.Subscribe(b.subj.OutNode(b.node), b.deliver)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if err := sub.SetPendingLimits(1<<20, 256<<20); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(b.upgrade),
		ReadHeaderTimeout: 10 * time.Second,
		// No HTTP/2: WebSocket over HTTP/1.1 only, as browsers do for ws(s):// by default.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     log.New(io.Discard, "", 0),
	}
	errc := make(chan error, 1)
	go func() {
		if b.transport == "wss" {
			errc <- srv.ServeTLS(ln, *certFile, *keyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	if *ping > 0 {
		go b.pinger(ctx, *ping)
	}
	log.Printf("%s on %s, node %s, NATS %s", b.transport, ln.Addr(), b.node, *natsURL)
	say("READY %s", ln.Addr())

	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			srv.Close() // listeners only: hijacked connections are ours
			b.closeAll()
			emit(Result{Test: "baseline", Server: c.server, Transport: b.transport,
				OK: b.published.Load(), Failures: b.unknown.Load()})
			return nil
		case <-tick.C:
			log.Printf("flows %d, published %d, delivered %d, unknown %d",
				b.count(), b.published.Load(), b.delivered.Load(), b.unknown.Load())
		}
	}
}

// upgrade checks the handshake, then hands the connection to its own reading goroutine and lets
// the net/http goroutine (and its request state) go.
func (b *baseline) upgrade(w http.ResponseWriter, r *http.Request) {
	if !offersSIP(r.Header.Values("Sec-WebSocket-Protocol")) {
		http.Error(w, "subprotocol sip required", http.StatusBadRequest)
		return
	}
	up := ws.HTTPUpgrader{Protocol: func(p string) bool { return p == "sip" }, Timeout: 10 * time.Second}
	conn, rw, _, err := up.Upgrade(r, w)
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return
	}
	// Keep bytes the client pipelined after its request, but not net/http's 4 KiB buffers.
	var src io.Reader = conn
	if n := rw.Reader.Buffered(); n > 0 {
		p, _ := rw.Reader.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(p)), conn)
	}
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], b.serial.Add(1))
	token := base64.RawURLEncoding.EncodeToString(t[:])
	b.mu.Lock()
	b.conns[token] = conn
	b.mu.Unlock()
	go b.serve(token, conn, src, r.RemoteAddr)
}

func offersSIP(values []string) bool {
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == "sip" {
				return true
			}
		}
	}
	return false
}

// serve is the per-connection goroutine: it blocks in a read until the client sends something.
func (b *baseline) serve(token string, conn net.Conn, src io.Reader, remote string) {
	defer func() {
		b.mu.Lock()
		delete(b.conns, token)
		b.mu.Unlock()
		conn.Close()
	}()
	rw := struct {
		io.Reader
		io.Writer
	}{src, conn}
	for {
		data, op, err := wsutil.ReadClientData(rw)
		if err != nil {
			return
		}
		if op != ws.OpText && op != ws.OpBinary {
			continue
		}
		if string(data) == "\r\n\r\n" { // RFC 5626 keep-alive: answer, don't relay
			conn.Write(ws.MustCompileFrame(ws.NewTextFrame([]byte("\r\n"))))
			continue
		}
		m := &nats.Msg{Subject: b.subj.In(token), Data: data, Header: nats.Header{
			bus.HeaderFlow:      {token},
			bus.HeaderNode:      {b.node},
			bus.HeaderRemote:    {remote},
			bus.HeaderTransport: {b.transport},
		}}
		if err := b.nc.PublishMsg(m); err != nil {
			return
		}
		b.published.Add(1)
	}
}

// deliver writes what routers send to one flow. Each frame goes out in a single Write, which
// net.Conn and tls.Conn never interleave with another Write, so no per-connection lock is needed.
func (b *baseline) deliver(m *nats.Msg) {
	token := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	b.mu.RLock()
	conn := b.conns[token]
	b.mu.RUnlock()
	if conn == nil {
		b.unknown.Add(1)
		return
	}
	if err := writeBounded(conn, ws.MustCompileFrame(ws.NewTextFrame(m.Data))); err != nil {
		conn.Close()
		return
	}
	b.delivered.Add(1)
}

// writeBounded writes with a deadline so that one stuck client cannot stall the NATS callback,
// then clears it for the pongs and close echoes wsutil writes from the reading goroutine.
func writeBounded(c net.Conn, frame []byte) error {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Write(frame)
	c.SetWriteDeadline(time.Time{})
	return err
}

// pinger sends a ping to every connection once per interval, spread over the interval.
func (b *baseline) pinger(ctx context.Context, every time.Duration) {
	for {
		start := time.Now()
		b.mu.RLock()
		conns := make([]net.Conn, 0, len(b.conns))
		for _, c := range b.conns {
			conns = append(conns, c)
		}
		b.mu.RUnlock()
		step := every / time.Duration(len(conns)+1)
		for i, c := range conns {
			if i%100 == 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(start.Add(step * time.Duration(i)))):
				}
			}
			if err := writeBounded(c, ws.CompiledPing); err != nil && !errors.Is(err, net.ErrClosed) {
				c.Close()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(start.Add(every))):
		}
	}
}

func (b *baseline) count() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.conns)
}

func (b *baseline) closeAll() {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, c := range b.conns {
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		c.Write(ws.CompiledCloseGoingAway)
		c.Close()
	}
}
