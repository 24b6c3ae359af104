package tlsrec

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
)

// Errors returned by Handshake.Detach.
var (
	// ErrNotTLS13: the connection negotiated TLS 1.2 or older. The
	// *tls.Conn stays usable (and stops being limited to one record per
	// read); keep serving it through crypto/tls.
	ErrNotTLS13 = errors.New("tlsrec: not a TLS 1.3 connection")
	// ErrHandshakeIncomplete: Detach before the handshake finished.
	ErrHandshakeIncomplete = errors.New("tlsrec: handshake not complete")
	// ErrPendingData: crypto/tls holds bytes the caller has not consumed
	// (unread plaintext, a partial record or handshake message), or wrote
	// only part of a record; detaching would lose or corrupt them.
	ErrPendingData = errors.New("tlsrec: crypto/tls has pending data")
	// ErrTracking: the record accounting failed (a record crypto/tls
	// accepted or sent could not be followed, or an alert was exchanged).
	ErrTracking = errors.New("tlsrec: record tracking failed")
	// ErrDetached: Detach was already called successfully.
	ErrDetached = errors.New("tlsrec: connection already detached")
)

// errProbe is what the wrapper returns to the Read Detach uses to ask
// crypto/tls whether it still buffers plaintext.
var errProbe = errors.New("tlsrec: probe")

// Handshake is the crypto/tls phase of a server connection.
type Handshake struct {
	conn *tls.Conn
	w    *recConn
}

// Server starts the crypto/tls phase on raw. base is not modified: the
// returned connection uses a per-connection clone whose KeyLogWriter
// captures this connection's application traffic secrets (and forwards to
// base.KeyLogWriter, if any), whose VerifyConnection learns the negotiated
// suite (then calls base's), and which has SessionTicketsDisabled so that
// no NewSessionTicket is sent under the application key. A config returned
// by base.GetConfigForClient gets the same treatment.
func Server(raw net.Conn, base *tls.Config) *Handshake {
	if base == nil {
		base = &tls.Config{}
	}
	w := &recConn{Conn: raw}
	cfg := w.configure(base.Clone())
	if orig := base.GetConfigForClient; orig != nil {
		cfg.GetConfigForClient = func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := orig(chi)
			if err != nil || c == nil {
				return c, err
			}
			return w.configure(c.Clone()), nil
		}
	}
	return &Handshake{conn: tls.Server(w, cfg), w: w}
}

// Conn returns the *tls.Conn for the handshake and the plaintext exchange
// before Detach (nil after Detach).
func (h *Handshake) Conn() *tls.Conn { return h.conn }

// Handshake runs the TLS handshake; equivalent to h.Conn().HandshakeContext.
func (h *Handshake) Handshake(ctx context.Context) error {
	if h.conn == nil {
		return ErrDetached
	}
	return h.conn.HandshakeContext(ctx)
}

// Detach ends the crypto/tls phase and returns the record layer state of a
// TLS 1.3 connection. The caller must not be using the *tls.Conn
// concurrently and must not use it afterwards; from now on it reads and
// writes the raw net.Conn, whose next byte is the start of a record.
//
// ErrNotTLS13 leaves the *tls.Conn usable. After any other error the
// connection must be closed (Detach may have consumed a byte of buffered
// plaintext while checking for it).
func (h *Handshake) Detach() (*State, error) {
	c, w := h.conn, h.w
	if c == nil {
		return nil, ErrDetached
	}
	cs := c.ConnectionState()
	if !cs.HandshakeComplete {
		return nil, ErrHandshakeIncomplete
	}
	if cs.Version != tls.VersionTLS13 {
		w.mode.Store(modePassthrough)
		return nil, fmt.Errorf("%w: version %#04x", ErrNotTLS13, cs.Version)
	}
	if err := w.check(cs.CipherSuite); err != nil {
		return nil, err
	}
	// crypto/tls may still hold decrypted application data the caller has
	// not read; only a Read can tell. With nothing buffered, Read goes to
	// the wrapper for a new record, and the probe mode fails it at once
	// without touching the socket.
	w.mode.Store(modeProbe)
	var one [1]byte
	n, err := c.Read(one[:])
	if n > 0 {
		w.mode.Store(modeNormal)
		return nil, fmt.Errorf("%w: unread application data in crypto/tls", ErrPendingData)
	}
	if !errors.Is(err, errProbe) {
		w.mode.Store(modeNormal)
		return nil, fmt.Errorf("%w: tls.Conn read: %w", ErrTracking, err)
	}
	w.mode.Store(modeDetached)
	st := &State{core: core{suite: cs.CipherSuite, in: w.rd.st.in, out: w.wr.st.in}}
	// The shadows' AEADs were built for exactly these keys: keep them, the
	// first request and response are about to follow.
	st.inAEAD.Store(w.rd.st.inAEAD.Load())
	st.outAEAD.Store(w.wr.st.inAEAD.Load())
	w.rd.clear()
	w.wr.clear()
	h.conn, h.w = nil, nil
	return st, nil
}

