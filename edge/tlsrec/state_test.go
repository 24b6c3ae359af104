package tlsrec

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	mrand "math/rand/v2"
	"testing"
)

// openChunked feeds in to r.Open in random chunk sizes, as a socket would.
func openChunked(t *testing.T, r *State, in []byte, rng *mrand.Rand) ([]byte, Events, error) {
	t.Helper()
	var (
		pending, plain []byte
		all            Events
	)
	for len(in) > 0 || len(pending) > 0 {
		k := min(len(in), 1+rng.IntN(300))
		pending = append(pending, in[:k]...)
		in = in[k:]
		var (
			n   int
			ev  Events
			err error
		)
		plain, n, ev, err = r.Open(plain, pending)
		all.CloseNotify = all.CloseNotify || ev.CloseNotify
		all.KeyUpdateRequested = all.KeyUpdateRequested || ev.KeyUpdateRequested
		pending = pending[n:]
		if err != nil {
			return plain, all, err
		}
		if len(in) == 0 && len(pending) > 0 {
			t.Fatalf("%d bytes left unconsumed with no more input", len(pending))
		}
	}
	return plain, all, nil
}

func TestRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 1000, 16384, 16385, 100000}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			w, r := pair(t, s.id)
			rng := mrand.New(mrand.NewPCG(1, uint64(s.id)))
			for i, n := range sizes {
				msg := pattern(i, n)
				wire := w.Seal(nil, msg)
				wantRecs := (n + maxPlaintext - 1) / maxPlaintext
				if got := countRecords(t, wire); got != wantRecs {
					t.Errorf("size %d: %d records, want %d", n, got, wantRecs)
				}
				got, ev, err := openChunked(t, r, wire, rng)
				if err != nil || ev != (Events{}) {
					t.Fatalf("size %d: Open: ev=%+v err=%v", n, ev, err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("size %d: plaintext mismatch", n)
				}
			}
			if w.out.seq != r.in.seq {
				t.Errorf("seq: writer %d reader %d", w.out.seq, r.in.seq)
			}
		})
	}
}

func countRecords(t *testing.T, wire []byte) int {
	t.Helper()
	n := 0
	for len(wire) > 0 {
		if len(wire) < recordHeaderLen {
			t.Fatal("trailing bytes")
		}
		l := int(wire[3])<<8 | int(wire[4])
		if l > maxCiphertext {
			t.Fatalf("record of %d bytes", l)
		}
		wire = wire[recordHeaderLen+l:]
		n++
	}
	return n
}

// Open must work with dst aliasing the start of in, the zero-copy use.
func TestOpenInPlace(t *testing.T) {
	w, r := pair(t, tls.TLS_AES_128_GCM_SHA256)
	var wire, want []byte
	for i, n := range []int{5, 0, 17000, 3, 600} {
		msg := pattern(i, n)
		want = append(want, msg...)
		wire = w.Seal(wire, msg)
	}
	wire = w.sealRecord(wire, &aeadBox{aead: w.out.newAEAD(w.suite, w.info())}, typeApplicationData, nil)
	plain, n, _, err := r.Open(wire[:0], wire)
	if err != nil || n != len(wire) {
		t.Fatalf("Open: n=%d/%d err=%v", n, len(wire), err)
	}
	if !bytes.Equal(plain, want) {
		t.Fatal("in-place plaintext mismatch")
	}
}

// seal seals one record of any inner type with w's write key.
func seal(w *State, typ byte, data []byte) []byte {
	return w.sealRecord(nil, &aeadBox{aead: w.out.newAEAD(w.suite, w.info())}, typ, data)
}

