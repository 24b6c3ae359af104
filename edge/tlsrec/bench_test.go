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

// BenchmarkSeal: one 600-byte SIP message per call with the cached AEAD;
// "compacted" calls Compact before each Seal (the first message after an
// idle period: the AEAD is rebuilt).
func BenchmarkSeal(b *testing.B) {
	for _, s := range suites {
		for _, compact := range []bool{false, true} {
			name := s.name
			if compact {
				name += "/compacted"
			}
			b.Run(name, func(b *testing.B) {
				w, _ := pair(b, s.id)
				msg := pattern(0, sipMessageSize)
				buf := make([]byte, 0, 1024)
				b.ReportAllocs()
				b.SetBytes(sipMessageSize)
				for b.Loop() {
					if compact {
						w.Compact()
					}
					buf = w.Seal(buf[:0], msg)
				}
			})
		}
	}
}

// BenchmarkOpen: one 600-byte record per call, decrypted in place, with the
// cached AEAD or ("compacted") a rebuilt one.
func BenchmarkOpen(b *testing.B) {
	for _, s := range suites {
		for _, compact := range []bool{false, true} {
			name := s.name
			if compact {
				name += "/compacted"
			}
			b.Run(name, func(b *testing.B) {
				w, r := pair(b, s.id)
				rec := w.Seal(nil, pattern(0, sipMessageSize))
				buf := make([]byte, len(rec))
				out := make([]byte, 0, 1024)
				b.ReportAllocs()
				b.SetBytes(sipMessageSize)
				for b.Loop() {
					if compact {
						r.Compact()
					}
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
}

// BenchmarkAEADBuild is the cost of rebuilding an AEAD after Compact.
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
// (which holds the TCP conn), "state" the TCP conn plus the detached and
// compacted *State (an idle flow after the sweeper's Compact), "state-warm"
// the same without Compact (both AEADs cached). Run it once:
// go test -run '^$' -bench Retained -benchtime 1x.
func BenchmarkRetainedPerConn(b *testing.B) {
	const n = 2000
	for _, mode := range []string{"raw", "tlsconn", "state", "state-warm"} {
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
		case "state", "state-warm":
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
		if mode == "state" || mode == "state-warm" {
			st := keepStates[len(keepStates)-1]
			raw.Write(st.SealAlert(nil, AlertCloseNotify))
			if mode == "state" {
				st.Compact()
			}
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

// BenchmarkHandshake: server side of one WSS connection setup over
// loopback per op (TLS 1.3 handshake, HTTP upgrade read and answered), with
// plain crypto/tls ("tls") and through Server + Detach ("detach"). The Go
// client runs in the same process, identical in both. Profile with
// -cpuprofile to see what Server/Detach add.
func BenchmarkHandshake(b *testing.B) {
	for _, mode := range []string{"tls", "detach"} {
		b.Run(mode, func(b *testing.B) {
			ln := listen(b)
			base := serverConfig(b)
			ccfg := clientConfig()
			buf := make([]byte, 4096)
			b.ReportAllocs()
			for b.Loop() {
				cerr := make(chan error, 1)
				go func() {
					c, _, err := dialUpgrade(ln.Addr().String(), ccfg, nil)
					if err == nil {
						c.Close()
					}
					cerr <- err
				}()
				raw, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				raw.SetDeadline(time.Now().Add(testTimeout))
				var rw io.ReadWriter
				var h *Handshake
				if mode == "tls" {
					c := tls.Server(raw, base)
					if err := c.HandshakeContext(context.Background()); err != nil {
						b.Fatal(err)
					}
					rw = c
				} else {
					h = Server(raw, base)
					if err := h.Handshake(context.Background()); err != nil {
						b.Fatal(err)
					}
					rw = h.Conn()
				}
				if err := readRequest(rw, buf); err != nil {
					b.Fatal(err)
				}
				if _, err := io.WriteString(rw, upgradeResponse); err != nil {
					b.Fatal(err)
				}
				if h != nil {
					if _, err := h.Detach(); err != nil {
						b.Fatal(err)
					}
				}
				if err := <-cerr; err != nil {
					b.Fatal(err)
				}
				raw.Close()
			}
		})
	}
}
