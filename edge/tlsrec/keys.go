package tlsrec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"hash"
	"math"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	ivLen        = 12 // all three TLS 1.3 AEADs use 96-bit nonces (RFC 8446 §5.3)
	tagLen       = 16 // and 128-bit tags
	maxKeyLen    = 32
	maxSecretLen = sha512.Size384
)

// suiteInfo describes what we need of a TLS 1.3 cipher suite.
type suiteInfo struct {
	keyLen  int
	hashLen int
	hash    func() hash.Hash
	// rekeyAt is the write sequence number at which Seal rotates the key
	// on its own. AES-GCM is limited to about 2^24.5 full-size records per
	// key (RFC 8446 §5.5); ChaCha20-Poly1305 only by the sequence space.
	rekeyAt uint64
}

// lastSeq is never used as a nonce: reaching it means the sequence space is
// exhausted (RFC 8446 §5.3: sequence numbers must not wrap).
const lastSeq = math.MaxUint64

var (
	suiteAES128 = suiteInfo{keyLen: 16, hashLen: sha256.Size, hash: sha256.New, rekeyAt: 1 << 24}
	suiteAES256 = suiteInfo{keyLen: 32, hashLen: sha512.Size384, hash: sha512.New384, rekeyAt: 1 << 24}
	suiteChaCha = suiteInfo{keyLen: 32, hashLen: sha256.Size, hash: sha256.New, rekeyAt: lastSeq - 1}
)

func lookupSuite(id uint16) (*suiteInfo, bool) {
	switch id {
	case tls.TLS_AES_128_GCM_SHA256:
		return &suiteAES128, true
	case tls.TLS_AES_256_GCM_SHA384:
		return &suiteAES256, true
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		return &suiteChaCha, true
	}
	return nil, false
}

// expandLabel is HKDF-Expand-Label with an empty context (RFC 8446 §7.1).
func expandLabel(si *suiteInfo, secret []byte, label string, length int) []byte {
	var info [2 + 1 + 6 + 16 + 1]byte // labels used here are short
	b := info[:0]
	b = binary.BigEndian.AppendUint16(b, uint16(length))
	b = append(b, byte(len("tls13 ")+len(label)))
	b = append(b, "tls13 "...)
	b = append(b, label...)
	b = append(b, 0) // zero-length context
	out, err := hkdf.Expand(si.hash, secret, string(b), length)
	if err != nil {
		// Only possible for absurd lengths, which we never request.
		panic(fmt.Sprintf("tlsrec: hkdf expand %q: %v", label, err))
	}
	return out
}

// direction holds one half of the connection: the current traffic secret
// (needed to derive the next one on KeyUpdate), the derived key and IV, and
// the next record sequence number.
type direction struct {
	seq    uint64
	iv     [ivLen]byte
	key    [maxKeyLen]byte
	secret [maxSecretLen]byte
}

func (d *direction) setSecret(si *suiteInfo, secret []byte) {
	*d = direction{}
	copy(d.secret[:], secret)
	copy(d.key[:], expandLabel(si, secret, "key", si.keyLen))
	copy(d.iv[:], expandLabel(si, secret, "iv", ivLen))
}

// update moves to the next traffic secret (RFC 8446 §7.2).
func (d *direction) update(si *suiteInfo) {
	next := expandLabel(si, d.secret[:si.hashLen], "traffic upd", si.hashLen)
	d.setSecret(si, next)
}

// nonce writes iv XOR the left-padded big-endian sequence number (RFC 8446 §5.3).
func (d *direction) nonce(dst []byte) {
	copy(dst, d.iv[:])
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], d.seq)
	for i := range s {
		dst[ivLen-8+i] ^= s[i]
	}
}

// newAEAD builds the AEAD for the current key. State caches it per
// direction; an AES-GCM instance costs about 1.3 KiB, more than the whole
// State, so State.Compact drops it again for idle connections.
func (d *direction) newAEAD(suite uint16, si *suiteInfo) cipher.AEAD {
	var (
		a   cipher.AEAD
		err error
	)
	switch suite {
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		a, err = chacha20poly1305.New(d.key[:si.keyLen])
	default:
		var b cipher.Block
		if b, err = aes.NewCipher(d.key[:si.keyLen]); err == nil {
			a, err = cipher.NewGCM(b)
		}
	}
	if err != nil {
		// Key sizes are fixed by the suite, so this cannot happen.
		panic(fmt.Sprintf("tlsrec: building AEAD for suite %#04x: %v", suite, err))
	}
	return a
}
