package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	gobwas "github.com/gobwas/ws"
)

// testPayload returns n deterministic, non-repeating-every-4 bytes.
func testPayload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>8 + 3)
	}
	return p
}

// clientFrame builds a masked client frame with gobwas/ws. payload is not modified.
func clientFrame(tb testing.TB, op byte, fin bool, payload []byte) []byte {
	tb.Helper()
	p := append([]byte(nil), payload...)
	f := gobwas.NewFrame(gobwas.OpCode(op), fin, p)
	f = gobwas.MaskFrameInPlaceWith(f, gobwas.NewMask())
	b, err := gobwas.CompileFrame(f)
	if err != nil {
		tb.Fatalf("CompileFrame: %v", err)
	}
	return b
}

// clientHeader builds only the header (with mask key) of a masked client frame.
func clientHeader(tb testing.TB, h gobwas.Header) []byte {
	tb.Helper()
	h.Masked = true
	h.Mask = gobwas.NewMask()
	var buf bytes.Buffer
	if err := gobwas.WriteHeader(&buf, h); err != nil {
		tb.Fatalf("WriteHeader: %v", err)
	}
	return buf.Bytes()
}

// headerLen is the length of a client frame header (mask key included) for payload n.
func headerLen(n int) int {
	switch {
	case n <= 125:
		return 6
	case n <= 0xffff:
		return 8
	default:
		return 14
	}
}

var opNames = map[byte]string{
	OpContinuation: "cont",
	OpText:         "text",
	OpBinary:       "binary",
	OpClose:        "close",
	OpPing:         "ping",
	OpPong:         "pong",
}

var frameSizes = []int{0, 1, 125, 126, 65535, 65536, 100000}

type frameCase struct {
	name    string
	op      byte
	fin     bool
	payload []byte
}

func validFrameCases() []frameCase {
	var cases []frameCase
	for _, size := range frameSizes {
		payload := testPayload(size)
		for _, op := range []byte{OpText, OpBinary, OpContinuation, OpPing, OpPong, OpClose} {
			if IsControl(op) && size > 125 {
				continue
			}
			fins := []bool{true}
			if !IsControl(op) {
				fins = append(fins, false)
			}
			for _, fin := range fins {
				cases = append(cases, frameCase{
					name:    fmt.Sprintf("%s/fin=%v/%d", opNames[op], fin, size),
					op:      op,
					fin:     fin,
					payload: payload,
				})
			}
		}
	}
	return cases
}

func checkFrame(t *testing.T, f Frame, n int, err error, want frameCase, wantN int) {
	t.Helper()
	if err != nil {
		t.Fatalf("ParseFrame: unexpected error %v", err)
	}
	if n != wantN {
		t.Fatalf("n = %d, want %d", n, wantN)
	}
	if f.Op != want.op {
		t.Errorf("Op = %#x, want %#x", f.Op, want.op)
	}
	if f.Fin != want.fin {
		t.Errorf("Fin = %v, want %v", f.Fin, want.fin)
	}
	if len(f.Payload) != len(want.payload) {
		t.Fatalf("payload length = %d, want %d", len(f.Payload), len(want.payload))
	}
	if !bytes.Equal(f.Payload, want.payload) {
		t.Errorf("payload not unmasked correctly")
	}
}

func TestParseFrameComplete(t *testing.T) {
	for _, tc := range validFrameCases() {
		t.Run(tc.name, func(t *testing.T) {
			frame := clientFrame(t, tc.op, tc.fin, tc.payload)
			wantN := headerLen(len(tc.payload)) + len(tc.payload)
			if len(frame) != wantN {
				t.Fatalf("reference frame is %d bytes, want %d", len(frame), wantN)
			}
			// maxPayload equal to the payload size is allowed.
			f, n, err := ParseFrame(frame, len(tc.payload))
			checkFrame(t, f, n, err, tc, wantN)
			// The payload aliases the buffer: it was unmasked in place.
			if len(f.Payload) > 0 && &f.Payload[0] != &frame[headerLen(len(tc.payload))] {
				t.Errorf("payload does not alias the input buffer")
			}
		})
	}
}

