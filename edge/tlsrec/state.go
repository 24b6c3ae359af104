// Package tlsrec lets a server finish a TLS 1.3 handshake (and any
// plaintext exchange such as an HTTP upgrade) with crypto/tls, then drop the
// *tls.Conn and run the record layer itself from a few hundred bytes of
// state per connection.
//
// Use Server to wrap the raw connection, drive the handshake and the upgrade
// through Handshake.Conn, then call Handshake.Detach to get a State. From
// then on the caller reads and writes the raw connection and uses
// State.Open and State.Seal on the bytes.
package tlsrec

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
)

// Record layer constants (RFC 8446 §5).
const (
	recordHeaderLen = 5
	maxPlaintext    = 1 << 14
	maxCiphertext   = maxPlaintext + 256

	typeChangeCipherSpec = 20
	typeAlert            = 21
	typeHandshake        = 22
	typeApplicationData  = 23

	hsNewSessionTicket = 4
	hsKeyUpdate        = 24

	alertLevelWarning = 1
	alertLevelFatal   = 2
)

// Alert descriptions used by this package (RFC 8446 §6).
const (
	AlertCloseNotify       uint8 = 0
	AlertUnexpectedMessage uint8 = 10
	AlertBadRecordMAC      uint8 = 20
	AlertRecordOverflow    uint8 = 22
	AlertIllegalParameter  uint8 = 47
	AlertDecodeError       uint8 = 50
	AlertProtocolVersion   uint8 = 70
	AlertInternalError     uint8 = 80
	AlertUserCanceled      uint8 = 90
)

// Errors returned by Open. All are fatal for the connection: the caller
// should send the alert AlertFor suggests (best effort) and close.
var (
	ErrBadRecordMAC      = errors.New("tlsrec: bad record MAC")
	ErrRecordOverflow    = errors.New("tlsrec: record overflow")
	ErrUnexpectedMessage = errors.New("tlsrec: unexpected message")
	ErrDecodeError       = errors.New("tlsrec: decode error")
	ErrIllegalParameter  = errors.New("tlsrec: illegal parameter")
	ErrRecordVersion     = errors.New("tlsrec: bad record version")
	ErrSeqOverflow       = errors.New("tlsrec: sequence number exhausted")
	ErrFailed            = errors.New("tlsrec: read side already failed")
	ErrUnsupportedSuite  = errors.New("tlsrec: unsupported cipher suite")
	ErrBadSecret         = errors.New("tlsrec: traffic secret has wrong length")
)

// AlertError is returned by Open when the peer sent an alert other than
// close_notify.
type AlertError uint8

func (e AlertError) Error() string { return "tlsrec: peer sent alert " + alertName(uint8(e)) }

var alertNames = map[uint8]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
	22: "record_overflow", 40: "handshake_failure", 42: "bad_certificate",
	43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
	46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
	49: "access_denied", 50: "decode_error", 51: "decrypt_error",
	70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
	86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension",
	110: "unsupported_extension", 112: "unrecognized_name",
	113: "bad_certificate_status_response", 115: "unknown_psk_identity",
	116: "certificate_required", 120: "no_application_protocol",
}

func alertName(d uint8) string {
	if n, ok := alertNames[d]; ok {
		return n
	}
	return fmt.Sprintf("alert(%d)", d)
}

// AlertFor returns the alert description a server should send (with
// SealAlert) before closing because of err, if Open produced it.
func AlertFor(err error) (uint8, bool) {
	switch {
	case errors.Is(err, ErrBadRecordMAC):
		return AlertBadRecordMAC, true
	case errors.Is(err, ErrRecordOverflow):
		return AlertRecordOverflow, true
	case errors.Is(err, ErrUnexpectedMessage):
		return AlertUnexpectedMessage, true
	case errors.Is(err, ErrDecodeError):
		return AlertDecodeError, true
	case errors.Is(err, ErrIllegalParameter):
		return AlertIllegalParameter, true
	case errors.Is(err, ErrRecordVersion):
		return AlertProtocolVersion, true
	case errors.Is(err, ErrSeqOverflow):
		return AlertInternalError, true
	}
	return 0, false
}