func TestOpenErrors(t *testing.T) {
	type tc struct {
		name string
		wire func(w *State) []byte
		want error
	}
	flip := func(b []byte, i int) []byte { b[i] ^= 1; return b }
	cases := []tc{
		{"tampered ciphertext", func(w *State) []byte { return flip(w.Seal(nil, []byte("hello")), 7) }, ErrBadRecordMAC},
		{"tampered tag", func(w *State) []byte { b := w.Seal(nil, []byte("hello")); return flip(b, len(b)-1) }, ErrBadRecordMAC},
		{"tampered header length", func(w *State) []byte {
			b := append(w.Seal(nil, []byte("hello")), 0)
			b[4]++ // framing still valid, additional data differs
			return b
		}, ErrBadRecordMAC},
		{"wrong key", func(w *State) []byte { w.out.key[0] ^= 1; w.Compact(); return w.Seal(nil, []byte("x")) }, ErrBadRecordMAC},
		{"replayed seq", func(w *State) []byte { w.out.seq = 5; return w.Seal(nil, []byte("x")) }, ErrBadRecordMAC},
		{"too short", func(w *State) []byte { return []byte{23, 3, 3, 0, 16, 15: 0, 20: 0} }, ErrBadRecordMAC},
		{"oversize header only", func(w *State) []byte { return []byte{23, 3, 3, 0x41, 0x01} }, ErrRecordOverflow},
		{"oversize plaintext", func(w *State) []byte { return seal(w, typeApplicationData, make([]byte, maxPlaintext+1)) }, ErrRecordOverflow},
		{"plaintext alert type", func(w *State) []byte { return []byte{21, 3, 3, 0, 2, 2, 40} }, ErrUnexpectedMessage},
		{"change_cipher_spec", func(w *State) []byte { return []byte{20, 3, 3, 0, 1, 1} }, ErrUnexpectedMessage},
		{"record version", func(w *State) []byte { b := w.Seal(nil, []byte("x")); b[2] = 1; return b }, ErrRecordVersion},
		{"no content type", func(w *State) []byte { return seal(w, 0, nil) }, ErrUnexpectedMessage},
		{"inner ccs", func(w *State) []byte { return seal(w, typeChangeCipherSpec, []byte{1}) }, ErrUnexpectedMessage},
		{"inner unknown", func(w *State) []byte { return seal(w, 99, []byte{1}) }, ErrUnexpectedMessage},
		{"empty handshake", func(w *State) []byte { return seal(w, typeHandshake, nil) }, ErrUnexpectedMessage},
		{"NewSessionTicket", func(w *State) []byte {
			return seal(w, typeHandshake, []byte{hsNewSessionTicket, 0, 0, 4, 0, 0, 0, 0})
		}, ErrUnexpectedMessage},
		{"Finished", func(w *State) []byte { return seal(w, typeHandshake, []byte{20, 0, 0, 1, 0}) }, ErrUnexpectedMessage},
		{"KeyUpdate not last", func(w *State) []byte {
			return seal(w, typeHandshake, []byte{hsKeyUpdate, 0, 0, 1, 0, hsKeyUpdate, 0, 0, 1, 0})
		}, ErrUnexpectedMessage},
		{"KeyUpdate bad length", func(w *State) []byte { return seal(w, typeHandshake, []byte{hsKeyUpdate, 0, 0, 2, 0, 0}) }, ErrDecodeError},
		{"KeyUpdate bad value", func(w *State) []byte { return seal(w, typeHandshake, []byte{hsKeyUpdate, 0, 0, 1, 2}) }, ErrIllegalParameter},
		{"data inside fragmented KeyUpdate", func(w *State) []byte {
			b := seal(w, typeHandshake, []byte{hsKeyUpdate, 0})
			return append(b, seal(w, typeApplicationData, []byte("x"))...)
		}, ErrUnexpectedMessage},
		{"fragment longer than KeyUpdate", func(w *State) []byte {
			b := seal(w, typeHandshake, []byte{hsKeyUpdate, 0, 0})
			return append(b, seal(w, typeHandshake, []byte{1, 0, 9})...)
		}, ErrUnexpectedMessage},
		{"long alert", func(w *State) []byte { return seal(w, typeAlert, []byte{2, 40, 0}) }, ErrDecodeError},
		{"fatal alert", func(w *State) []byte { return w.SealAlert(nil, 40) }, AlertError(40)},
		{"user_canceled", func(w *State) []byte { return w.SealAlert(nil, AlertUserCanceled) }, AlertError(AlertUserCanceled)},
	}
	for _, s := range suites {
		for _, c := range cases {
			t.Run(s.name+"/"+c.name, func(t *testing.T) {
				w, r := pair(t, s.id)
				good := w.Seal(nil, []byte("before"))
				wire := append(good, c.wire(w)...)
				plain, n, _, err := r.Open(nil, wire)
				if !errors.Is(err, c.want) {
					t.Fatalf("err = %v, want %v", err, c.want)
				}
				if string(plain) != "before" || n < len(good) {
					t.Errorf("data before the bad record: %q, consumed %d", plain, n)
				}
				if _, ok := AlertFor(err); !ok && !errors.As(err, new(AlertError)) {
					t.Errorf("AlertFor(%v) has no alert", err)
				}
				// Errors are sticky.
				if _, _, _, err := r.Open(nil, w.Seal(nil, []byte("after"))); !errors.Is(err, ErrFailed) {
					t.Errorf("second Open: %v, want ErrFailed", err)
				}
			})
		}
	}
}