// Control frames are bounded by 125 bytes, not by maxPayload.
func TestParseFrameControlIgnoresMaxPayload(t *testing.T) {
	for _, op := range []byte{OpPing, OpPong, OpClose} {
		payload := testPayload(125)
		frame := clientFrame(t, op, true, payload)
		f, n, err := ParseFrame(frame, 0)
		checkFrame(t, f, n, err, frameCase{op: op, fin: true, payload: payload}, len(frame))
	}
}

func TestParseFrameIncomplete(t *testing.T) {
	for _, tc := range validFrameCases() {
		if len(tc.payload) == 100000 && tc.op != OpBinary {
			continue // keeps the O(size) prefix loop cheap; other ops covered below
		}
		t.Run(tc.name, func(t *testing.T) {
			frame := clientFrame(t, tc.op, tc.fin, tc.payload)
			orig := append([]byte(nil), frame...)
			for i := 0; i < len(frame); i++ {
				f, n, err := ParseFrame(frame[:i:i], 1<<20)
				if n != 0 || err != nil {
					t.Fatalf("prefix of %d/%d bytes: n=%d err=%v, want 0, nil", i, len(frame), n, err)
				}
				if f.Payload != nil {
					t.Fatalf("prefix of %d bytes: non-nil payload", i)
				}
			}
			if !bytes.Equal(frame, orig) {
				t.Fatalf("incomplete parses modified the buffer")
			}
			f, n, err := ParseFrame(frame, 1<<20)
			checkFrame(t, f, n, err, tc, len(frame))
		})
	}
}

