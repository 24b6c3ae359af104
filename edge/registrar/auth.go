package registrar

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // RFC 2617 digest: MD5 is what SIP UAs implement
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sipws/sipws/edge/sipmsg"
)

// Digest algorithms (RFC 7616 §3.2 names).
const (
	AlgMD5    = "MD5"
	AlgSHA256 = "SHA-256"
)

// nonceLife is how long a nonce is accepted; after it the client is challenged again with
// stale=true and retries without asking its user.
const nonceLife = 5 * time.Minute

// Auth is digest authentication (RFC 2617, RFC 7616, RFC 8760 for SIP) against a users file.
type Auth struct {
	realm string
	algs  []string
	users map[string]string // user -> password
	key   []byte            // nonce MAC key: derived from the users file, equal on every replica
	now   func() time.Time
}

// usersFile is the YAML of a users file: a map from user name to password. A Kubernetes
// Secret with one key "users.yaml" mounted as a file has the same shape.
type usersFile struct {
	Users map[string]string `json:"users"`
}

// LoadAuth reads a users file. algs are offered in order (default MD5 then SHA-256: JsSIP
// answers only an MD5 challenge and takes the first one it sees).
func LoadAuth(path, realm string, algs []string) (*Auth, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	var f usersFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	if len(f.Users) == 0 {
		return nil, fmt.Errorf("users file %s: no users", path)
	}
	return NewAuth(realm, algs, f.Users, data)
}

// NewAuth builds digest authentication from users; seed keys the nonces (replicas that share
// it accept each other's nonces).
func NewAuth(realm string, algs []string, users map[string]string, seed []byte) (*Auth, error) {
	if realm == "" {
		return nil, fmt.Errorf("digest realm is required")
	}
	if len(algs) == 0 {
		algs = []string{AlgMD5, AlgSHA256}
	}
	for _, a := range algs {
		if a != AlgMD5 && a != AlgSHA256 {
			return nil, fmt.Errorf("digest algorithm %q: want %s or %s", a, AlgMD5, AlgSHA256)
		}
	}
	k := sha256.Sum256(append([]byte("sipws-digest-nonce\x00"+realm+"\x00"), seed...))
	return &Auth{realm: realm, algs: algs, users: users, key: k[:], now: time.Now}, nil
}

// Known reports whether user is in the users file.
func (a *Auth) Known(user string) bool { _, ok := a.users[user]; return ok }

func (a *Auth) nonce() string {
	b := binary.BigEndian.AppendUint64(nil, uint64(a.now().Unix()))
	mac := hmac.New(sha256.New, a.key)
	mac.Write(b)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(b)[:8+16])
}

// checkNonce reports whether the nonce is ours and whether it is still fresh.
func (a *Auth) checkNonce(n string) (ours, fresh bool) {
	b, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(b) != 24 {
		return false, false
	}
	mac := hmac.New(sha256.New, a.key)
	mac.Write(b[:8])
	if !hmac.Equal(mac.Sum(nil)[:16], b[8:]) {
		return false, false
	}
	t := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	return true, a.now().Sub(t) < nonceLife
}

// challenge is the 401 (registrar) or 407 (proxy) answer.
func (a *Auth) challenge(proxy, stale bool) Reply {
	name, code, reason := "WWW-Authenticate", 401, "Unauthorized"
	if proxy {
		name, code, reason = "Proxy-Authenticate", 407, "Proxy Authentication Required"
	}
	n := a.nonce()
	var h []string
	for _, alg := range a.algs {
		v := fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=%s, qop="auth"`, a.realm, n, alg)
		if stale {
			v += ", stale=true"
		}
		h = append(h, name+": "+v)
	}
	return reply(code, reason, h...)
}

// Check verifies the request's credentials for user (the To user of a REGISTER, the From
// user of other requests); proxy selects Proxy-Authorization/407 over Authorization/401.
// It returns true when the request may proceed, else the challenge or refusal to send.
func (a *Auth) Check(m *sipmsg.Msg, user string, proxy bool) (bool, Reply) {
	hname := "Authorization"
	if proxy {
		hname = "Proxy-Authorization"
	}
	stale := false
	for _, v := range allLines(m, hname) {
		p, ok := parseDigest(v)
		if !ok || p["realm"] != a.realm {
			continue
		}
		alg := p["algorithm"]
		if alg == "" {
			alg = AlgMD5
		}
		if !containsFold(a.algs, alg) {
			continue
		}
		ours, fresh := a.checkNonce(p["nonce"])
		if !ours {
			continue
		}
		if p["username"] != user {
			return false, reply(403, "Forbidden")
		}
		pass, known := a.users[user]
		if !known {
			return false, reply(403, "Forbidden")
		}
		if !fresh {
			stale = true
			continue
		}
		if !verifyDigest(p, m.Method, pass, strings.ToUpper(alg)) {
			return false, reply(403, "Forbidden")
		}
		return true, Reply{}
	}
	return false, a.challenge(proxy, stale)
}

func verifyDigest(p map[string]string, method, pass, alg string) bool {
	var h func() hash.Hash
	switch alg {
	case AlgMD5:
		h = md5.New
	case AlgSHA256:
		h = sha256.New
	default:
		return false
	}
	sum := func(s string) string { x := h(); x.Write([]byte(s)); return hex.EncodeToString(x.Sum(nil)) }
	ha1 := sum(p["username"] + ":" + p["realm"] + ":" + pass)
	ha2 := sum(method + ":" + p["uri"])
	var want string
	switch p["qop"] {
	case "auth":
		want = sum(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
	case "":
		want = sum(ha1 + ":" + p["nonce"] + ":" + ha2)
	default:
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p["response"]))) == 1
}

// Response computes the digest response a client would send (tests and tools).
func DigestResponse(alg, user, realm, pass, method, uri, nonce, nc, cnonce string) string {
	h := md5.New
	if alg == AlgSHA256 {
		h = sha256.New
	}
	sum := func(s string) string { x := h(); x.Write([]byte(s)); return hex.EncodeToString(x.Sum(nil)) }
	ha1 := sum(user + ":" + realm + ":" + pass)
	ha2 := sum(method + ":" + uri)
	return sum(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
}

func allLines(m *sipmsg.Msg, name string) []string {
	canon := sipmsg.CanonicalName(name)
	var out []string
	for _, h := range m.Headers {
		if sipmsg.CanonicalName(h.Name) == canon {
			out = append(out, h.Value)
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// parseDigest parses `Digest k=v, k="v", ...`.
func parseDigest(v string) (map[string]string, bool) {
	v = strings.TrimSpace(v)
	if len(v) < 7 || !strings.EqualFold(v[:6], "Digest") || (v[6] != ' ' && v[6] != '\t') {
		return nil, false
	}
	s := v[7:]
	p := map[string]string{}
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t,")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		k := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, false
			}
			val, s = s[1:1+end], s[2+end:]
		} else {
			end := strings.IndexAny(s, ", \t")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		p[k] = val
	}
	return p, true
}