// Events reports what Open saw besides application data.
type Events struct {
	// KeyUpdateRequested: the peer sent KeyUpdate(update_requested). The
	// caller should call SealKeyUpdate and send the result soon; if it
	// calls Seal first, Seal emits the KeyUpdate itself (RFC 8446 §4.6.3
	// requires it before the next application data record).
	KeyUpdateRequested bool
	// CloseNotify: the peer sent close_notify; Open returned io.EOF.
	CloseNotify bool
}

// State flags, owned by Open.
const (
	flagEOF    = 1 << iota // close_notify received
	flagFailed             // Open returned a fatal error
)

// State is the detached record layer of one TLS 1.3 connection. It holds
// secrets, keys and sequence numbers (about 220 bytes) plus, per direction,
// a lazily built AEAD cache (about 1.3 KiB for AES-GCM while present) that
// Compact drops again for idle connections.
//
// Concurrency: Open may run in one goroutine while Seal, SealAlert and
// SealKeyUpdate run in another (at most one of those at a time, e.g. under
// a write lock); Open calls must not overlap each other, nor Seal calls.
// Compact may be called at any time from any goroutine. The two halves
// share only atomics: the pending KeyUpdate request Open records for Seal,
// and the AEAD caches Compact drops.
type State struct {
	core
	// AEAD caches. in is built and replaced only by Open, out only by the
	// Seal family; Compact only ever stores nil. A non-nil cache therefore
	// always matches its direction's current key: the owner drops it when
	// it changes the key (KeyUpdate) before building the next one.
	inAEAD, outAEAD atomic.Pointer[aeadBox]
	// keyUpdatePending: the peer asked for a KeyUpdate that was not sent
	// yet. Set by Open, cleared by the Seal family.
	keyUpdatePending atomic.Bool
}

// core is the copyable part of a State.
type core struct {
	in, out direction
	suite   uint16
	flags   uint8   // flagEOF, flagFailed; Open only
	hsN     uint8   // bytes of a fragmented KeyUpdate received so far
	hsBuf   [4]byte // those bytes (a KeyUpdate is 5 bytes long)
}

// aeadBox is a cached AEAD with a nonce buffer that only the direction's
// owner uses (Compact drops the pointer, never touches the contents).
type aeadBox struct {
	aead  cipher.AEAD
	nonce [ivLen]byte
}

// Compact drops the cached AEADs so an idle connection's State goes back to
// its minimal size; the next Open or Seal rebuilds what it needs (about
// 1 µs for AES-GCM). Safe to call concurrently with Open and Seal.
func (s *State) Compact() {
	if s.inAEAD.Load() != nil {
		s.inAEAD.Store(nil)
	}
	if s.outAEAD.Load() != nil {
		s.outAEAD.Store(nil)
	}
}

// Compacted reports whether neither direction holds a cached AEAD.
func (s *State) Compacted() bool { return s.inAEAD.Load() == nil && s.outAEAD.Load() == nil }

// inBox returns the read direction's AEAD, building it if needed. Open only.
func (s *State) inBox(si *suiteInfo) *aeadBox {
	if b := s.inAEAD.Load(); b != nil {
		return b
	}
	b := &aeadBox{aead: s.in.newAEAD(s.suite, si)}
	s.inAEAD.Store(b)
	return b
}

// outBox is inBox for the write direction. Seal family only.
func (s *State) outBox(si *suiteInfo) *aeadBox {
	if b := s.outAEAD.Load(); b != nil {
		return b
	}
	b := &aeadBox{aead: s.out.newAEAD(s.suite, si)}
	s.outAEAD.Store(b)
	return b
}

// updateIn and updateOut move a direction to its next traffic secret and
// drop the AEAD cached for the old key.
func (s *State) updateIn(si *suiteInfo) {
	s.inAEAD.Store(nil)
	s.in.update(si)
}

func (s *State) updateOut(si *suiteInfo) {
	s.outAEAD.Store(nil)
	s.out.update(si)
}

