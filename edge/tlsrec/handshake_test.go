package tlsrec

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

const testTimeout = 10 * time.Second

const upgradeRequest = "GET /sip HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n"

const upgradeResponse = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n"

// acceptUpgrade runs the crypto/tls phase the way the edge does: handshake,
// read the HTTP request through the tls.Conn with a bufio.Reader (which
// must be empty afterwards), write the response, detach.
func acceptUpgrade(ln net.Listener, base *tls.Config) (net.Conn, *Handshake, error) {
	raw, err := ln.Accept()
	if err != nil {
		return nil, nil, err
	}
	raw.SetDeadline(time.Now().Add(testTimeout))
	h := Server(raw, base)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := h.Handshake(ctx); err != nil {
		raw.Close()
		return nil, nil, fmt.Errorf("handshake: %w", err)
	}
	br := bufio.NewReader(h.Conn())
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			raw.Close()
			return nil, nil, fmt.Errorf("reading request: %w", err)
		}
		if line == "\r\n" {
			break
		}
	}
	if br.Buffered() != 0 {
		raw.Close()
		return nil, nil, fmt.Errorf("bufio.Reader holds %d bytes after the request", br.Buffered())
	}
	if _, err := io.WriteString(h.Conn(), upgradeResponse); err != nil {
		raw.Close()
		return nil, nil, err
	}
	return raw, h, nil
}

// dialUpgrade is the client side of acceptUpgrade. extra is written right
// after the request, before the response arrives (a pipelining client).
func dialUpgrade(addr string, cfg *tls.Config, extra []byte) (*tls.Conn, *bufio.Reader, error) {
	d := &net.Dialer{Timeout: testTimeout}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(c, upgradeRequest); err != nil {
		c.Close()
		return nil, nil, err
	}
	if len(extra) > 0 {
		if _, err := c.Write(extra); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return c, br, nil
}

func clientConfig() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
}

var messageSizes = []int{0, 1, 1000, 16384, 16385, 100000}