func TestParseFrameSequential(t *testing.T) {
	tests := []struct {
		name   string
		frames []frameCase
	}{
		{"text+text", []frameCase{
			{op: OpText, fin: true, payload: []byte("REGISTER sip:a SIP/2.0\r\n\r\n")},
			{op: OpText, fin: true, payload: []byte("OPTIONS sip:b SIP/2.0\r\n\r\n")},
		}},
		{"empty+ping", []frameCase{
			{op: OpBinary, fin: true, payload: nil},
			{op: OpPing, fin: true, payload: []byte("x")},
		}},
		{"fragmented+interleaved control", []frameCase{
			{op: OpText, fin: false, payload: testPayload(126)},
			{op: OpPing, fin: true, payload: testPayload(125)},
			{op: OpContinuation, fin: false, payload: testPayload(65536)},
			{op: OpContinuation, fin: true, payload: testPayload(1)},
			{op: OpClose, fin: true, payload: []byte{0x03, 0xe8}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf []byte
			for _, fc := range tt.frames {
				buf = append(buf, clientFrame(t, fc.op, fc.fin, fc.payload)...)
			}
			rest := buf
			for i, fc := range tt.frames {
				wantN := headerLen(len(fc.payload)) + len(fc.payload)
				f, n, err := ParseFrame(rest, 1<<20)
				if err != nil || n != wantN {
					t.Fatalf("frame %d: n=%d err=%v, want n=%d", i, n, err, wantN)
				}
				checkFrame(t, f, n, err, fc, wantN)
				rest = rest[n:]
			}
			if len(rest) != 0 {
				t.Fatalf("%d bytes left over", len(rest))
			}
			if _, n, err := ParseFrame(rest, 1<<20); n != 0 || err != nil {
				t.Fatalf("empty buffer: n=%d err=%v", n, err)
			}
		})
	}
}

// len64Header is a masked binary frame header with a 64-bit length field.
func len64Header(length uint64) []byte {
	b := []byte{0x82, 0x80 | 127}
	b = binary.BigEndian.AppendUint64(b, length)
	return append(b, 0x11, 0x22, 0x33, 0x44)
}

func TestParseFrameErrors(t *testing.T) {
	unmasked, err := gobwas.CompileFrame(gobwas.NewTextFrame([]byte("hello")))
	if err != nil {
		t.Fatal(err)
	}
	unmaskedEmpty, err := gobwas.CompileFrame(gobwas.NewPingFrame(nil))
	if err != nil {
		t.Fatal(err)
	}
	withRsv := func(rsv byte) []byte {
		f := gobwas.NewTextFrame([]byte("hi"))
		f.Header.Rsv = rsv
		f = gobwas.MaskFrameInPlace(f)
		b, err := gobwas.CompileFrame(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	type errCase struct {
		name string
		data []byte
		max  int
		want error
	}
	tests := []errCase{
		{"unmasked text", unmasked, 1 << 20, ErrProtocol},
		{"unmasked empty ping", unmaskedEmpty, 1 << 20, ErrProtocol},
		{"unmasked header only", unmasked[:2], 1 << 20, ErrProtocol},
		{"rsv1", withRsv(gobwas.Rsv(true, false, false)), 1 << 20, ErrProtocol},
		{"rsv2", withRsv(gobwas.Rsv(false, true, false)), 1 << 20, ErrProtocol},
		{"rsv3", withRsv(gobwas.Rsv(false, false, true)), 1 << 20, ErrProtocol},
		{"rsv all", withRsv(gobwas.Rsv(true, true, true)), 1 << 20, ErrProtocol},
		{"rsv1 header only", withRsv(gobwas.Rsv(true, false, false))[:2], 1 << 20, ErrProtocol},
	}
	for _, op := range []byte{0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		tests = append(tests,
			errCase{fmt.Sprintf("opcode %#x", op), clientFrame(t, op, true, []byte("x")), 1 << 20, ErrProtocol},
			errCase{fmt.Sprintf("opcode %#x header only", op), clientFrame(t, op, true, nil)[:2], 1 << 20, ErrProtocol},
		)
	}
	for _, op := range []byte{OpClose, OpPing, OpPong} {
		name := opNames[op]
		tests = append(tests,
			errCase{"fragmented " + name, clientFrame(t, op, false, []byte("x")), 1 << 20, ErrProtocol},
			errCase{"fragmented empty " + name, clientFrame(t, op, false, nil), 1 << 20, ErrProtocol},
			errCase{name + " payload 126", clientFrame(t, op, true, testPayload(126)), 1 << 20, ErrProtocol},
			errCase{name + " payload 126 header only", clientHeader(t, gobwas.Header{Fin: true, OpCode: gobwas.OpCode(op), Length: 126})[:4], 1 << 20, ErrProtocol},
			errCase{name + " payload 65536 header only", clientHeader(t, gobwas.Header{Fin: true, OpCode: gobwas.OpCode(op), Length: 65536})[:10], 1 << 20, ErrProtocol},
		)
	}
	tests = append(tests,
		errCase{"64-bit length top bit", len64Header(1 << 63), 1 << 20, ErrProtocol},
		errCase{"64-bit length all ones", len64Header(math.MaxUint64), math.MaxInt, ErrProtocol},
		errCase{"64-bit length top bit no mask key", len64Header(1 << 63)[:10], math.MaxInt, ErrProtocol},
	)
	// Too big: fails with just the header bytes, before the mask key and payload arrive.
	for _, tb := range []struct {
		max, length int
	}{
		{0, 1}, {10, 11}, {124, 125}, {125, 126}, {1000, 1001}, {65534, 65535}, {65535, 65536}, {65536, 100000},
	} {
		for _, op := range []byte{OpText, OpBinary, OpContinuation} {
			h := clientHeader(t, gobwas.Header{Fin: true, OpCode: gobwas.OpCode(op), Length: int64(tb.length)})
			lenEnd := len(h) - 4 // header without mask key
			tests = append(tests,
				errCase{fmt.Sprintf("too big %s %d>%d", opNames[op], tb.length, tb.max), h[:lenEnd], tb.max, ErrTooBig},
				errCase{fmt.Sprintf("too big %s %d>%d with mask", opNames[op], tb.length, tb.max), h, tb.max, ErrTooBig},
			)
		}
	}
	tests = append(tests, errCase{"too big 64-bit length max int63", len64Header(math.MaxInt64)[:10], 1 << 20, ErrTooBig})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, n, err := ParseFrame(tt.data, tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			other := ErrTooBig
			if tt.want == ErrTooBig {
				other = ErrProtocol
			}
			if errors.Is(err, other) {
				t.Errorf("err = %v also matches %v", err, other)
			}
			if n != 0 {
				t.Errorf("n = %d, want 0 on error", n)
			}
			if f.Payload != nil {
				t.Errorf("payload set on error")
			}
		})
	}
}

// A too-big frame is reported exactly when its length field is complete.
func TestParseFrameTooBigEarly(t *testing.T) {
	for _, length := range []int{126, 65536} {
		h := clientHeader(t, gobwas.Header{Fin: true, OpCode: gobwas.OpText, Length: int64(length)})
		lenEnd := len(h) - 4
		for i := 0; i < lenEnd; i++ {
			if _, n, err := ParseFrame(h[:i], length-1); n != 0 || err != nil {
				t.Fatalf("length %d, prefix %d: n=%d err=%v, want 0, nil", length, i, n, err)
			}
		}
		if _, _, err := ParseFrame(h[:lenEnd], length-1); !errors.Is(err, ErrTooBig) {
			t.Fatalf("length %d: err = %v, want ErrTooBig", length, err)
		}
	}
}

// A huge maxPayload (e.g. math.MaxInt as "no limit") must not overflow the frame end.
func TestParseFrameHugeMaxPayload(t *testing.T) {
	for _, length := range []uint64{math.MaxInt64, math.MaxInt64 - 13, math.MaxInt64 - 14, 1 << 62, 1 << 32} {
		data := append(len64Header(length), 1, 2, 3)
		f, n, err := ParseFrame(data, math.MaxInt)
		if n != 0 || err != nil || f.Payload != nil {
			t.Fatalf("length %d: n=%d err=%v, want incomplete", length, n, err)
		}
	}
}

func TestAppendFrameRoundTrip(t *testing.T) {
	for _, size := range []int{0, 125, 126, 65535, 65536} {
		for _, op := range []byte{OpText, OpBinary, OpPing, OpPong, OpClose} {
			if IsControl(op) && size > 125 {
				continue
			}
			t.Run(fmt.Sprintf("%s/%d", opNames[op], size), func(t *testing.T) {
				payload := testPayload(size)
				prefix := []byte("prefix")
				out := AppendFrame(append([]byte(nil), prefix...), op, payload)
				if !bytes.HasPrefix(out, prefix) {
					t.Fatalf("dst prefix clobbered")
				}
				frame := out[len(prefix):]
				if len(frame) != FrameSize(size) {
					t.Errorf("frame is %d bytes, FrameSize(%d) = %d", len(frame), size, FrameSize(size))
				}
				r := bytes.NewReader(frame)
				got, err := gobwas.ReadFrame(r)
				if err != nil {
					t.Fatalf("gobwas.ReadFrame: %v", err)
				}
				if r.Len() != 0 {
					t.Errorf("%d trailing bytes", r.Len())
				}
				h := got.Header
				if !h.Fin || h.Masked || h.Rsv != 0 || h.OpCode != gobwas.OpCode(op) || h.Length != int64(size) {
					t.Errorf("header = %+v, want Fin, unmasked, op %#x, length %d", h, op, size)
				}
				if !bytes.Equal(got.Payload, payload) {
					t.Errorf("payload mismatch")
				}
			})
		}
	}
}

func TestFrameSize(t *testing.T) {
	for _, n := range []int{0, 1, 124, 125, 126, 127, 1000, 65534, 65535, 65536, 65537, 100000} {
		if got, want := FrameSize(n), len(AppendFrame(nil, OpBinary, make([]byte, n))); got != want {
			t.Errorf("FrameSize(%d) = %d, want %d", n, got, want)
		}
	}
}

// readServerClose reads a server close frame with gobwas and validates its payload.
func readServerClose(t *testing.T, frame []byte) (uint16, string, []byte) {
	t.Helper()
	r := bytes.NewReader(frame)
	f, err := gobwas.ReadFrame(r)
	if err != nil {
		t.Fatalf("gobwas.ReadFrame: %v", err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d trailing bytes", r.Len())
	}
	if !f.Header.Fin || f.Header.Masked || f.Header.OpCode != gobwas.OpClose {
		t.Fatalf("header = %+v, want unmasked final close", f.Header)
	}
	if len(f.Payload) > 125 {
		t.Fatalf("close payload %d > 125 bytes", len(f.Payload))
	}
	if len(f.Payload) < 2 {
		t.Fatalf("close payload %d < 2 bytes", len(f.Payload))
	}
	code := binary.BigEndian.Uint16(f.Payload)
	return code, string(f.Payload[2:]), f.Payload
}

func TestAppendClose(t *testing.T) {
	tests := []struct {
		name       string
		code       uint16
		reason     string
		wantReason string
	}{
		{"no reason", CloseNormal, "", ""},
		{"short", CloseGoingAway, "bye", "bye"},
		{"too big", CloseTooBig, "message too big", "message too big"},
		{"ascii 123 kept", CloseProtocolError, strings.Repeat("a", 123), strings.Repeat("a", 123)},
		{"ascii 124 cut", CloseProtocolError, strings.Repeat("a", 124), strings.Repeat("a", 123)},
		{"ascii 1000 cut", ClosePolicyViolation, strings.Repeat("b", 1000), strings.Repeat("b", 123)},
		// 2-byte runes: 61 fit in 122 bytes.
		{"2-byte runes", CloseInvalidPayload, strings.Repeat("é", 100), strings.Repeat("é", 61)},
		// 3-byte runes: 41 fill 123 bytes exactly.
		{"3-byte runes", CloseInternalError, strings.Repeat("€", 60), strings.Repeat("€", 41)},
		// 4-byte runes: 30 fit in 120 bytes.
		{"4-byte runes", CloseInternalError, strings.Repeat("😀", 40), strings.Repeat("😀", 30)},
		// Mixed: a cut inside the 4-byte rune after 122 ASCII bytes.
		{"ascii then emoji", CloseNormal, strings.Repeat("x", 122) + "😀😀", strings.Repeat("x", 122)},
		{"ascii then 2-byte", CloseNormal, strings.Repeat("x", 122) + "éé", strings.Repeat("x", 122)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte{0xde, 0xad}
			out := AppendClose(append([]byte(nil), prefix...), tt.code, tt.reason)
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("dst prefix clobbered")
			}
			code, reason, payload := readServerClose(t, out[len(prefix):])
			if code != tt.code {
				t.Errorf("code = %d, want %d", code, tt.code)
			}
			if !utf8.ValidString(reason) {
				t.Errorf("reason is not valid UTF-8: %q", reason)
			}
			if reason != tt.wantReason {
				t.Errorf("reason = %q (%d bytes), want %q (%d bytes)", reason, len(reason), tt.wantReason, len(tt.wantReason))
			}
			if !strings.HasPrefix(tt.reason, reason) {
				t.Errorf("reason %q is not a prefix of %q", reason, tt.reason)
			}
			// The edge's own close frames pass its own validation.
			gotCode, gotReason, err := ParseClose(payload)
			if err != nil || gotCode != tt.code || string(gotReason) != tt.wantReason {
				t.Errorf("ParseClose = %d, %q, %v", gotCode, gotReason, err)
			}
		})
	}
}