func TestAlertErrorNames(t *testing.T) {
	_, r := pair(t, tls.TLS_AES_128_GCM_SHA256)
	w, _ := pair(t, tls.TLS_AES_128_GCM_SHA256)
	_, _, _, err := r.Open(nil, w.SealAlert(nil, 40))
	var ae AlertError
	if !errors.As(err, &ae) || ae != 40 || err.Error() != "tlsrec: peer sent alert handshake_failure" {
		t.Fatalf("err = %v", err)
	}
	if AlertError(200).Error() != "tlsrec: peer sent alert alert(200)" {
		t.Fatal(AlertError(200).Error())
	}
}

func TestPartialRecordNotConsumed(t *testing.T) {
	w, r := pair(t, tls.TLS_CHACHA20_POLY1305_SHA256)
	wire := w.Seal(nil, []byte("hello"))
	for i := 0; i < len(wire); i++ {
		plain, n, _, err := r.Open(nil, wire[:i])
		if err != nil || n != 0 || len(plain) != 0 {
			t.Fatalf("prefix %d: n=%d plain=%q err=%v", i, n, plain, err)
		}
	}
	plain, n, _, err := r.Open(nil, wire)
	if err != nil || n != len(wire) || string(plain) != "hello" {
		t.Fatalf("full: n=%d plain=%q err=%v", n, plain, err)
	}
}

func TestCloseNotify(t *testing.T) {
	w, r := pair(t, tls.TLS_AES_256_GCM_SHA384)
	wire := w.Seal(nil, []byte("last words"))
	wire = w.SealAlert(wire, AlertCloseNotify)
	end := len(wire)
	wire = append(wire, w.Seal(nil, []byte("ignored"))...)
	plain, n, ev, err := r.Open(nil, wire)
	if err != io.EOF || !ev.CloseNotify || n != end || string(plain) != "last words" {
		t.Fatalf("plain=%q n=%d/%d ev=%+v err=%v", plain, n, end, ev, err)
	}
	if _, n, ev, err := r.Open(nil, wire[end:]); err != io.EOF || n != 0 || !ev.CloseNotify {
		t.Fatalf("after close: n=%d ev=%+v err=%v", n, ev, err)
	}
	// close_notify goes out as a warning, others as fatal.
	for _, c := range []struct{ desc, level uint8 }{{AlertCloseNotify, 1}, {AlertUserCanceled, 1}, {AlertBadRecordMAC, 2}} {
		w, r := pair(t, tls.TLS_AES_128_GCM_SHA256)
		rec := w.SealAlert(nil, c.desc)
		aead := r.in.newAEAD(r.suite, r.info())
		nonce := make([]byte, ivLen)
		r.in.nonce(nonce)
		pt, err := aead.Open(nil, nonce, rec[5:], rec[:5])
		if err != nil || !bytes.Equal(pt, []byte{c.level, c.desc, typeAlert}) {
			t.Errorf("alert %d: %x %v", c.desc, pt, err)
		}
	}
}

