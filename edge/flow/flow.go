// Package flow builds and checks flow tokens: the name of one WebSocket connection (a "flow",
// RFC 5626) on one edge node. The edge puts the token in Path and Record-Route URIs and in NATS
// subjects; when a request comes back carrying it, the token alone says which node holds the
// connection (so a router can publish to sipws.<gw>.out.<node>.<token> without shared state),
// and its MAC says that an edge of this gateway issued it (RFC 5626 §5.2: recoverable and
// tamper-proof).
//
// # Token format
//
// A token is the base64url encoding, without padding, of
//
//	offset  size  field
//	0       1     version (1)
//	1       1     key id: which key of the ring signed the token
//	2       8     serial, big-endian: connection serial, unique per node
//	10      1     node length n, 1..32
//	11      n     node id, bytes of [A-Za-z0-9_-]
//	11+n    12    MAC: the first 12 bytes of HMAC-SHA256(key, bytes 0..11+n)
//
// so a raw token is 24..55 bytes and a token 32..74 characters of [A-Za-z0-9_-]. That alphabet
// is valid unescaped in a SIP URI user part and as a single NATS subject token (no '.', '*',
// '>' or white space). Tokens are authenticated, not encrypted: node and serial are readable,
// and are not secrets. The MAC covers version and key id too, so neither can be swapped. A
// 96-bit MAC is ample here: forging needs an online guess per attempt.
//
// Decoding is strict: exactly one string encodes a given flow under a given key (no padding,
// no line breaks, no non-zero trailing bits), so tokens can be compared and used as map keys
// as strings.
//
// # Keys and rotation
//
// All pods of a gateway share a [Keyring] (a YAML file from a Secret, see [ParseKeyring]).
// Encode signs with the current key; Decode accepts any key in the ring. To rotate: add the
// new key to every pod's ring, then make it current, then remove the old key once the flows it
// signed have drained. A token whose key was removed fails with [ErrUnknownKey].
package flow

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// Flow is what a token carries.
type Flow struct {
	Node   string // edge node id, 1..32 bytes of [A-Za-z0-9_-]
	Serial uint64 // connection serial, unique per node
	KeyID  uint8  // key that signed it (filled by Decode; ignored by Encode, which uses the current key)
}

const (
	version     = 1
	maxNode     = 32
	macLen      = 12
	headerLen   = 11 // version, key id, serial, node length
	minRawLen   = headerLen + 1 + macLen
	maxRawLen   = headerLen + maxNode + macLen
	minTokenLen = (minRawLen*8 + 5) / 6 // unpadded base64 length
	maxTokenLen = (maxRawLen*8 + 5) / 6
)

// Decode errors, possibly wrapped with detail: test with errors.Is.
var (
	// ErrMalformed: not a token of this format (encoding, length, version, node).
	ErrMalformed = errors.New("flow: malformed token")
	// ErrUnknownKey: well formed, but signed with a key id not in the ring (e.g. rotated out).
	ErrUnknownKey = errors.New("flow: unknown key id")
	// ErrBadMAC: well formed, known key, wrong MAC: the token was tampered with or forged.
	ErrBadMAC = errors.New("flow: bad MAC")
)

// Wrapped once here, so rejecting garbage (which anyone can send) never allocates.
var (
	errLength   = fmt.Errorf("%w: bad length", ErrMalformed)
	errEncoding = fmt.Errorf("%w: not canonical unpadded base64url", ErrMalformed)
	errVersion  = fmt.Errorf("%w: unsupported version", ErrMalformed)
	errNodeLen  = fmt.Errorf("%w: node length not in 1..32", ErrMalformed)
	errTrailing = fmt.Errorf("%w: node length does not match token length", ErrMalformed)
	errNode     = fmt.Errorf("%w: invalid node id", ErrMalformed)
)

// b64 is strict so that trailing bits must be zero: otherwise several strings would decode to
// the same token. (It still skips CR and LF; Decode rejects those by the alphabet check.)
var b64 = base64.RawURLEncoding.Strict()

// alphabet marks [A-Za-z0-9_-]: the base64url alphabet, and the bytes allowed in a node id.
var alphabet = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	return t
}()

// ValidNode reports whether node can be put in a token (and hence in a NATS subject):
// 1..32 bytes of [A-Za-z0-9_-].
func ValidNode(node string) bool {
	if len(node) == 0 || len(node) > maxNode {
		return false
	}
	for i := 0; i < len(node); i++ {
		if !alphabet[node[i]] {
			return false
		}
	}
	return true
}

