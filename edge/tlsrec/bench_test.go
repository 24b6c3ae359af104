package tlsrec

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

const sipMessageSize = 600

// BenchmarkSeal: one 600-byte SIP message per call, AEAD built per call.
func BenchmarkSeal(b *testing.B) {
	for _, s := range suites {
		b.Run(s.name, func(b *testing.B) {
			w, _ := pair(b, s.id)
			msg := pattern(0, sipMessageSize)
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			b.SetBytes(sipMessageSize)
			for b.Loop() {
				buf = w.Seal(buf[:0], msg)
			}
		})
	}
}

// BenchmarkOpen: one 600-byte record per call, decrypted in place, AEAD
// built per call.
func BenchmarkOpen(b *testing.B) {
	for _, s := range suites {
		b.Run(s.name, func(b *testing.B) {
			w, r := pair(b, s.id)
			rec := w.Seal(nil, pattern(0, sipMessageSize))
			buf := make([]byte, len(rec))
			out := make([]byte, 0, 1024)
			b.ReportAllocs()
			b.SetBytes(sipMessageSize)
			for b.Loop() {
				copy(buf, rec)
				r.in.seq = 0 // replay the same record
				var err error
				out, _, _, err = r.Open(out[:0], buf)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAEADBuild is the per-call cost of not caching the AEAD.
func BenchmarkAEADBuild(b *testing.B) {
	for _, s := range suites {
		b.Run(s.name, func(b *testing.B) {
			w, _ := pair(b, s.id)
			si := w.info()
			b.ReportAllocs()
			for b.Loop() {
				_ = w.out.newAEAD(w.suite, si)
			}
		})
	}
}

// BenchmarkRetainedPerConn measures the heap a server keeps per idle
// connection after handshake + HTTP upgrade exchange, for n connections:
// "raw" keeps only the *net.TCPConn (baseline), "tlsconn" the *tls.Conn
// (which holds the TCP conn), "state" the TCP conn plus the detached
// *State. Run it once: go test -run '^$' -bench Retained -benchtime 1x.
func BenchmarkRetainedPerConn(b *testing.B) {
	const n = 2000
	for _, mode := range []string{"raw", "tlsconn", "state"} {
		b.Run(mode, func(b *testing.B) {
			per := measureRetained(b, n, mode)
			b.ReportMetric(per, "B/conn")
		})
	}
	b.Logf("sizeof(State) = %d bytes", unsafe.Sizeof(State{}))
}

func measureRetained(b *testing.B, n int, mode string) float64 {
	ln := listen(b)
	base := serverConfig(b)
	ccfg := clientConfig()
	keepConns := make([]net.Conn, 0, n)
	keepTLS := make([]*tls.Conn, 0, n)
	keepStates := make([]*State, 0, n)
	defer func() {
		for _, c := range keepConns {
			c.Close()
		}
		for _, c := range keepTLS {
			c.NetConn().Close()
		}
	}()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)

	buf := make([]byte, 4096)
	for i := 0; i < n; i++ {
		cerr := make(chan error, 1)
		go func() {
			c, br, err := dialUpgrade(ln.Addr().String(), ccfg, nil)
			if err == nil {
				// Wait for the server to finish before closing, so it
				// keeps a healthy connection.
				_, err = br.Peek(1)
				if err == io.EOF {
					err = nil
				}
				c.Close()
			}
			cerr <- err
		}()
		raw, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		raw.SetDeadline(time.Now().Add(testTimeout))
		switch mode {
		case "tlsconn", "raw":
			c := tls.Server(raw, base)
			if err := c.HandshakeContext(context.Background()); err != nil {
				b.Fatal(err)
			}
			if err := readRequest(c, buf); err != nil {
				b.Fatal(err)
			}
			if _, err := io.WriteString(c, upgradeResponse); err != nil {
				b.Fatal(err)
			}
			if mode == "tlsconn" {
				keepTLS = append(keepTLS, c)
			} else {
				keepConns = append(keepConns, raw)
			}
		case "state":
			h := Server(raw, base)
			if err := h.Handshake(context.Background()); err != nil {
				b.Fatal(err)
			}
			if err := readRequest(h.Conn(), buf); err != nil {
				b.Fatal(err)
			}
			if _, err := io.WriteString(h.Conn(), upgradeResponse); err != nil {
				b.Fatal(err)
			}
			st, err := h.Detach()
			if err != nil {
				b.Fatal(err)
			}
			keepConns = append(keepConns, raw)
			keepStates = append(keepStates, st)
		}
		// Closing with close_notify lets the client's Peek return.
		if mode == "state" {
			raw.Write(keepStates[len(keepStates)-1].SealAlert(nil, AlertCloseNotify))
		} else if mode == "tlsconn" {
			keepTLS[len(keepTLS)-1].CloseWrite()
		} else {
			raw.(*net.TCPConn).CloseWrite()
		}
		if err := <-cerr; err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keepConns)
	runtime.KeepAlive(keepTLS)
	runtime.KeepAlive(keepStates)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// readRequest reads the upgrade request, which arrives in one record.
func readRequest(c io.Reader, buf []byte) error {
	k, err := c.Read(buf)
	if err != nil {
		return err
	}
	if k != len(upgradeRequest) {
		return fmt.Errorf("request of %d bytes, want %d", k, len(upgradeRequest))
	}
	return nil
}