func TestZeroLengthRecords(t *testing.T) {
	w, r := pair(t, tls.TLS_AES_128_GCM_SHA256)
	if got := w.Seal(nil, nil); len(got) != 0 {
		t.Fatalf("Seal(empty) appended %d bytes", len(got))
	}
	var wire []byte
	for range 5 {
		wire = append(wire, seal(w, typeApplicationData, nil)...)
	}
	wire = w.Seal(wire, []byte("x"))
	plain, n, _, err := r.Open(nil, wire)
	if err != nil || n != len(wire) || string(plain) != "x" {
		t.Fatalf("plain=%q n=%d err=%v", plain, n, err)
	}
	// Zero padding after the inner type is stripped.
	w2, r2 := pair(t, tls.TLS_AES_128_GCM_SHA256)
	padded := seal(w2, 0, []byte{'p', typeApplicationData, 0, 0})
	plain, _, _, err = r2.Open(nil, padded)
	if err != nil || string(plain) != "p" {
		t.Fatalf("padded: %q %v", plain, err)
	}
}

func TestKeyUpdate(t *testing.T) {
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			w, r := pair(t, s.id)
			oldSecret := r.in.secret
			wire := w.Seal(nil, []byte("one"))
			wire = w.SealKeyUpdate(wire)
			wire = w.Seal(wire, []byte("two"))
			plain, ev, err := openChunked(t, r, wire, mrand.New(mrand.NewPCG(2, 2)))
			if err != nil || ev.KeyUpdateRequested || string(plain) != "onetwo" {
				t.Fatalf("plain=%q ev=%+v err=%v", plain, ev, err)
			}
			if r.in.secret == oldSecret || r.in.seq != 1 || r.in != w.out {
				t.Fatal("reader did not follow the key update")
			}

			// update_requested: the reader's next Seal answers first.
			wire = seal(w, typeHandshake, []byte{hsKeyUpdate, 0, 0, 1, 1})
			w.updateOut(w.info())
			wire = w.Seal(wire, []byte("three"))
			plain, _, ev, err = r.Open(nil, wire)
			if err != nil || !ev.KeyUpdateRequested || string(plain) != "three" {
				t.Fatalf("requested: plain=%q ev=%+v err=%v", plain, ev, err)
			}
			back := r.Seal(nil, []byte("reply"))
			if r.keyUpdatePending.Load() {
				t.Fatal("pending KeyUpdate not cleared")
			}
			if got := countRecords(t, back); got != 2 {
				t.Fatalf("answer has %d records, want KeyUpdate + data", got)
			}
			plain, _, ev, err = w.Open(nil, back)
			if err != nil || ev.KeyUpdateRequested || string(plain) != "reply" || w.in != r.out {
				t.Fatalf("answer: plain=%q ev=%+v err=%v", plain, ev, err)
			}
			// Answered once only.
			if got := countRecords(t, r.Seal(nil, []byte("x"))); got != 1 {
				t.Fatalf("second Seal has %d records", got)
			}
		})
	}
}

// A KeyUpdate split over records is legal; reassemble it.
func TestKeyUpdateFragmented(t *testing.T) {
	ku := []byte{hsKeyUpdate, 0, 0, 1, 1}
	for split := 1; split < len(ku); split++ {
		w, r := pair(t, tls.TLS_AES_128_GCM_SHA256)
		wire := seal(w, typeHandshake, ku[:split])
		wire = append(wire, seal(w, typeHandshake, ku[split:])...)
		w.updateOut(w.info())
		wire = w.Seal(wire, []byte("ok"))
		plain, _, ev, err := r.Open(nil, wire)
		if err != nil || !ev.KeyUpdateRequested || string(plain) != "ok" {
			t.Fatalf("split %d: plain=%q ev=%+v err=%v", split, plain, ev, err)
		}
	}
}

