package tlsrec

import (
	"bytes"
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
	mrand "math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

var (
	certOnce sync.Once
	testCert tls.Certificate
)

// serverConfig returns a fresh server config with a self-signed P-256 cert.
func serverConfig(t testing.TB) *tls.Config {
	t.Helper()
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "tlsrec test"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			DNSNames:     []string{"localhost"},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		testCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	return &tls.Config{Certificates: []tls.Certificate{testCert}}
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// pattern returns deterministic test bytes for message i of size n.
func pattern(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte('a' + (i*7+j)%26)
	}
	return b
}

// peer is a detached endpoint: raw socket I/O plus State.Open/Seal, with
// input delivered to Open in random small chunks to exercise partial
// records.
type peer struct {
	conn     net.Conn
	st       *State
	rng      *mrand.Rand
	maxChunk int
	pending  []byte // received, not yet consumed by Open
	plain    []byte // decrypted, not yet returned
	ev       Events // accumulated events
	eof      bool
	// answerKeyUpdates makes fill reply to KeyUpdate requests at once.
	answerKeyUpdates bool
}

func newPeer(c net.Conn, st *State, seed uint64) *peer {
	return &peer{conn: c, st: st, rng: mrand.New(mrand.NewPCG(seed, 1)), maxChunk: 700, answerKeyUpdates: true}
}

// fill reads one random-sized chunk and runs Open on everything pending.
func (p *peer) fill() error {
	buf := make([]byte, 1+p.rng.IntN(p.maxChunk))
	n, rerr := p.conn.Read(buf)
	p.pending = append(p.pending, buf[:n]...)
	plain, consumed, ev, err := p.st.Open(p.plain, p.pending)
	if consumed < 0 || consumed > len(p.pending) {
		return fmt.Errorf("Open consumed %d of %d", consumed, len(p.pending))
	}
	p.plain = plain
	p.pending = append(p.pending[:0], p.pending[consumed:]...)
	p.ev.CloseNotify = p.ev.CloseNotify || ev.CloseNotify
	p.ev.KeyUpdateRequested = p.ev.KeyUpdateRequested || ev.KeyUpdateRequested
	if ev.KeyUpdateRequested && p.answerKeyUpdates {
		if _, werr := p.conn.Write(p.st.SealKeyUpdate(nil)); werr != nil {
			return werr
		}
	}
	if err != nil {
		if err == io.EOF {
			p.eof = true
		}
		return err
	}
	if rerr != nil {
		return rerr
	}
	return nil
}

// readFull returns exactly n plaintext bytes.
func (p *peer) readFull(n int) ([]byte, error) {
	for len(p.plain) < n {
		if err := p.fill(); err != nil {
			return nil, fmt.Errorf("after %d of %d plaintext bytes: %w", len(p.plain), n, err)
		}
	}
	out := bytes.Clone(p.plain[:n])
	p.plain = append(p.plain[:0], p.plain[n:]...)
	return out, nil
}

// readUntilEOF reads until Open reports close_notify; no more data may
// arrive before it.
func (p *peer) readUntilEOF() error {
	for {
		err := p.fill()
		if len(p.plain) != 0 {
			return fmt.Errorf("unexpected %d plaintext bytes before close", len(p.plain))
		}
		if errors.Is(err, io.EOF) {
			if !p.eof || !p.ev.CloseNotify {
				return fmt.Errorf("socket EOF without close_notify: %w", err)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (p *peer) write(b []byte) error {
	_, err := p.conn.Write(p.st.Seal(nil, b))
	return err
}

// pair returns a writer and a reader State for the same direction.
func pair(t testing.TB, suite uint16) (w, r *State) {
	t.Helper()
	si, ok := lookupSuite(suite)
	if !ok {
		t.Fatalf("suite %#04x", suite)
	}
	a := bytes.Repeat([]byte{0xa1}, si.hashLen)
	b := bytes.Repeat([]byte{0xb2}, si.hashLen)
	w, err := NewState(suite, b, a)
	if err != nil {
		t.Fatal(err)
	}
	r, err = NewState(suite, a, b)
	if err != nil {
		t.Fatal(err)
	}
	return w, r
}

var suites = []struct {
	name string
	id   uint16
}{
	{"TLS_AES_128_GCM_SHA256", tls.TLS_AES_128_GCM_SHA256},
	{"TLS_AES_256_GCM_SHA384", tls.TLS_AES_256_GCM_SHA384},
	{"TLS_CHACHA20_POLY1305_SHA256", tls.TLS_CHACHA20_POLY1305_SHA256},
}