func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

func TestParseClose(t *testing.T) {
	type closeCase struct {
		name       string
		payload    []byte
		wantCode   uint16
		wantReason string
		wantErr    bool
	}
	tests := []closeCase{
		{"empty", nil, CloseNoStatus, "", false},
		{"empty non-nil", []byte{}, CloseNoStatus, "", false},
		{"one byte", []byte{0x03}, 0, "", true},
		{"one byte zero", []byte{0x00}, 0, "", true},
		{"code only", closePayload(1000, ""), 1000, "", false},
		{"code and reason", closePayload(1001, "going away"), 1001, "going away", false},
		{"multibyte reason", closePayload(4000, "日本語 ok 😀"), 4000, "日本語 ok 😀", false},
		{"invalid utf8 reason", closePayload(1000, "bad \xff reason"), 0, "", true},
		{"truncated rune reason", closePayload(1000, "€"[:2]), 0, "", true},
		{"surrogate reason", closePayload(1000, "\xed\xa0\x80"), 0, "", true},
		{"overlong reason", closePayload(1000, "\xc0\xaf"), 0, "", true},
	}
	for _, c := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		tests = append(tests, closeCase{fmt.Sprintf("valid %d", c), closePayload(c, "r"), c, "r", false})
	}
	for _, c := range []uint16{0, 1, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535} {
		tests = append(tests,
			closeCase{fmt.Sprintf("invalid %d", c), closePayload(c, ""), 0, "", true},
			closeCase{fmt.Sprintf("invalid %d with reason", c), closePayload(c, "why"), 0, "", true},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason, err := ParseClose(tt.payload)
			if tt.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("err = %v, want ErrProtocol", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d", code, tt.wantCode)
			}
			if string(reason) != tt.wantReason {
				t.Errorf("reason = %q, want %q", reason, tt.wantReason)
			}
		})
	}
}