// Encode returns the token of f signed with the current key. It fails only when f.Node is not
// valid (see ValidNode).
func (k *Keyring) Encode(f Flow) (string, error) {
	var buf [maxTokenLen]byte
	b, err := k.AppendEncode(buf[:0], f)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// AppendEncode appends the token of f to dst, for callers building a URI or subject in place.
// On error dst is returned unchanged.
func (k *Keyring) AppendEncode(dst []byte, f Flow) ([]byte, error) {
	if !ValidNode(f.Node) {
		return dst, fmt.Errorf("flow: invalid node id %q: want 1..%d bytes of [A-Za-z0-9_-]", f.Node, maxNode)
	}
	key := k.keys[k.current]
	m := key.get()
	raw := append(m.raw[:0], version, key.id)
	raw = binary.BigEndian.AppendUint64(raw, f.Serial)
	raw = append(raw, byte(len(f.Node)))
	raw = append(raw, f.Node...)
	raw = append(raw, m.sum(raw)...) // fits: m.raw holds maxRawLen bytes
	dst = b64.AppendEncode(dst, raw)
	key.put(m)
	return dst, nil
}

// Decode checks token and returns the flow it names, with KeyID set. Errors wrap ErrMalformed,
// ErrUnknownKey or ErrBadMAC; the MAC is compared in constant time.
func (k *Keyring) Decode(token string) (Flow, error) {
	if len(token) < minTokenLen || len(token) > maxTokenLen {
		return Flow{}, errLength
	}
	// Copying into arrays keeps the decode on the stack ([]byte(token) would allocate).
	var text [maxTokenLen]byte
	var raw [maxRawLen]byte
	for i := 0; i < len(token); i++ {
		if !alphabet[token[i]] {
			return Flow{}, errEncoding
		}
		text[i] = token[i]
	}
	n, err := b64.Decode(raw[:], text[:len(token)])
	if err != nil {
		return Flow{}, errEncoding
	}
	if raw[0] != version {
		return Flow{}, errVersion
	}
	nodeLen := int(raw[10])
	if nodeLen == 0 || nodeLen > maxNode {
		return Flow{}, errNodeLen
	}
	if n != headerLen+nodeLen+macLen {
		return Flow{}, errTrailing
	}
	body, mac := raw[:headerLen+nodeLen], raw[headerLen+nodeLen:n]
	node := body[headerLen:]
	for _, c := range node {
		if !alphabet[c] {
			return Flow{}, errNode
		}
	}
	key := k.keys[raw[1]]
	if key == nil {
		return Flow{}, ErrUnknownKey
	}
	m := key.get()
	ok := hmac.Equal(m.sum(append(m.raw[:0], body...)), mac)
	key.put(m)
	if !ok {
		return Flow{}, ErrBadMAC
	}
	return Flow{Node: string(node), Serial: binary.BigEndian.Uint64(body[2:10]), KeyID: raw[1]}, nil
}

// ringKey is one key of a ring. HMAC states are pooled: hmac.Reset restores the precomputed
// inner/outer SHA-256 states, so a token costs two compressions plus the message, with no key
// schedule and no allocation.
type ringKey struct {
	id   uint8
	pool sync.Pool // of *mac
}

// mac is a pooled HMAC with its buffers; they live with it on the heap, so passing them to
// hash.Hash (an interface, which makes arguments escape) does not allocate per call.
type mac struct {
	h   hash.Hash
	raw [maxRawLen]byte
	out [sha256.Size]byte
}

func newRingKey(id uint8, secret []byte) *ringKey {
	secret = append([]byte(nil), secret...) // the caller may reuse its slice
	k := &ringKey{id: id}
	k.pool.New = func() any {
		h := hmac.New(sha256.New, secret)
		h.Reset() // precompute the padded-key states now, not on first use
		return &mac{h: h}
	}
	return k
}

func (k *ringKey) get() *mac  { return k.pool.Get().(*mac) }
func (k *ringKey) put(m *mac) { k.pool.Put(m) }

// sum returns the truncated MAC of msg; it aliases m.out, so use it before put.
func (m *mac) sum(msg []byte) []byte {
	m.h.Reset()
	m.h.Write(msg)
	return m.h.Sum(m.out[:0])[:macLen]
}