// NewState builds a State from the TLS 1.3 application traffic secrets:
// readSecret is the peer's (client_application_traffic_secret_N for a
// server), writeSecret ours. Sequence numbers start at zero.
func NewState(suite uint16, readSecret, writeSecret []byte) (*State, error) {
	si, ok := lookupSuite(suite)
	if !ok {
		return nil, fmt.Errorf("%w: %#04x", ErrUnsupportedSuite, suite)
	}
	if len(readSecret) != si.hashLen || len(writeSecret) != si.hashLen {
		return nil, fmt.Errorf("%w: got %d and %d bytes, want %d", ErrBadSecret, len(readSecret), len(writeSecret), si.hashLen)
	}
	s := &State{core: core{suite: suite}}
	s.in.setSecret(si, readSecret)
	s.out.setSecret(si, writeSecret)
	return s, nil
}

// Suite returns the negotiated cipher suite ID.
func (s *State) Suite() uint16 { return s.suite }

func (s *State) info() *suiteInfo {
	si, ok := lookupSuite(s.suite)
	if !ok {
		panic("tlsrec: State with unknown suite") // NewState/Detach validate it
	}
	return si
}

// Open decrypts the complete records at the start of in, in place, and
// appends the application data they carry to dst (dst may be in[:0] or a
// buffer not overlapping in). consumed is the number of input bytes used;
// a trailing partial record is not consumed and must be presented again,
// completed, in the next call. Empty application data records are accepted.
//
// KeyUpdate messages are applied (see Events.KeyUpdateRequested). On
// close_notify Open returns the data before it, the bytes up to and
// including the alert as consumed, ev.CloseNotify and io.EOF. Any other
// alert yields an AlertError; protocol violations yield the Err* values,
// wrapped. Errors are sticky: later calls fail with ErrFailed (or io.EOF).
func (s *State) Open(dst, in []byte) (plain []byte, consumed int, ev Events, err error) {
	plain, consumed, ev, _, err = s.open(dst, in, false)
	return plain, consumed, ev, err
}

// open is Open for either peer role. fromServer is set when we verify the
// records our own crypto/tls server wrote (see tracker), which may carry
// NewSessionTicket. keyUpdates counts the KeyUpdate messages applied.
func (s *State) open(dst, in []byte, fromServer bool) (plain []byte, consumed int, ev Events, keyUpdates int, err error) {
	if s.flags&flagEOF != 0 {
		return dst, 0, Events{CloseNotify: true}, 0, io.EOF
	}
	if s.flags&flagFailed != 0 {
		return dst, 0, ev, 0, ErrFailed
	}
	fail := func(e error) ([]byte, int, Events, int, error) {
		s.flags |= flagFailed
		return dst, consumed, ev, keyUpdates, e
	}
	si := s.info()
	var box *aeadBox
	for {
		rest := in[consumed:]
		if len(rest) < recordHeaderLen {
			return dst, consumed, ev, keyUpdates, nil
		}
		hdr := rest[:recordHeaderLen]
		n := int(hdr[3])<<8 | int(hdr[4])
		// Check the header before waiting for the body: a bad length
		// should fail now, not after 16 KiB more arrive.
		switch {
		case hdr[0] != typeApplicationData:
			// After the handshake every record is protected; a CCS
			// here is a protocol error too (RFC 8446 §5).
			return fail(fmt.Errorf("%w: outer record type %d", ErrUnexpectedMessage, hdr[0]))
		case hdr[1] != 3 || hdr[2] != 3:
			return fail(fmt.Errorf("%w: %#02x%02x", ErrRecordVersion, hdr[1], hdr[2]))
		case n > maxCiphertext:
			return fail(fmt.Errorf("%w: ciphertext length %d", ErrRecordOverflow, n))
		case n < 1+tagLen:
			return fail(fmt.Errorf("%w: record of %d bytes is too short", ErrBadRecordMAC, n))
		}
		if len(rest) < recordHeaderLen+n {
			return dst, consumed, ev, keyUpdates, nil
		}
		if s.in.seq >= lastSeq {
			return fail(ErrSeqOverflow)
		}
		if box == nil {
			box = s.inBox(si)
		}
		s.in.nonce(box.nonce[:])
		payload := rest[recordHeaderLen : recordHeaderLen+n]
		pt, e := box.aead.Open(payload[:0], box.nonce[:], payload, hdr)
		if e != nil {
			return fail(fmt.Errorf("%w: record %d", ErrBadRecordMAC, s.in.seq))
		}
		s.in.seq++
		consumed += recordHeaderLen + n

		// Strip zero padding; the last non-zero byte is the real type.
		i := len(pt) - 1
		for i >= 0 && pt[i] == 0 {
			i--
		}
		if i < 0 {
			return fail(fmt.Errorf("%w: record without content type", ErrUnexpectedMessage))
		}
		typ, content := pt[i], pt[:i]
		if len(content) > maxPlaintext {
			return fail(fmt.Errorf("%w: plaintext length %d", ErrRecordOverflow, len(content)))
		}
		if s.hsN > 0 && typ != typeHandshake {
			// RFC 8446 §5.1: handshake messages must not be interleaved
			// with other record types.
			return fail(fmt.Errorf("%w: record type %d inside a fragmented handshake message", ErrUnexpectedMessage, typ))
		}
		switch typ {
		case typeApplicationData:
			dst = append(dst, content...)
		case typeAlert:
			if len(content) != 2 {
				return fail(fmt.Errorf("%w: alert of %d bytes", ErrDecodeError, len(content)))
			}
			if content[1] == AlertCloseNotify {
				s.flags |= flagEOF
				ev.CloseNotify = true
				return dst, consumed, ev, keyUpdates, io.EOF
			}
			return fail(AlertError(content[1]))
		case typeHandshake:
			ku, requested, e := s.handshakeMsg(content, fromServer)
			if e != nil {
				return fail(e)
			}
			if ku {
				s.updateIn(si)
				box = nil
				keyUpdates++
				if requested {
					ev.KeyUpdateRequested = true
					s.keyUpdatePending.Store(true)
				}
			}
		default:
			return fail(fmt.Errorf("%w: inner record type %d", ErrUnexpectedMessage, typ))
		}
	}
}