// Wrapper modes.
const (
	modeNormal      = iota
	modeProbe       // Read fails with errProbe
	modeDetached    // Read and Write fail with ErrDetached
	modePassthrough // TLS 1.2: no record limiting or accounting
)

// recConn sits between crypto/tls and the socket. It hands crypto/tls at
// most the rest of the current record per Read, so crypto/tls never
// buffers bytes of a record it has not asked for, and it follows the
// records in both directions (see tracker).
type recConn struct {
	net.Conn
	mode atomic.Uint32
	rd   tracker // records crypto/tls read
	wr   tracker // records crypto/tls wrote

	clientSecret, serverSecret []byte // from the key log
	setupErr                   error
}

func (w *recConn) Read(p []byte) (int, error) {
	switch w.mode.Load() {
	case modeProbe:
		return 0, errProbe
	case modeDetached:
		return 0, ErrDetached
	case modePassthrough:
		return w.Conn.Read(p)
	}
	if want := w.rd.want(); len(p) > want {
		p = p[:want]
	}
	n, err := w.Conn.Read(p)
	w.rd.feed(p[:n], false)
	return n, err
}

func (w *recConn) Write(p []byte) (int, error) {
	switch w.mode.Load() {
	case modeDetached:
		return 0, ErrDetached
	case modePassthrough:
		return w.Conn.Write(p)
	}
	n, err := w.Conn.Write(p)
	w.wr.feed(p[:n], true)
	return n, err
}

// configure adapts a per-connection config clone.
func (w *recConn) configure(c *tls.Config) *tls.Config {
	c.SessionTicketsDisabled = true
	c.KeyLogWriter = &keyLog{w: w, next: c.KeyLogWriter}
	verify := c.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		w.keysReady(cs)
		if verify != nil {
			return verify(cs)
		}
		return nil
	}
	return c
}

// keysReady starts the record accounting. A TLS 1.3 server calls
// VerifyConnection after it has flushed its Finished flight and logged the
// application secrets, and before it reads the client's Finished: so every
// record written from now on uses the server application key (session
// tickets are disabled), and the records read from now on are at most the
// rest of the client's Finished flight, then client application records.
func (w *recConn) keysReady(cs tls.ConnectionState) {
	if cs.Version != tls.VersionTLS13 {
		return
	}
	si, ok := lookupSuite(cs.CipherSuite)
	switch {
	case !ok:
		w.setupErr = fmt.Errorf("%w: %#04x", ErrUnsupportedSuite, cs.CipherSuite)
	case len(w.clientSecret) != si.hashLen || len(w.serverSecret) != si.hashLen:
		w.setupErr = errors.New("application traffic secrets not captured from the key log")
	case w.rd.hdrN != 0 || w.wr.hdrN != 0:
		w.setupErr = errors.New("handshake ended inside a record")
	}
	if w.setupErr != nil {
		return
	}
	w.rd.st = &State{core: core{suite: cs.CipherSuite}}
	w.rd.st.in.setSecret(si, w.clientSecret)
	w.rd.trial = true
	w.wr.st = &State{core: core{suite: cs.CipherSuite}}
	w.wr.st.in.setSecret(si, w.serverSecret)
	clear(w.clientSecret)
	clear(w.serverSecret)
	w.clientSecret, w.serverSecret = nil, nil
}

// check verifies the accounting before Detach.
func (w *recConn) check(suite uint16) error {
	switch {
	case w.setupErr != nil:
		return fmt.Errorf("%w: %w", ErrTracking, w.setupErr)
	case w.rd.st == nil || w.wr.st == nil:
		return fmt.Errorf("%w: record accounting never started", ErrTracking)
	case w.rd.st.suite != suite:
		return fmt.Errorf("%w: suite changed", ErrTracking)
	case w.rd.err != nil:
		return fmt.Errorf("%w: read side: %w", ErrTracking, w.rd.err)
	case w.wr.err != nil:
		return fmt.Errorf("%w: write side: %w", ErrTracking, w.wr.err)
	case w.rd.hdrN != 0:
		return fmt.Errorf("%w: partial record read", ErrPendingData)
	case w.wr.hdrN != 0:
		return fmt.Errorf("%w: partial record written", ErrPendingData)
	case w.rd.st.hsN != 0:
		return fmt.Errorf("%w: partial KeyUpdate read", ErrPendingData)
	case w.rd.keyUpdateRequests != w.wr.keyUpdates:
		// crypto/tls answers each KeyUpdate(update_requested) with one
		// KeyUpdate of its own before returning from Read.
		return fmt.Errorf("%w: %d KeyUpdate requests read but %d KeyUpdates written",
			ErrTracking, w.rd.keyUpdateRequests, w.wr.keyUpdates)
	}
	return nil
}

