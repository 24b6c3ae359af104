package flow

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
)

// testSecret is a deterministic 32-byte secret per (id, generation), so a test can make two
// different secrets for the same id.
func testSecret(id uint8, gen byte) []byte {
	s := sha256.Sum256([]byte{'f', 'l', 'o', 'w', gen, id})
	return s[:]
}

func testKey(id uint8) Key { return Key{ID: id, Secret: testSecret(id, 0)} }

func mustRing(t testing.TB, current uint8, ids ...uint8) *Keyring {
	t.Helper()
	keys := make([]Key, len(ids))
	for i, id := range ids {
		keys[i] = testKey(id)
	}
	k, err := NewKeyring(current, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fullRing holds every key id, so a tampered key id always meets a key and must fail the MAC.
func fullRing(t testing.TB) *Keyring {
	t.Helper()
	ids := make([]uint8, 256)
	for i := range ids {
		ids[i] = uint8(i)
	}
	return mustRing(t, 1, ids...)
}

// sign appends a valid MAC to body and encodes it: lets tests build well-signed tokens whose
// fields are wrong, to check that Decode rejects them for the field and not just for the MAC.
func sign(secret, body []byte) string {
	h := hmac.New(sha256.New, secret)
	h.Write(body)
	raw := append(append([]byte(nil), body...), h.Sum(nil)[:macLen]...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func body(ver, keyID uint8, serial uint64, nodeLen int, node string) []byte {
	b := []byte{ver, keyID}
	b = binary.BigEndian.AppendUint64(b, serial)
	b = append(b, byte(nodeLen))
	return append(b, node...)
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		current uint8
		ring    []uint8
		flow    Flow
	}{
		{"short node", 1, []uint8{1}, Flow{Node: "a", Serial: 1}},
		{"zero serial", 1, []uint8{1}, Flow{Node: "edge-0", Serial: 0}},
		{"max serial", 1, []uint8{1}, Flow{Node: "edge-0", Serial: math.MaxUint64}},
		{"pod name", 2, []uint8{1, 2}, Flow{Node: "sipws-edge-7d9f8b6c5-x2k4q", Serial: 123456789}},
		{"32-byte node", 7, []uint8{7}, Flow{Node: strings.Repeat("Zz_-09", 5) + "ab", Serial: 1 << 40}},
		{"key id 0", 0, []uint8{0, 255}, Flow{Node: "n", Serial: 42}},
		{"key id 255", 255, []uint8{0, 255}, Flow{Node: "N_1", Serial: 42}},
		{"KeyID ignored by Encode", 3, []uint8{3}, Flow{Node: "x", Serial: 9, KeyID: 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := mustRing(t, tt.current, tt.ring...)
			tok, err := k.Encode(tt.flow)
			if err != nil {
				t.Fatal(err)
			}
			raw := 11 + len(tt.flow.Node) + 12
			if want := base64.RawURLEncoding.EncodedLen(raw); len(tok) != want {
				t.Errorf("len(%q) = %d, want %d", tok, len(tok), want)
			}
			if i := strings.IndexFunc(tok, func(r rune) bool { return r >= 256 || !alphabet[r] }); i >= 0 {
				t.Errorf("token %q has %q outside [A-Za-z0-9_-]", tok, tok[i])
			}
			got, err := k.Decode(tok)
			if err != nil {
				t.Fatalf("Decode(%q): %v", tok, err)
			}
			want := tt.flow
			want.KeyID = tt.current
			if got != want {
				t.Errorf("Decode = %+v, want %+v", got, want)
			}
			b, err := k.AppendEncode([]byte("sip:"), tt.flow)
			if err != nil || string(b) != "sip:"+tok {
				t.Errorf("AppendEncode = %q, %v; want %q", b, err, "sip:"+tok)
			}
		})
	}
}

func TestEncodeDeterministicAndDistinct(t *testing.T) {
	k := mustRing(t, 1, 1)
	seen := map[string]Flow{}
	for _, node := range []string{"a", "b", "edge-1", "edge-10"} {
		for _, serial := range []uint64{0, 1, 2, 1 << 32, math.MaxUint64} {
			f := Flow{Node: node, Serial: serial}
			tok, _ := k.Encode(f)
			again, _ := k.Encode(f)
			if tok != again {
				t.Fatalf("Encode(%+v) not deterministic: %q, %q", f, tok, again)
			}
			if prev, dup := seen[tok]; dup {
				t.Fatalf("%+v and %+v share token %q", prev, f, tok)
			}
			seen[tok] = f
		}
	}
	// Same flow, different secret: different token.
	other, _ := NewKeyring(1, Key{ID: 1, Secret: testSecret(1, 1)})
	a, _ := k.Encode(Flow{Node: "a", Serial: 1})
	b, _ := other.Encode(Flow{Node: "a", Serial: 1})
	if a == b {
		t.Error("tokens under different secrets are equal")
	}
}

func TestEncodeInvalidNode(t *testing.T) {
	k := mustRing(t, 1, 1)
	for _, node := range []string{"", strings.Repeat("a", 33), "a.b", "a*", ">", "a b", "é", "a\n"} {
		if tok, err := k.Encode(Flow{Node: node, Serial: 1}); err == nil {
			t.Errorf("Encode(node %q) = %q, want error", node, tok)
		}
		dst := []byte("keep")
		if b, err := k.AppendEncode(dst, Flow{Node: node}); err == nil || string(b) != "keep" {
			t.Errorf("AppendEncode(node %q) = %q, %v; want dst unchanged and error", node, b, err)
		}
	}
}

func TestValidNode(t *testing.T) {
	tests := []struct {
		node string
		want bool
	}{
		{"a", true},
		{"edge-0", true},
		{"A_z-9", true},
		{strings.Repeat("x", 32), true},
		{"", false},
		{strings.Repeat("x", 33), false},
		{"a.b", false},
		{"a*", false},
		{"a>", false},
		{"a b", false},
		{"a\t", false},
		{"a=", false},
		{"a+b", false},
		{"a/b", false},
		{"ü", false},
		{"\x00", false},
	}
	for _, tt := range tests {
		if got := ValidNode(tt.node); got != tt.want {
			t.Errorf("ValidNode(%q) = %v, want %v", tt.node, got, tt.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	k := mustRing(t, 1, 1)
	sec := testSecret(1, 0)
	good, err := k.Encode(Flow{Node: "edge-1", Serial: 77})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Decode(sign(sec, body(1, 1, 77, 6, "edge-1"))); err != nil {
		t.Fatalf("sign helper out of step with Encode: %v", err)
	}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrMalformed},
		{"too short", good[:31], ErrMalformed},
		{"too long", strings.Repeat("A", 75), ErrMalformed},
		{"bad char dot", good[:10] + "." + good[11:], ErrMalformed},
		{"bad char plus", good[:10] + "+" + good[11:], ErrMalformed},
		{"bad char slash", good[:10] + "/" + good[11:], ErrMalformed},
		{"padding", good + "=", ErrMalformed},
		{"newline", good[:10] + "\n" + good[10:], ErrMalformed},
		{"CR", good[:10] + "\r" + good[10:], ErrMalformed},
		{"non-ASCII", good[:10] + "é" + good[12:], ErrMalformed},
		{"length 4n+1", good + "A", ErrMalformed},
		{"dropped char", good[:len(good)-1], ErrMalformed},
		{"non-zero trailing bits", must(nonCanonical(good)), ErrMalformed},
		{"corrupted char", corrupt(good), ErrBadMAC},
		{"raw too short", base64.RawURLEncoding.EncodeToString(make([]byte, 23)), ErrMalformed},
		{"raw too long", base64.RawURLEncoding.EncodeToString(make([]byte, 56)), ErrMalformed},
		{"version 0", sign(sec, body(0, 1, 77, 6, "edge-1")), ErrMalformed},
		{"version 2", sign(sec, body(2, 1, 77, 6, "edge-1")), ErrMalformed},
		{"node length 0", sign(sec, body(1, 1, 77, 0, "edge-1")), ErrMalformed},
		{"node length 33", sign(sec, body(1, 1, 77, 33, strings.Repeat("a", 33))), ErrMalformed},
		{"node length 255", sign(sec, body(1, 1, 77, 255, strings.Repeat("a", 32))), ErrMalformed},
		{"node length overflows", sign(sec, body(1, 1, 77, 20, "edge-1")), ErrMalformed},
		{"node length short", sign(sec, body(1, 1, 77, 5, "edge-1")), ErrMalformed},
		{"node dot", sign(sec, body(1, 1, 77, 6, "edge.1")), ErrMalformed},
		{"node star", sign(sec, body(1, 1, 77, 6, "edge-*")), ErrMalformed},
		{"node gt", sign(sec, body(1, 1, 77, 6, "edge->")), ErrMalformed},
		{"node space", sign(sec, body(1, 1, 77, 6, "edge 1")), ErrMalformed},
		{"node NUL", sign(sec, body(1, 1, 77, 6, "edge\x001")), ErrMalformed},
		{"node high byte", sign(sec, body(1, 1, 77, 6, "edge\xff1")), ErrMalformed},
		{"unknown key id", sign(testSecret(2, 0), body(1, 2, 77, 6, "edge-1")), ErrUnknownKey},
		{"wrong secret", sign(testSecret(1, 1), body(1, 1, 77, 6, "edge-1")), ErrBadMAC},
		{"zero MAC", base64.RawURLEncoding.EncodeToString(append(body(1, 1, 77, 6, "edge-1"), make([]byte, 12)...)), ErrBadMAC},
		{"serial changed", tamper(t, good, func(b []byte) { b[9]++ }), ErrBadMAC},
		{"node changed", tamper(t, good, func(b []byte) { b[11] = 'E' }), ErrBadMAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := k.Decode(tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%q) = %+v, %v; want %v", tt.token, f, err, tt.want)
			}
			if f != (Flow{}) {
				t.Errorf("Decode failed but returned %+v", f)
			}
			for _, other := range []error{ErrMalformed, ErrUnknownKey, ErrBadMAC} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
		})
	}
}

// nonCanonical sets the unused low bits of the last character: base64 decoders that are not
// strict accept it as the same bytes, which would give one flow two tokens. ok is false when
// the raw length is a multiple of 3, which leaves no unused bits.
func nonCanonical(tok string) (s string, ok bool) {
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	if len(raw)%3 == 0 {
		return "", false
	}
	const enc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(enc, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(enc[last|1]), true
}

// corrupt changes one character of tok, keeping the alphabet. Character 8 holds serial bits, so
// the token stays well formed and only the MAC can catch it.
func corrupt(tok string) string {
	const i = 8
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func must(s string, ok bool) string {
	if !ok {
		panic("no non-canonical form")
	}
	return s
}

// tamper decodes tok, edits its raw bytes and re-encodes it without fixing the MAC.
func tamper(t *testing.T, tok string, edit func([]byte)) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	edit(raw)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// TestBitFlips flips every bit of a token, both in its text and in its raw bytes: no single
// flip may decode. The ring holds all 256 key ids so that a flipped key id meets a real key and
// must be caught by the MAC rather than by luck.
func TestBitFlips(t *testing.T) {
	k := fullRing(t)
	for _, f := range []Flow{{Node: "e", Serial: 1}, {Node: "edge-1", Serial: 77}, {Node: strings.Repeat("n", 32), Serial: math.MaxUint64}} {
		tok, err := k.Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		check := func(what, bad string) {
			t.Helper()
			got, err := k.Decode(bad)
			if err == nil {
				t.Fatalf("%s: %q decoded to %+v", what, bad, got)
			}
			if !errors.Is(err, ErrBadMAC) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: %q: error %v, want ErrBadMAC or ErrMalformed", what, bad, err)
			}
		}
		for i := range len(tok) {
			for bit := range 8 {
				b := []byte(tok)
				b[i] ^= 1 << bit
				check("text", string(b))
			}
		}
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		for i := range raw {
			for bit := range 8 {
				b := append([]byte(nil), raw...)
				b[i] ^= 1 << bit
				check("raw", base64.RawURLEncoding.EncodeToString(b))
			}
		}
	}
}

func TestRotation(t *testing.T) {
	old := mustRing(t, 1, 1)       // before rotation
	both := mustRing(t, 2, 1, 2)   // new key added and current
	rotated := mustRing(t, 2, 2)   // old key removed after flows drained
	staged := mustRing(t, 1, 1, 2) // new key added everywhere, not yet current
	f := Flow{Node: "edge-1", Serial: 5}
	tokOld, _ := old.Encode(f)
	tokNew, _ := both.Encode(f)

	tests := []struct {
		name  string
		ring  *Keyring
		token string
		keyID uint8
		err   error
	}{
		{"old token, old ring", old, tokOld, 1, nil},
		{"old token, staged ring", staged, tokOld, 1, nil},
		{"old token, both keys", both, tokOld, 1, nil},
		{"old token, old key removed", rotated, tokOld, 0, ErrUnknownKey},
		{"new token, staged ring", staged, tokNew, 2, nil},
		{"new token, both keys", both, tokNew, 2, nil},
		{"new token, rotated ring", rotated, tokNew, 2, nil},
		{"new token, ring without new key", old, tokNew, 0, ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.ring.Decode(tt.token)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Decode: %v, want %v", err, tt.err)
			}
			if err == nil && (got.Node != f.Node || got.Serial != f.Serial || got.KeyID != tt.keyID) {
				t.Errorf("Decode = %+v, want %+v with KeyID %d", got, f, tt.keyID)
			}
		})
	}
	if tokOld == tokNew {
		t.Error("tokens under different keys are equal")
	}
	if both.Current() != 2 || staged.Current() != 1 {
		t.Errorf("Current() = %d, %d; want 2, 1", both.Current(), staged.Current())
	}
}

func TestNewKeyring(t *testing.T) {
	tests := []struct {
		name    string
		current uint8
		keys    []Key
		err     string // substring; "" for success
	}{
		{"one key", 1, []Key{testKey(1)}, ""},
		{"two keys", 2, []Key{testKey(1), testKey(2)}, ""},
		{"long secret", 1, []Key{{ID: 1, Secret: make([]byte, 100)}}, ""},
		{"no keys", 1, nil, "no keys"},
		{"duplicate id", 1, []Key{testKey(1), testKey(1)}, "duplicate key id 1"},
		{"short secret", 1, []Key{{ID: 1, Secret: make([]byte, 31)}}, "secret is 31 bytes"},
		{"nil secret", 1, []Key{{ID: 1}}, "secret is 0 bytes"},
		{"current missing", 3, []Key{testKey(1), testKey(2)}, "current key 3 is not in the key ring"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewKeyring(tt.current, tt.keys...)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if k.Current() != tt.current {
					t.Errorf("Current() = %d, want %d", k.Current(), tt.current)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestNewKeyringCopiesSecret(t *testing.T) {
	secret := testSecret(1, 0)
	k, err := NewKeyring(1, Key{ID: 1, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := k.Encode(Flow{Node: "a", Serial: 1})
	for i := range secret {
		secret[i] = 0
	}
	if _, err := k.Decode(tok); err != nil {
		t.Fatalf("ring changed with the caller's slice: %v", err)
	}
}

func TestRandomKeyring(t *testing.T) {
	a, b := RandomKeyring(), RandomKeyring()
	if a.Current() != 1 {
		t.Errorf("Current() = %d, want 1", a.Current())
	}
	f := Flow{Node: "local", Serial: 1}
	tok, err := a.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.Decode(tok); err != nil || got.Node != f.Node || got.Serial != f.Serial {
		t.Errorf("Decode = %+v, %v", got, err)
	}
	if _, err := b.Decode(tok); !errors.Is(err, ErrBadMAC) {
		t.Errorf("another random ring: %v, want ErrBadMAC", err)
	}
}

// TestConcurrent exercises the pooled HMAC states under -race.
func TestConcurrent(t *testing.T) {
	k := mustRing(t, 2, 1, 2)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				f := Flow{Node: "edge-" + string(rune('a'+g)), Serial: uint64(i)}
				tok, err := k.Encode(f)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := k.Decode(tok)
				if err != nil || got.Node != f.Node || got.Serial != f.Serial {
					t.Errorf("Decode(%q) = %+v, %v; want %+v", tok, got, err, f)
					return
				}
				if _, err := k.Decode(corrupt(tok)); err == nil {
					t.Error("tampered token decoded")
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzDecode(f *testing.F) {
	k := mustRing(f, 2, 1, 2)
	// Re-encoding needs a ring whose current key is the one that signed the token.
	byKey := map[uint8]*Keyring{1: mustRing(f, 1, 1, 2), 2: k}
	for _, fl := range []Flow{{Node: "a"}, {Node: "edge-1", Serial: 77}, {Node: strings.Repeat("Z", 32), Serial: math.MaxUint64}} {
		for _, r := range byKey {
			tok, _ := r.Encode(fl)
			f.Add(tok)
			f.Add(tok[:len(tok)-1])
			f.Add(tok + "A")
			f.Add(strings.ToUpper(tok))
			if s, ok := nonCanonical(tok); ok {
				f.Add(s)
			}
		}
	}
	sec := testSecret(1, 0)
	for _, s := range []string{
		"",
		"=",
		strings.Repeat("A", 32),
		strings.Repeat("_", 74),
		strings.Repeat("-", 75),
		sign(sec, body(2, 1, 1, 1, "a")),
		sign(sec, body(1, 1, 1, 0, "")),
		sign(sec, body(1, 1, 1, 40, "a")),
		sign(sec, body(1, 1, 1, 1, ".")),
		sign(testSecret(9, 0), body(1, 9, 1, 1, "a")),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		got, err := k.Decode(token)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrBadMAC) {
				t.Fatalf("Decode(%q): unexpected error %v", token, err)
			}
			if got != (Flow{}) {
				t.Fatalf("Decode(%q) failed but returned %+v", token, got)
			}
			return
		}
		r := byKey[got.KeyID]
		if r == nil {
			t.Fatalf("Decode(%q) = %+v: key id not in the ring", token, got)
		}
		again, err := r.Encode(got)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", got, err)
		}
		if again != token {
			t.Fatalf("Decode(%q) = %+v, which encodes to %q", token, got, again)
		}
	})
}

var sinkFlow Flow
var sinkToken string

func BenchmarkEncode(b *testing.B) {
	k := mustRing(b, 1, 1)
	f := Flow{Node: "sipws-edge-7d9f8b6c5-x2k4q", Serial: 123456789}
	b.ReportAllocs()
	for b.Loop() {
		f.Serial++
		sinkToken, _ = k.Encode(f)
	}
}

func BenchmarkAppendEncode(b *testing.B) {
	k := mustRing(b, 1, 1)
	f := Flow{Node: "sipws-edge-7d9f8b6c5-x2k4q", Serial: 123456789}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		f.Serial++
		buf, _ = k.AppendEncode(buf[:0], f)
	}
}

func BenchmarkDecode(b *testing.B) {
	k := mustRing(b, 1, 1)
	tok, err := k.Encode(Flow{Node: "sipws-edge-7d9f8b6c5-x2k4q", Serial: 123456789})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkFlow, err = k.Decode(tok)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeGarbage is the cost of rejecting a forged token: well formed, so the MAC is
// computed; this is the most anyone can make a node spend per token.
func BenchmarkDecodeGarbage(b *testing.B) {
	k := mustRing(b, 1, 1)
	tok, _ := k.Encode(Flow{Node: "sipws-edge-7d9f8b6c5-x2k4q", Serial: 123456789})
	bad := corrupt(tok)
	b.ReportAllocs()
	for b.Loop() {
		sinkFlow, _ = k.Decode(bad)
	}
}