// handshakeMsg processes the handshake bytes of one record. The only
// message a client may send after the handshake is KeyUpdate (we never ask
// for post-handshake authentication); it must end its record because the
// key changes after it (RFC 8446 §5.1). Legal but odd fragmentation of a
// KeyUpdate over several records is reassembled in hsBuf.
func (s *State) handshakeMsg(data []byte, fromServer bool) (keyUpdate, requested bool, err error) {
	if len(data) == 0 {
		return false, false, fmt.Errorf("%w: empty handshake record", ErrUnexpectedMessage)
	}
	var joined [5]byte
	msg := data
	if s.hsN > 0 {
		if int(s.hsN)+len(data) > len(joined) {
			return false, false, fmt.Errorf("%w: data after KeyUpdate in the same record", ErrUnexpectedMessage)
		}
		n := copy(joined[:], s.hsBuf[:s.hsN])
		n += copy(joined[n:], data)
		msg = joined[:n]
		s.hsN = 0
	}
	for len(msg) > 0 {
		typ := msg[0]
		switch {
		case typ == hsKeyUpdate:
		case typ == hsNewSessionTicket && fromServer:
		case typ == hsNewSessionTicket:
			return false, false, fmt.Errorf("%w: NewSessionTicket from client", ErrUnexpectedMessage)
		default:
			return false, false, fmt.Errorf("%w: post-handshake message type %d", ErrUnexpectedMessage, typ)
		}
		if len(msg) < 4 {
			return s.keepFragment(msg)
		}
		mlen := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3])
		if typ == hsKeyUpdate && mlen != 1 {
			return false, false, fmt.Errorf("%w: KeyUpdate of %d bytes", ErrDecodeError, mlen)
		}
		if len(msg) < 4+mlen {
			return s.keepFragment(msg)
		}
		body := msg[4 : 4+mlen]
		msg = msg[4+mlen:]
		if typ == hsKeyUpdate {
			if len(msg) != 0 {
				return false, false, fmt.Errorf("%w: KeyUpdate not at end of record", ErrUnexpectedMessage)
			}
			switch body[0] {
			case 0:
				return true, false, nil
			case 1:
				return true, true, nil
			}
			return false, false, fmt.Errorf("%w: KeyUpdate request_update %d", ErrIllegalParameter, body[0])
		}
	}
	return false, false, nil
}