func TestSequenceLimits(t *testing.T) {
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			w, r := pair(t, s.id)
			si := w.info()
			// Seal rekeys on its own at the suite's limit.
			w.out.seq, r.in.seq = si.rekeyAt, si.rekeyAt
			wire := w.Seal(nil, []byte("x"))
			plain, _, _, err := r.Open(nil, wire)
			if err != nil || string(plain) != "x" || r.in.seq != 1 || w.out.seq != 1 {
				t.Fatalf("auto rekey: plain=%q seq=%d/%d err=%v", plain, r.in.seq, w.out.seq, err)
			}
			// An alert at the last usable number is preceded by a KeyUpdate.
			w.out.seq, r.in.seq = lastSeq-1, lastSeq-1
			_, _, ev, err := r.Open(nil, w.SealAlert(nil, AlertCloseNotify))
			if err != io.EOF || !ev.CloseNotify {
				t.Fatalf("alert at limit: %+v %v", ev, err)
			}
			// The reader refuses to go past the end of the sequence space.
			w, r = pair(t, s.id)
			w.out.seq, r.in.seq = lastSeq-1, lastSeq
			if _, _, _, err := r.Open(nil, seal(w, typeApplicationData, []byte("x"))); !errors.Is(err, ErrSeqOverflow) {
				t.Fatalf("overflow: %v", err)
			}
		})
	}
}

func TestNewStateErrors(t *testing.T) {
	if _, err := NewState(0x1304, make([]byte, 32), make([]byte, 32)); !errors.Is(err, ErrUnsupportedSuite) {
		t.Error(err)
	}
	if _, err := NewState(tls.TLS_AES_256_GCM_SHA384, make([]byte, 32), make([]byte, 48)); !errors.Is(err, ErrBadSecret) {
		t.Error(err)
	}
	st, err := NewState(tls.TLS_CHACHA20_POLY1305_SHA256, make([]byte, 32), make([]byte, 32))
	if err != nil || st.Suite() != tls.TLS_CHACHA20_POLY1305_SHA256 {
		t.Error(st, err)
	}
}

// FuzzOpen feeds Open arbitrary bytes (structured=false), or records
// sealed with the right key from an arbitrary script of inner types and
// contents (structured=true) so the code after decryption is reached too.
// Open must never panic, never consume more than it was given, and never
// leave a complete record unconsumed without an error.
func FuzzOpen(f *testing.F) {
	for i, s := range suites {
		w, _ := pair(f, s.id)
		seed := w.Seal(nil, []byte("INVITE sip:bob@example.com SIP/2.0\r\n"))
		seed = w.SealKeyUpdate(seed)
		seed = w.Seal(seed, pattern(1, 17000))
		seed = append(seed, seal(w, typeHandshake, []byte{hsKeyUpdate, 0})...)
		seed = append(seed, seal(w, typeHandshake, []byte{0, 1, 1})...)
		w.updateOut(w.info())
		seed = w.SealAlert(seed, AlertCloseNotify)
		f.Add(byte(i), uint16(100), false, seed)
		f.Add(byte(i), uint16(7), false, w.SealAlert(nil, 40))
		f.Add(byte(i), uint16(0), false, []byte{23, 3, 3, 0x41, 0})
		f.Add(byte(i), uint16(30), true, []byte{
			23, 5, 'h', 'e', 'l', 'l', 'o',
			22, 2, hsKeyUpdate, 0, 22, 3, 0, 1, 1,
			0, 4, 'p', 23, 0, 0,
			23, 0,
			21, 2, 1, 0,
		})
		f.Add(byte(i), uint16(9), true, []byte{22, 5, hsKeyUpdate, 0, 0, 1, 0, 21, 2, 2, 50})
	}
	f.Fuzz(func(t *testing.T, suite byte, split uint16, structured bool, in []byte) {
		w, r := pair(t, suites[int(suite)%len(suites)].id)
		if structured {
			in = sealScript(w, in)
		}
		// Two calls: a prefix, then the rest appended to what was left,
		// the second with dst aliasing in.
		cut := min(int(split), len(in))
		_, n, _, err := r.Open(nil, in[:cut])
		if n < 0 || n > cut {
			t.Fatalf("consumed %d of %d", n, cut)
		}
		if err != nil {
			return
		}
		rest := append(bytes.Clone(in[n:cut]), in[cut:]...)
		_, n, _, err = r.Open(rest[:0], rest)
		if n < 0 || n > len(rest) {
			t.Fatalf("consumed %d of %d", n, len(rest))
		}
		if err == nil && len(rest)-n >= recordHeaderLen {
			l := int(rest[n+3])<<8 | int(rest[n+4])
			if len(rest)-n >= recordHeaderLen+l {
				t.Fatal("complete record left unconsumed")
			}
		}
	})
}