// Go client <-> detached server: echo messages of many sizes both ways,
// one server KeyUpdate in the middle, then the client closes.
func TestGoClientDetached(t *testing.T) {
	ln := listen(t)
	first := []byte("pipelined frame sent before the 101 arrived")
	srv := make(chan error, 1)
	go func() {
		srv <- func() error {
			raw, h, err := acceptUpgrade(ln, serverConfig(t))
			if err != nil {
				return err
			}
			defer raw.Close()
			st, err := h.Detach()
			if err != nil {
				return fmt.Errorf("Detach: %w", err)
			}
			if h.Conn() != nil {
				return errors.New("Conn() not nil after Detach")
			}
			if _, err := h.Detach(); !errors.Is(err, ErrDetached) {
				return fmt.Errorf("second Detach: %v", err)
			}
			if st.in.seq != 1 || st.out.seq != 1 {
				// One record each way (request, response) after the handshake.
				return fmt.Errorf("sequence numbers after detach: read %d write %d", st.in.seq, st.out.seq)
			}
			p := newPeer(raw, st, 42)
			got, err := p.readFull(len(first))
			if err != nil || !bytes.Equal(got, first) {
				return fmt.Errorf("pipelined data: %q %v", got, err)
			}
			for i, n := range messageSizes {
				msg, err := p.readFull(n)
				if err != nil {
					return fmt.Errorf("message %d: %w", i, err)
				}
				if !bytes.Equal(msg, pattern(i, n)) {
					return fmt.Errorf("message %d: corrupted", i)
				}
				if i == 3 {
					if _, err := raw.Write(st.SealKeyUpdate(nil)); err != nil {
						return err
					}
				}
				if err := p.write(msg); err != nil {
					return err
				}
			}
			return p.readUntilEOF()
		}()
	}()

	c, br, err := dialUpgrade(ln.Addr().String(), clientConfig(), first)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, n := range messageSizes {
		msg := pattern(i, n)
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		got := make([]byte, n)
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatalf("read echo %d: %v (server: %v)", i, err, serverErr(srv))
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("echo %d corrupted", i)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-srv; err != nil {
		t.Fatal(err)
	}
}

func serverErr(ch chan error) error {
	select {
	case err := <-ch:
		return err
	case <-time.After(testTimeout):
		return errors.New("server still running")
	}
}

// The server closes with close_notify from SealAlert; the Go client sees
// the data and then io.EOF.
func TestServerCloseNotify(t *testing.T) {
	ln := listen(t)
	srv := make(chan error, 1)
	go func() {
		srv <- func() error {
			raw, h, err := acceptUpgrade(ln, serverConfig(t))
			if err != nil {
				return err
			}
			defer raw.Close()
			st, err := h.Detach()
			if err != nil {
				return err
			}
			out := st.Seal(nil, []byte("goodbye"))
			out = st.SealAlert(out, AlertCloseNotify)
			_, err = raw.Write(out)
			return err
		}()
	}()
	c, br, err := dialUpgrade(ln.Addr().String(), clientConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := io.ReadAll(br)
	if err != nil || string(got) != "goodbye" {
		t.Fatalf("client read %q, %v; want goodbye, EOF", got, err)
	}
	if err := <-srv; err != nil {
		t.Fatal(err)
	}
}

// TLS 1.2 cannot be detached; the tls.Conn keeps working.
func TestTLS12NotDetached(t *testing.T) {
	ln := listen(t)
	srv := make(chan error, 1)
	go func() {
		srv <- func() error {
			raw, h, err := acceptUpgrade(ln, serverConfig(t))
			if err != nil {
				return err
			}
			defer raw.Close()
			if _, err := h.Detach(); !errors.Is(err, ErrNotTLS13) {
				return fmt.Errorf("Detach: %v, want ErrNotTLS13", err)
			}
			// Slow path: echo through crypto/tls.
			buf := make([]byte, 100)
			n, err := io.ReadAtLeast(h.Conn(), buf, 4)
			if err != nil {
				return err
			}
			_, err = h.Conn().Write(buf[:n])
			return err
		}()
	}()
	cfg := clientConfig()
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	c, br, err := dialUpgrade(ln.Addr().String(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping" {
		t.Fatalf("%q %v", got, err)
	}
	if err := <-srv; err != nil {
		t.Fatal(err)
	}
}

// Detach refuses while crypto/tls still holds plaintext the caller has not
// read, and before the handshake.
func TestDetachPendingData(t *testing.T) {
	ln := listen(t)
	srv := make(chan error, 1)
	go func() {
		srv <- func() error {
			raw, err := ln.Accept()
			if err != nil {
				return err
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(testTimeout))
			h := Server(raw, serverConfig(t))
			if _, err := h.Detach(); !errors.Is(err, ErrHandshakeIncomplete) {
				return fmt.Errorf("Detach before handshake: %v", err)
			}
			buf := make([]byte, 10)
			if _, err := io.ReadFull(h.Conn(), buf); err != nil {
				return err
			}
			if _, err := h.Detach(); !errors.Is(err, ErrPendingData) {
				return fmt.Errorf("Detach with unread data: %v, want ErrPendingData", err)
			}
			return nil
		}()
	}()
	d := &net.Dialer{Timeout: testTimeout}
	c, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(bytes.Repeat([]byte("x"), 100)); err != nil {
		t.Fatal(err)
	}
	if err := <-srv; err != nil {
		t.Fatal(err)
	}
}

// The server config is cloned per connection and base.GetConfigForClient
// and base.KeyLogWriter keep working.
func TestConfigHooks(t *testing.T) {
	ln := listen(t)
	var keylog strings.Builder
	base := serverConfig(t)
	called := false
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		called = true
		c := serverConfig(t)
		c.KeyLogWriter = &keylog
		return c, nil
	}
	srv := make(chan error, 1)
	go func() {
		srv <- func() error {
			raw, h, err := acceptUpgrade(ln, base)
			if err != nil {
				return err
			}
			defer raw.Close()
			st, err := h.Detach()
			if err != nil {
				return err
			}
			return (&peer{conn: raw, st: st}).write([]byte("hi"))
		}()
	}()
	c, br, err := dialUpgrade(ln.Addr().String(), clientConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make([]byte, 2)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "hi" {
		t.Fatalf("%q %v", got, err)
	}
	if err := <-srv; err != nil {
		t.Fatal(err)
	}
	if !called || !strings.Contains(keylog.String(), "SERVER_TRAFFIC_SECRET_0") {
		t.Fatalf("hooks not chained: called=%v keylog=%q", called, keylog.String())
	}
	if base.KeyLogWriter != nil || base.SessionTicketsDisabled || base.VerifyConnection != nil {
		t.Fatal("base config was modified")
	}
}

// After Detach nothing the caller keeps (raw conn, State, Handshake) may
// reach the *tls.Conn, so it and its buffers are collected.
func TestDetachReleasesTLSConn(t *testing.T) {
	ln := listen(t)
	collected := make(chan struct{})
	srv := make(chan error, 1)
	var kept struct {
		raw net.Conn
		st  *State
		h   *Handshake
	}
	go func() {
		srv <- func() error {
			raw, h, err := acceptUpgrade(ln, serverConfig(t))
			if err != nil {
				return err
			}
			runtime.AddCleanup(h.Conn(), func(ch chan struct{}) { close(ch) }, collected)
			st, err := h.Detach()
			if err != nil {
				raw.Close()
				return err
			}
			kept.raw, kept.st, kept.h = raw, st, h
			return nil
		}()
	}()
	c, _, err := dialUpgrade(ln.Addr().String(), clientConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := <-srv; err != nil {
		t.Fatal(err)
	}
	defer kept.raw.Close()
	deadline := time.After(testTimeout)
	for {
		runtime.GC()
		select {
		case <-collected:
			runtime.KeepAlive(&kept)
			return
		case <-deadline:
			t.Fatal("*tls.Conn still reachable after Detach")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