// keepFragment stores the start of a message continued in the next record.
// Only a KeyUpdate (at most 4 bytes pending) can be kept.
func (s *State) keepFragment(msg []byte) (bool, bool, error) {
	if msg[0] != hsKeyUpdate || len(msg) > len(s.hsBuf) {
		return false, false, fmt.Errorf("%w: fragmented post-handshake message type %d", ErrUnexpectedMessage, msg[0])
	}
	s.hsN = uint8(copy(s.hsBuf[:], msg))
	return false, false, nil
}

// Seal appends to dst the application data records carrying plaintext
// (split at 16384 bytes, no padding). Empty plaintext appends nothing.
// plaintext must not overlap the spare capacity of dst.
//
// Seal first emits a KeyUpdate(update_not_requested) and switches keys if
// the peer requested one and it was not sent yet, or if the write sequence
// number reached the suite's rekey limit (2^24 records for AES-GCM, RFC
// 8446 §5.5; the end of the 64-bit space for ChaCha20-Poly1305). So the
// write sequence number never wraps and Seal needs no error result.
func (s *State) Seal(dst, plaintext []byte) []byte {
	if len(plaintext) == 0 {
		return dst
	}
	si := s.info()
	nrec := (len(plaintext) + maxPlaintext - 1) / maxPlaintext
	dst = slices.Grow(dst, len(plaintext)+nrec*(recordHeaderLen+1+tagLen)+keyUpdateRecordLen)
	for len(plaintext) > 0 {
		if s.out.seq >= si.rekeyAt || s.keyUpdatePending.Load() {
			dst = s.sealKeyUpdate(dst, si)
		}
		n := min(len(plaintext), maxPlaintext)
		dst = s.sealRecord(dst, s.outBox(si), typeApplicationData, plaintext[:n])
		plaintext = plaintext[n:]
	}
	return dst
}

// keyUpdateRecordLen is the size of a sealed KeyUpdate record.
const keyUpdateRecordLen = recordHeaderLen + 5 + 1 + tagLen

// SealAlert appends an encrypted alert record. close_notify and
// user_canceled go out with level warning, everything else fatal (RFC 8446
// §6; TLS 1.3 receivers ignore the level).
func (s *State) SealAlert(dst []byte, desc uint8) []byte {
	level := byte(alertLevelFatal)
	if desc == AlertCloseNotify || desc == AlertUserCanceled {
		level = alertLevelWarning
	}
	si := s.info()
	if s.out.seq >= lastSeq-1 {
		// Keep the last nonce for the KeyUpdate that must precede it.
		dst = s.sealKeyUpdate(dst, si)
	}
	alert := [2]byte{level, desc}
	return s.sealRecord(dst, s.outBox(si), typeAlert, alert[:])
}

// SealKeyUpdate appends a KeyUpdate(update_not_requested) record and
// switches to the next write traffic secret. Use it to answer
// Events.KeyUpdateRequested, or to rekey proactively.
func (s *State) SealKeyUpdate(dst []byte) []byte {
	return s.sealKeyUpdate(dst, s.info())
}

// sealKeyUpdate answers a pending request, if any: the flag is cleared
// before sealing so that a request Open records meanwhile gets its own
// answer.
func (s *State) sealKeyUpdate(dst []byte, si *suiteInfo) []byte {
	s.keyUpdatePending.Store(false)
	msg := [5]byte{hsKeyUpdate, 0, 0, 1, 0}
	dst = s.sealRecord(dst, s.outBox(si), typeHandshake, msg[:])
	s.updateOut(si)
	return dst
}

// sealRecord appends one protected record; data must fit in a record.
// Invariant: s.out.seq < lastSeq on entry, because Seal and SealAlert
// rotate keys before the last sequence number is reached.
func (s *State) sealRecord(dst []byte, box *aeadBox, typ byte, data []byte) []byte {
	if s.out.seq >= lastSeq {
		panic("tlsrec: write sequence number exhausted") // unreachable, see Seal
	}
	n := len(data) + 1 + tagLen
	dst = slices.Grow(dst, recordHeaderLen+n)
	start := len(dst)
	dst = append(dst, typeApplicationData, 3, 3, byte(n>>8), byte(n))
	body := len(dst)
	dst = append(dst, data...)
	dst = append(dst, typ)
	s.out.nonce(box.nonce[:])
	out := box.aead.Seal(dst[body:body], box.nonce[:], dst[body:], dst[start:body])
	s.out.seq++
	return dst[:body+len(out)]
}
