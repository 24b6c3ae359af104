package siptransport

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const waitFor = 5 * time.Second // upper bound for anything that should happen at once

// sink collects packets delivered to a handler.
type sink struct{ ch chan Packet }

func newSink() *sink { return &sink{ch: make(chan Packet, 1024)} }

func (s *sink) handle(p Packet) { s.ch <- p }

func (s *sink) next(t testing.TB) Packet {
	t.Helper()
	select {
	case p := <-s.ch:
		return p
	case <-time.After(waitFor):
		t.Fatal("timed out waiting for a packet")
		return Packet{}
	}
}

func (s *sink) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case p := <-s.ch:
		t.Fatalf("unexpected packet %q", p.Data)
	case <-time.After(d):
	}
}

// startLayer starts a layer on loopback with the given config and closes it
// at the end of the test.
func startLayer(t testing.TB, cfg Config, h Handler) *Layer {
	t.Helper()
	l, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

func TestUDPRoundTrip(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		t.Run(host, func(t *testing.T) {
			if host == "[::1]" {
				// IPv6 upstreams are supported (RFC 5118): the test machine must have ::1.
				c, err := net.ListenPacket("udp", "[::1]:0")
				if err != nil {
					t.Fatal("no IPv6 loopback:", err)
				}
				c.Close()
			}
			sa, sb := newSink(), newSink()
			a := startLayer(t, Config{UDP: host + ":0"}, sa.handle)
			b := startLayer(t, Config{UDP: host + ":0"}, sb.handle)
			ctx := testCtx(t)

			req := sipMsg("udp1", "")
			if err := a.Send(ctx, "udp", b.LocalAddr("udp"), req); err != nil {
				t.Fatal(err)
			}
			p := sb.next(t)
			if string(p.Data) != string(req) || p.Transport != UDP {
				t.Fatalf("got %s %q", p.Transport, p.Data)
			}
			if p.Source != a.LocalAddr("udp") || p.Local != b.LocalAddr("udp") {
				t.Fatalf("source %v local %v, want %v %v", p.Source, p.Local, a.LocalAddr("udp"), b.LocalAddr("udp"))
			}
			// The reply goes back to the source, i.e. the sender's listening socket.
			resp := []byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
			if err := b.Send(ctx, "UDP", p.Source, resp); err != nil {
				t.Fatal(err)
			}
			if q := sa.next(t); string(q.Data) != string(resp) || q.Source != b.LocalAddr("udp") {
				t.Fatalf("reply %q from %v", q.Data, q.Source)
			}
			st := a.Stats().UDP
			if st.PacketsOut != 1 || st.PacketsIn != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestUDPKeepAlivesAndLimits(t *testing.T) {
	s := newSink()
	l := startLayer(t, Config{UDP: "127.0.0.1:0", MaxMessageBytes: 2000}, s.handle)
	c, err := net.Dial("udp", l.LocalAddr("udp").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, d := range []string{"\r\n\r\n", "\r\n", "\n", strings.Repeat("x", 2001)} {
		if _, err := c.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	msg := sipMsg("after", "")
	if _, err := c.Write(append([]byte("\r\n"), msg...)); err != nil {
		t.Fatal(err)
	}
	if p := s.next(t); string(p.Data) != string(msg) {
		t.Fatalf("got %q", p.Data)
	}
	s.none(t, 50*time.Millisecond)
	if st := l.Stats().UDP; st.KeepAlives != 3 || st.ParseErrors != 1 || st.PacketsIn != 1 {
		t.Fatalf("stats %+v", st)
	}
	ctx := testCtx(t)
	err = l.Send(ctx, "udp", l.LocalAddr("udp"), make([]byte, MaxUDPPayload+1))
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("oversize send: %v", err)
	}
}

// Without a UDP listener Send uses an ephemeral socket, and replies to it are
// delivered too.
func TestUDPEphemeralSocket(t *testing.T) {
	sa, sb := newSink(), newSink()
	a := startLayer(t, Config{}, sa.handle)
	b := startLayer(t, Config{UDP: "127.0.0.1:0"}, sb.handle)
	ctx := testCtx(t)
	if a.LocalAddr("udp").IsValid() {
		t.Fatal("udp address before any send")
	}
	if err := a.Send(ctx, "udp", b.LocalAddr("udp"), sipMsg("eph", "")); err != nil {
		t.Fatal(err)
	}
	p := sb.next(t)
	if p.Source.Port() != a.LocalAddr("udp").Port() {
		t.Fatalf("source %v, ephemeral %v", p.Source, a.LocalAddr("udp"))
	}
	if err := b.Send(ctx, "udp", p.Source, []byte("SIP/2.0 200 OK\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if q := sa.next(t); q.Local.Addr() != netip.MustParseAddr("127.0.0.1") || q.Local.Port() != a.LocalAddr("udp").Port() {
		t.Fatalf("reply local address %v", q.Local)
	}
}

// peer is a raw TCP client of the layer's listener.
type peer struct {
	net.Conn
	r *bufio.Reader
}

func dialPeer(t *testing.T, addr netip.AddrPort) *peer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitFor))
	return &peer{c, bufio.NewReader(c)}
}

// expectClosed waits for the layer to close the peer's connection.
func (p *peer) expectClosed(t *testing.T) {
	t.Helper()
	b, err := io.ReadAll(p.r)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) { // RST when our unread data was discarded
		t.Fatalf("want EOF, got %v (after %q)", err, b)
	}
}

func TestTCPFraming(t *testing.T) {
	m1 := sipMsg("m1", "")
	m2 := sipMsg("m2", strings.Repeat("s", 700))
	m3 := sipMsg("m3", "end")
	all := string(m1) + string(m2) + string(m3)

	tests := []struct {
		name   string
		writes []string
		max    int
		want   []string
		reply  string // expected bytes from the layer (keep-alive pong)
		closed bool
		parseE uint64
	}{
		{name: "split across many small writes", writes: splitEvery(all, 7), want: []string{string(m1), string(m2), string(m3)}},
		{name: "several messages in one write", writes: []string{all}, want: []string{string(m1), string(m2), string(m3)}},
		{name: "CRLF keep-alive answered", writes: []string{"\r\n\r\n"}, reply: "\r\n"},
		{name: "keep-alive split, between messages", writes: []string{string(m1) + "\r\n", "\r\n" + string(m3)},
			want: []string{string(m1), string(m3)}, reply: "\r\n"},
		{name: "no Content-Length closes", writes: []string{"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n"}, closed: true, parseE: 1},
		{name: "good then no Content-Length", writes: []string{string(m1), "OPTIONS sip:x SIP/2.0\r\n\r\n"},
			want: []string{string(m1)}, closed: true, parseE: 1},
		{name: "oversize body closes", writes: []string{"SIP/2.0 200 OK\r\nl: 4000\r\n\r\n"}, max: 1500, closed: true, parseE: 1},
		{name: "oversize headers close", writes: splitEvery("SIP/2.0 200 OK\r\nX: "+strings.Repeat("h", 3000), 512),
			max: 1500, closed: true, parseE: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink()
			l := startLayer(t, Config{TCP: "127.0.0.1:0", MaxMessageBytes: tt.max}, s.handle)
			p := dialPeer(t, l.LocalAddr("tcp"))
			for _, w := range tt.writes {
				if _, err := p.Write([]byte(w)); err != nil && !tt.closed {
					t.Fatal(err)
				}
			}
			for _, w := range tt.want {
				pk := s.next(t)
				if string(pk.Data) != w {
					t.Fatalf("got %q, want %q", pk.Data, w)
				}
				if pk.Transport != TCP || pk.Source.String() != p.LocalAddr().String() || pk.Local != l.LocalAddr("tcp") {
					t.Fatalf("packet %s from %v to %v", pk.Transport, pk.Source, pk.Local)
				}
			}
			if tt.reply != "" {
				buf := make([]byte, len(tt.reply))
				if _, err := io.ReadFull(p.r, buf); err != nil || string(buf) != tt.reply {
					t.Fatalf("reply %q, %v", buf, err)
				}
			}
			if tt.closed {
				p.expectClosed(t)
				waitUntil(t, func() bool { return l.Stats().TCP.OpenConns == 0 })
			}
			s.none(t, 20*time.Millisecond)
			st := l.Stats().TCP
			if st.ParseErrors != tt.parseE || st.PacketsIn != uint64(len(tt.want)) || st.Accepted != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func splitEvery(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A connection the peer opened to us is reused to send to the peer's
// address (RFC 3261 §18.2.2), without dialing.
func TestTCPReusesInboundConnection(t *testing.T) {
	s := newSink()
	l := startLayer(t, Config{TCP: "127.0.0.1:0"}, s.handle)
	p := dialPeer(t, l.LocalAddr("tcp"))
	req := sipMsg("in", "")
	if _, err := p.Write(req); err != nil {
		t.Fatal(err)
	}
	pk := s.next(t)
	resp := []byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
	if err := l.Send(testCtx(t), "tcp", pk.Source, resp); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(resp))
	if _, err := io.ReadFull(p.r, got); err != nil || string(got) != string(resp) {
		t.Fatalf("peer read %q, %v", got, err)
	}
	if st := l.Stats().TCP; st.Dials != 0 || st.PacketsOut != 1 || st.OpenConns != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// upstream is a plain TCP server standing in for a SIP server.
type upstream struct {
	ln      net.Listener
	accepts atomic.Int32
	msgs    chan string
	conns   chan net.Conn
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{ln: ln, msgs: make(chan string, 1024), conns: make(chan net.Conn, 16)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-u.conns:
				c.Close()
				continue
			default:
			}
			break
		}
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.accepts.Add(1)
			u.conns <- c
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				sp := newSplitter(DefaultMaxMessageBytes)
				for {
					if _, err := sp.readFrom(c); err != nil {
						return
					}
					for {
						kind, msg, err := sp.next()
						if err != nil || kind == frameMore {
							break
						}
						u.msgs <- string(msg)
					}
				}
			}()
		}
	}()
	return u
}

func (u *upstream) addr() netip.AddrPort { return addrPortOf(u.ln.Addr()) }

func TestTCPConcurrentSendsShareOneDial(t *testing.T) {
	u := newUpstream(t)
	l := startLayer(t, Config{}, newSink().handle)
	ctx := testCtx(t)
	const n = 32
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- l.Send(ctx, "tcp", u.addr(), sipMsg(fmt.Sprint(i), strings.Repeat("z", i*50)))
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for range n {
		select {
		case m := <-u.msgs:
			seen[m] = true
		case <-time.After(waitFor):
			t.Fatalf("upstream got %d of %d messages", len(seen), n)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages, want %d (interleaved writes?)", len(seen), n)
	}
	if a := u.accepts.Load(); a != 1 {
		t.Fatalf("upstream accepted %d connections, want 1", a)
	}
	if st := l.Stats().TCP; st.Dials != 1 || st.DialErrors != 0 || st.PacketsOut != n || st.OpenConns != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTCPDialErrorsAndReplies(t *testing.T) {
	s := newSink()
	l := startLayer(t, Config{DialTimeout: time.Second}, s.handle)
	ctx := testCtx(t)

	// Nothing listens on a port we just released.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := addrPortOf(ln.Addr())
	ln.Close()
	if err := l.Send(ctx, "tcp", dead, sipMsg("x", "")); err == nil {
		t.Fatal("send to a closed port succeeded")
	}
	if st := l.Stats().TCP; st.Dials != 1 || st.DialErrors != 1 || st.SendErrors != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := l.Send(ctx, "sctp", dead, nil); !errors.Is(err, ErrUnknownTransport) {
		t.Fatalf("unknown transport: %v", err)
	}

	// Upstream replies come back on the dialed connection.
	u := newUpstream(t)
	if err := l.Send(ctx, "tcp", u.addr(), sipMsg("y", "")); err != nil {
		t.Fatal(err)
	}
	var c net.Conn
	select {
	case c = <-u.conns:
	case <-time.After(waitFor):
		t.Fatal("no connection")
	}
	resp := "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
	c.Write([]byte(resp))
	if p := s.next(t); string(p.Data) != resp || p.Source != u.addr() {
		t.Fatalf("got %q from %v", p.Data, p.Source)
	}
	// When the upstream closes, the next Send dials again.
	c.Close()
	waitUntil(t, func() bool { return l.Stats().TCP.OpenConns == 0 })
	if err := l.Send(ctx, "tcp", u.addr(), sipMsg("z", "")); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats().TCP; st.Dials != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTCPIdleTimeout(t *testing.T) {
	l := startLayer(t, Config{TCP: "127.0.0.1:0", IdleTimeout: 100 * time.Millisecond}, newSink().handle)
	p := dialPeer(t, l.LocalAddr("tcp"))
	start := time.Now()
	p.expectClosed(t)
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", d)
	}
}

// selfSigned returns a certificate for 127.0.0.1, ::1 and sip.test.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sip.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"sip.test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	sa, sb := newSink(), newSink()
	a := startLayer(t, Config{TLS: "127.0.0.1:0", ServerTLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, sa.handle)
	b := startLayer(t, Config{ClientTLS: &tls.Config{RootCAs: pool}}, sb.handle)
	ctx := testCtx(t)

	// Dial by IP: the certificate's IP SAN is verified.
	req := sipMsg("tls1", "")
	if err := b.Send(ctx, "tls", a.LocalAddr("tls"), req); err != nil {
		t.Fatal(err)
	}
	p := sa.next(t)
	if string(p.Data) != string(req) || p.Transport != TLS || p.Local != a.LocalAddr("tls") {
		t.Fatalf("got %s %q at %v", p.Transport, p.Data, p.Local)
	}
	// The response goes back on the accepted TLS connection.
	resp := []byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
	if err := a.Send(ctx, "tls", p.Source, resp); err != nil {
		t.Fatal(err)
	}
	if q := sb.next(t); string(q.Data) != string(resp) || q.Transport != TLS || q.Source != a.LocalAddr("tls") {
		t.Fatalf("reply %s %q from %v", q.Transport, q.Data, q.Source)
	}
	if st := a.Stats().TLS; st.Dials != 0 || st.Accepted != 1 || st.OpenConns != 1 {
		t.Fatalf("server stats %+v", st)
	}
	if st := b.Stats().TLS; st.Dials != 1 || st.PacketsOut != 1 || st.PacketsIn != 1 {
		t.Fatalf("client stats %+v", st)
	}

	// SendTarget verifies the name the target was resolved from.
	c := startLayer(t, Config{ClientTLS: &tls.Config{RootCAs: pool}}, newSink().handle)
	tgt := Target{Transport: "tls", Addr: a.LocalAddr("tls"), Host: "sip.test"}
	if err := c.SendTarget(ctx, tgt, req); err != nil {
		t.Fatal(err)
	}
	sa.next(t)
	d := startLayer(t, Config{ClientTLS: &tls.Config{RootCAs: pool}}, newSink().handle)
	tgt.Host = "other.test"
	if err := d.SendTarget(ctx, tgt, req); err == nil {
		t.Fatal("certificate for sip.test accepted for other.test")
	}
	// Untrusted certificate (system roots).
	e := startLayer(t, Config{}, newSink().handle)
	if err := e.Send(ctx, "tls", a.LocalAddr("tls"), req); err == nil {
		t.Fatal("self-signed certificate accepted with system roots")
	}
	if st := e.Stats().TLS; st.DialErrors != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Close returns promptly with accepted, dialed, half-handshaken and
// write-blocked connections open.
func TestCloseWithOpenConnections(t *testing.T) {
	cert, _ := selfSigned(t)
	u := newUpstream(t)
	stall, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never reads
	if err != nil {
		t.Fatal(err)
	}
	stalled := make(chan net.Conn, 1)
	go func() {
		defer close(stalled)
		if c, err := stall.Accept(); err == nil {
			stalled <- c
		}
	}()
	defer func() {
		stall.Close()
		for c := range stalled {
			c.Close()
		}
	}()

	l, err := New(Config{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", TLS: "127.0.0.1:0",
		ServerTLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, newSink().handle)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	for range 3 {
		dialPeer(t, l.LocalAddr("tcp"))
		dialPeer(t, l.LocalAddr("tls")) // never handshakes
	}
	if err := l.Send(ctx, "tcp", u.addr(), sipMsg("open", "")); err != nil {
		t.Fatal(err)
	}
	// A Send stuck writing to a peer that does not read.
	blocked := make(chan error, 1)
	go func() { blocked <- l.Send(context.Background(), "tcp", addrPortOf(stall.Addr()), make([]byte, 64<<20)) }()
	waitUntil(t, func() bool { return l.Stats().TCP.OpenConns >= 5 })
	time.Sleep(50 * time.Millisecond) // let the big write block

	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	select {
	case err := <-blocked:
		if err == nil {
			t.Fatal("blocked send succeeded")
		}
	case <-time.After(waitFor):
		t.Fatal("blocked send did not return after Close")
	}
	if st := l.Stats(); st.TCP.OpenConns != 0 || st.TLS.OpenConns != 0 {
		t.Fatalf("open connections after Close: %+v", st)
	}
	if err := l.Send(ctx, "udp", u.addr(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	h := func(Packet) {}
	for _, tt := range []struct {
		name string
		cfg  Config
		h    Handler
	}{
		{"nil handler", Config{}, nil},
		{"tls without cert", Config{TLS: "127.0.0.1:0"}, h},
		{"bad address", Config{TCP: "127.0.0.1"}, h},
	} {
		if _, err := New(tt.cfg, tt.h); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	// A port in use fails Start and leaves nothing bound.
	a := startLayer(t, Config{TCP: "127.0.0.1:0"}, h)
	b, err := New(Config{UDP: "127.0.0.1:0", TCP: a.LocalAddr("tcp").String()}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err == nil {
		t.Fatal("Start on a used port succeeded")
	}
	b.Close()
}

// BenchmarkUDP sends a 600-byte message from one layer to another over
// loopback and waits for its delivery.
func BenchmarkUDP(b *testing.B) {
	got := make(chan struct{}, 1)
	rx := startLayer(b, Config{UDP: "127.0.0.1:0"}, func(Packet) { got <- struct{}{} })
	tx := startLayer(b, Config{UDP: "127.0.0.1:0"}, func(Packet) {})
	msg := sipMsgSize("bench", 600)
	dst := rx.LocalAddr("udp")
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := tx.Send(ctx, "udp", dst, msg); err != nil {
			b.Fatal(err)
		}
		<-got // loopback does not drop at this rate; the test timeout bounds a loss
	}
}

// A Send blocked on a peer that does not read ends at its ctx deadline and
// closes the connection (the stream framing is lost after a partial write).
func TestTCPSendDeadline(t *testing.T) {
	stall, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stalled := make(chan net.Conn, 1)
	go func() {
		defer close(stalled)
		if c, err := stall.Accept(); err == nil {
			stalled <- c
		}
	}()
	defer func() {
		stall.Close()
		for c := range stalled {
			c.Close()
		}
	}()
	l := startLayer(t, Config{}, newSink().handle)
	big := make([]byte, 64<<20)
	if err := l.Send(testCtx(t), "tcp", addrPortOf(stall.Addr()), []byte("\r\n\r\n")); err != nil {
		t.Fatal(err) // dial first, so the deadline below is spent writing
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = l.Send(ctx, "tcp", addrPortOf(stall.Addr()), big)
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Send returned after %v", d)
	}
	waitUntil(t, func() bool { return l.Stats().TCP.OpenConns == 0 })
	if st := l.Stats().TCP; st.SendErrors != 1 || st.Dials != 1 || st.PacketsOut != 1 {
		t.Fatalf("stats %+v", st)
	}
}