func FuzzParseFrame(f *testing.F) {
	seed := func(op byte, fin bool, payload []byte) []byte {
		return clientFrame(f, op, fin, payload)
	}
	f.Add(seed(OpText, true, []byte("hello")), uint16(1024))
	f.Add(seed(OpBinary, false, testPayload(126)), uint16(200))
	f.Add(seed(OpBinary, true, testPayload(300)), uint16(100))
	f.Add(seed(OpContinuation, true, testPayload(125)), uint16(125))
	f.Add(seed(OpPing, true, []byte("p")), uint16(0))
	f.Add(seed(OpClose, true, closePayload(1000, "bye")), uint16(10))
	f.Add(append(seed(OpText, true, []byte("a")), seed(OpPong, true, nil)...), uint16(10))
	f.Add(len64Header(70000), uint16(65535))
	f.Add(seed(OpText, true, []byte("hello"))[:4], uint16(1024))

	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		b := append([]byte(nil), data...)
		fr, n, err := ParseFrame(b, int(max))
		if err != nil {
			if n != 0 {
				t.Fatalf("n = %d with error %v", n, err)
			}
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrTooBig) {
				t.Fatalf("unexpected error type %v", err)
			}
			return
		}
		if n == 0 {
			if fr.Payload != nil {
				t.Fatalf("payload without a frame")
			}
			return
		}
		if n > len(data) {
			t.Fatalf("n = %d > len(data) = %d", n, len(data))
		}
		pl := len(fr.Payload)
		if IsControl(fr.Op) {
			if pl > 125 {
				t.Fatalf("control payload %d > 125", pl)
			}
			if !fr.Fin {
				t.Fatalf("fragmented control frame accepted")
			}
		} else if pl > int(max) {
			t.Fatalf("data payload %d > max %d", pl, max)
		}
		if n < pl+6 {
			t.Fatalf("n = %d too small for payload %d", n, pl)
		}
		// Cross-check the header with gobwas and the unmasking by hand.
		h, herr := gobwas.ReadHeader(bytes.NewReader(data))
		if herr != nil {
			t.Fatalf("gobwas rejects accepted header: %v", herr)
		}
		if !h.Masked || h.Rsv != 0 || h.Fin != fr.Fin || byte(h.OpCode) != fr.Op || h.Length != int64(pl) {
			t.Fatalf("gobwas header %+v disagrees with frame fin=%v op=%#x len=%d", h, fr.Fin, fr.Op, pl)
		}
		// The wire header size follows the length code, which may be non-minimal.
		hs := 6
		switch data[1] & 0x7f {
		case 126:
			hs += 2
		case 127:
			hs += 8
		}
		if n != hs+pl {
			t.Fatalf("n = %d, header %d + payload %d", n, hs, pl)
		}
		want := append([]byte(nil), data[n-pl:n]...)
		gobwas.Cipher(want, h.Mask, 0)
		if !bytes.Equal(fr.Payload, want) {
			t.Fatalf("payload not unmasked correctly")
		}
		if pl > 0 && &fr.Payload[0] != &b[n-pl] {
			t.Fatalf("payload does not alias the buffer")
		}
	})
}

func BenchmarkParseFrame(b *testing.B) {
	frame := clientFrame(b, OpText, true, bytes.Repeat([]byte("SIP/2.0 200 OK\r\n"), 600/16+1)[:600])
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		// Each parse unmasks in place again (XOR toggles); the cost is the same.
		_, n, err := ParseFrame(frame, 1<<16)
		if err != nil || n != len(frame) {
			b.Fatalf("n=%d err=%v", n, err)
		}
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	for _, size := range []int{125, 600, 65536} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			payload := testPayload(size)
			buf := make([]byte, 0, FrameSize(size))
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				buf = AppendFrame(buf[:0], OpText, payload)
			}
			if len(buf) != FrameSize(size) {
				b.Fatalf("len = %d", len(buf))
			}
		})
	}
}
