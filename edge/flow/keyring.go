package flow

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// minSecretLen is the shortest accepted secret: 256 bits, the SHA-256 output size.
const minSecretLen = 32

// Key is one HMAC key of a ring.
type Key struct {
	ID     uint8
	Secret []byte // at least 32 bytes
}

// Keyring holds the keys that sign and check tokens. It is immutable after construction and
// safe for concurrent use; reload by building a new one. Build it with NewKeyring (or
// RandomKeyring, LoadKeyring, ParseKeyring): the zero value is not usable.
type Keyring struct {
	current uint8
	keys    [256]*ringKey // by id: a lookup is one index, whatever the token says
}

// NewKeyring builds a ring that signs with key current and accepts all of keys.
// Secrets are copied.
func NewKeyring(current uint8, keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("flow: key ring has no keys")
	}
	k := &Keyring{current: current}
	for _, key := range keys {
		if k.keys[key.ID] != nil {
			return nil, fmt.Errorf("flow: duplicate key id %d", key.ID)
		}
		if len(key.Secret) < minSecretLen {
			return nil, fmt.Errorf("flow: key %d: secret is %d bytes, need at least %d", key.ID, len(key.Secret), minSecretLen)
		}
		k.keys[key.ID] = newRingKey(key.ID, key.Secret)
	}
	if k.keys[current] == nil {
		return nil, fmt.Errorf("flow: current key %d is not in the key ring", current)
	}
	return k, nil
}

// RandomKeyring returns a ring of one random key, id 1. Its tokens are only good within this
// process: for local mode, where one edge serves alone.
func RandomKeyring() *Keyring {
	k, err := NewKeyring(1, Key{ID: 1, Secret: randomSecret()})
	if err != nil {
		panic(err) // unreachable: the key is valid by construction
	}
	return k
}

// Current returns the id of the key Encode signs with.
func (k *Keyring) Current() uint8 { return k.current }

// keyringFile is the YAML schema. Pointers tell "absent" from 0, which is a valid id.
type keyringFile struct {
	Current *int      `json:"current"`
	Keys    []keyFile `json:"keys"`
}

type keyFile struct {
	ID     *int   `json:"id"`
	Secret string `json:"secret"` // standard base64
}

// LoadKeyring reads a key ring file (see ParseKeyring).
func LoadKeyring(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("flow: read key ring: %w", err)
	}
	k, err := ParseKeyring(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseKeyring parses a YAML key ring:
//
//	current: 2
//	keys:
//	  - id: 1
//	    secret: <standard base64, at least 32 bytes decoded>
//	  - id: 2
//	    secret: ...
//
// Unknown fields are rejected, so a misspelt field fails instead of being silently ignored.
func ParseKeyring(data []byte) (*Keyring, error) {
	var f keyringFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("flow: parse key ring: %w", err)
	}
	if f.Current == nil {
		return nil, errors.New("flow: key ring: current is missing")
	}
	current, err := keyID(*f.Current)
	if err != nil {
		return nil, fmt.Errorf("flow: key ring: current: %w", err)
	}
	keys := make([]Key, 0, len(f.Keys))
	for i, kf := range f.Keys {
		if kf.ID == nil {
			return nil, fmt.Errorf("flow: key ring: keys[%d]: id is missing", i)
		}
		id, err := keyID(*kf.ID)
		if err != nil {
			return nil, fmt.Errorf("flow: key ring: keys[%d]: %w", i, err)
		}
		secret, err := base64.StdEncoding.DecodeString(kf.Secret)
		if err != nil {
			return nil, fmt.Errorf("flow: key ring: key %d: secret is not standard base64: %w", id, err)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	k, err := NewKeyring(current, keys...)
	if err != nil {
		return nil, fmt.Errorf("flow: key ring: %w", err)
	}
	return k, nil
}

func keyID(v int) (uint8, error) {
	if v < 0 || v > 255 {
		return 0, fmt.Errorf("key id %d out of range 0..255", v)
	}
	return uint8(v), nil
}

// GenerateKeyringFile returns a key ring file holding one random key with the given id, current.
func GenerateKeyringFile(id uint8) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# sipws flow-token key ring, shared by all edge pods of a gateway.\n")
	b.WriteString("# Rotate: add a key everywhere, then make it current, then remove the old one after its flows drain.\n")
	fmt.Fprintf(&b, "current: %d\nkeys:\n  - id: %d\n    secret: %s\n", id, id, base64.StdEncoding.EncodeToString(randomSecret()))
	// Parse it back so a change to the schema cannot make this emit a file LoadKeyring refuses.
	if _, err := ParseKeyring(b.Bytes()); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func randomSecret() []byte {
	s := make([]byte, minSecretLen)
	rand.Read(s) // never fails: crypto/rand aborts the program if the OS source does
	return s
}