// sealScript seals records described by script: repeated
// [inner type][length][content], content cut short at the end.
func sealScript(w *State, script []byte) []byte {
	var out []byte
	box := &aeadBox{aead: w.out.newAEAD(w.suite, w.info())}
	for len(script) >= 2 {
		typ, n := script[0], min(int(script[1]), len(script)-2)
		content := script[2 : 2+n]
		script = script[2+n:]
		out = w.sealRecord(out, box, typ, content)
		if typ == typeHandshake && n == 5 && content[0] == hsKeyUpdate {
			w.updateOut(w.info()) // keep following a whole KeyUpdate
			box = &aeadBox{aead: w.out.newAEAD(w.suite, w.info())}
		}
	}
	return out
}

// The AEAD cache: built on first use, reused, dropped by Compact and on
// key changes, rebuilt transparently.
func TestAEADCacheAndCompact(t *testing.T) {
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			w, r := pair(t, s.id)
			if !w.Compacted() || !r.Compacted() {
				t.Fatal("new State has cached AEADs")
			}
			check := func(step string, wire []byte, want string) {
				t.Helper()
				plain, n, _, err := r.Open(nil, wire)
				if err != nil || n != len(wire) || string(plain) != want {
					t.Fatalf("%s: plain=%q n=%d/%d err=%v", step, plain, n, len(wire), err)
				}
			}
			check("first", w.Seal(nil, []byte("a")), "a")
			wb, rb := w.outAEAD.Load(), r.inAEAD.Load()
			if wb == nil || rb == nil {
				t.Fatal("AEAD not cached after use")
			}
			check("second", w.Seal(nil, []byte("b")), "b")
			if w.outAEAD.Load() != wb || r.inAEAD.Load() != rb {
				t.Fatal("AEAD rebuilt without a key change")
			}
			w.Compact()
			r.Compact()
			if !w.Compacted() || !r.Compacted() {
				t.Fatal("Compact left cached AEADs")
			}
			check("after compact", w.Seal(nil, []byte("c")), "c")
			// KeyUpdate (requested) with warm caches on both sides.
			wire := w.Seal(nil, []byte("d"))
			w.keyUpdatePending.Store(true)
			wire = w.Seal(wire, []byte("e"))
			if w.outAEAD.Load() == nil {
				t.Fatal("no AEAD after Seal")
			}
			check("key update", wire, "de")
			r.Compact()
			check("after key update", w.Seal(nil, []byte("f")), "f")
			// Compact between the halves of a direction's life: the reader
			// rekeys with an empty cache.
			w.Compact()
			wire = w.SealKeyUpdate(nil)
			w.Compact()
			wire = w.Seal(wire, []byte("g"))
			check("compacted key update", wire, "g")
		})
	}
}

// Compact may run concurrently with Open and Seal (run with -race).
func TestCompactConcurrent(t *testing.T) {
	w, r := pair(t, tls.TLS_AES_128_GCM_SHA256)
	const n = 2000
	wires := make(chan []byte, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-done:
				return
			default:
				w.Compact()
				r.Compact()
			}
		}
	}()
	go func() {
		for i := range n {
			wire := w.Seal(nil, pattern(i, 100))
			if i%100 == 7 {
				wire = w.SealKeyUpdate(wire)
			}
			wires <- wire
		}
		close(wires)
	}()
	i := 0
	for wire := range wires {
		plain, _, _, err := r.Open(nil, wire)
		if err != nil || !bytes.Equal(plain, pattern(i, 100)) {
			t.Fatalf("message %d: %v", i, err)
		}
		i++
	}
	done <- struct{}{}
	<-done
}