// tracker follows the record stream in one direction. Until keys are
// known it only parses headers (to find record boundaries). Afterwards it
// copies each record and decrypts the copy with a shadow State, so the
// sequence number, KeyUpdates and alerts crypto/tls processed are known
// exactly rather than inferred from counts.
type tracker struct {
	hdr  [recordHeaderLen]byte
	hdrN int // header bytes of the current record seen
	left int // body bytes of the current record still to come
	rec  []byte

	st *State // shadow; its "in" half follows this direction
	// trial: the read side has not yet seen a record under the client
	// application key; records that fail to decrypt under it are the
	// client's Finished flight (handshake key) and are skipped.
	trial bool

	records           int // application-key records followed
	keyUpdates        int
	keyUpdateRequests int
	err               error
}

// want is how many bytes may be read without passing the current record.
func (t *tracker) want() int {
	if t.hdrN < recordHeaderLen {
		return recordHeaderLen - t.hdrN
	}
	return t.left
}

func (t *tracker) feed(p []byte, fromServer bool) {
	for len(p) > 0 {
		if t.hdrN < recordHeaderLen {
			k := copy(t.hdr[t.hdrN:], p)
			t.hdrN += k
			p = p[k:]
			if t.hdrN < recordHeaderLen {
				return
			}
			t.left = int(t.hdr[3])<<8 | int(t.hdr[4])
			if t.st != nil {
				t.rec = append(t.rec[:0], t.hdr[:]...)
			}
		} else {
			k := min(t.left, len(p))
			if t.st != nil {
				t.rec = append(t.rec, p[:k]...)
			}
			t.left -= k
			p = p[k:]
		}
		if t.left == 0 {
			t.hdrN = 0
			if t.st != nil {
				t.record(fromServer)
			}
		}
	}
}

// record decrypts one complete record copy with the shadow state.
func (t *tracker) record(fromServer bool) {
	if t.err != nil {
		return
	}
	rec := t.rec
	st := t.st
	var trial State
	if t.trial {
		if rec[0] != typeApplicationData {
			return // the client's compatibility change_cipher_spec
		}
		trial.core = t.st.core
		trial.inAEAD.Store(t.st.inAEAD.Load()) // same key
		st = &trial
	}
	_, n, ev, keyUpdates, err := st.open(rec[:0], rec, fromServer)
	if t.trial {
		if errors.Is(err, ErrBadRecordMAC) {
			t.st.inAEAD.Store(trial.inAEAD.Load()) // still the same key
			return                                 // still the handshake key
		}
		t.trial = false
		t.st.core = trial.core
		t.st.inAEAD.Store(trial.inAEAD.Load())
		t.st.keyUpdatePending.Store(trial.keyUpdatePending.Load())
	}
	t.records++
	if err == nil && n != len(rec) {
		err = io.ErrUnexpectedEOF // cannot happen: rec is one whole record
	}
	if err != nil {
		t.err = fmt.Errorf("record %d: %w", t.records, err)
		return
	}
	t.keyUpdates += keyUpdates
	if ev.KeyUpdateRequested {
		t.keyUpdateRequests++
	}
}

func (t *tracker) clear() {
	if t.st != nil {
		t.st.core = core{}
		t.st.Compact()
	}
	*t = tracker{}
}

// keyLog captures this connection's application traffic secrets from the
// NSS key log lines crypto/tls writes.
type keyLog struct {
	w    *recConn
	next io.Writer
}

func (k *keyLog) Write(line []byte) (int, error) {
	f := bytes.Fields(line)
	if len(f) == 3 {
		var dst *[]byte
		switch string(f[0]) {
		case "CLIENT_TRAFFIC_SECRET_0":
			dst = &k.w.clientSecret
		case "SERVER_TRAFFIC_SECRET_0":
			dst = &k.w.serverSecret
		}
		if dst != nil {
			s, err := hex.DecodeString(string(f[2]))
			if err != nil {
				return 0, fmt.Errorf("tlsrec: key log line: %w", err)
			}
			*dst = s
		}
	}
	if k.next != nil {
		return k.next.Write(line)
	}
	return len(line), nil
}
