package registrar

import (
	"strings"
	"testing"
	"time"

	"github.com/sipws/sipws/edge/sipmsg"
)

func TestParseDigest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want map[string]string
	}{
		{`Digest username="alice", realm="r", nonce="n", uri="sip:x", response="abc", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c"`, true,
			map[string]string{"username": "alice", "realm": "r", "algorithm": "SHA-256", "qop": "auth", "nc": "00000001", "cnonce": "c"}},
		{`digest username="a,b", realm="r"`, true, map[string]string{"username": "a,b"}},
		{`Basic YWxhZGRpbjpvcGVuc2VzYW1l`, false, nil},
		{`Digest username="unterminated`, false, nil},
		{`Digest`, false, nil},
	} {
		got, ok := parseDigest(tc.in)
		if ok != tc.ok {
			t.Errorf("parseDigest(%q) ok=%v, want %v", tc.in, ok, tc.ok)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("parseDigest(%q)[%s] = %q, want %q", tc.in, k, got[k], v)
			}
		}
	}
}

func FuzzParseDigest(f *testing.F) {
	f.Add(`Digest username="alice", realm="r", nonce="n", uri="sip:x", response="abc", qop=auth`)
	f.Add(`Digest a=,b="",="x"`)
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := parseDigest(s)
		if !ok && p != nil {
			t.Fatal("parameters returned with !ok")
		}
	})
}

func TestAuthNonceAndCheck(t *testing.T) {
	a, err := NewAuth("r", []string{AlgSHA256, AlgMD5}, map[string]string{"alice": "pw"}, []byte("seed"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	a.now = func() time.Time { return now }
	n := a.nonce()
	if ours, fresh := a.checkNonce(n); !ours || !fresh {
		t.Fatalf("own nonce: ours=%v fresh=%v", ours, fresh)
	}
	other, _ := NewAuth("r", nil, map[string]string{"alice": "pw"}, []byte("other seed"))
	if ours, _ := other.checkNonce(n); ours {
		t.Fatal("a nonce of another key verified")
	}
	req := func(auth string) *sipmsg.Msg {
		m, err := sipmsg.Parse([]byte("REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK1\r\nFrom: <sip:alice@x>;tag=1\r\nTo: <sip:alice@x>\r\nCall-ID: 1\r\nCSeq: 1 REGISTER\r\n" + auth + "Content-Length: 0\r\n\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	cred := func(alg, user, pass string) string {
		return `Authorization: Digest username="` + user + `", realm="r", nonce="` + n + `", uri="sip:x", response="` +
			DigestResponse(alg, user, "r", pass, "REGISTER", "sip:x", n, "00000001", "cc") + `", algorithm=` + alg + `, qop=auth, nc=00000001, cnonce="cc"` + "\r\n"
	}
	for _, tc := range []struct {
		name string
		auth string
		user string
		ok   bool
		code int
	}{
		{"no credentials", "", "alice", false, 401},
		{"sha-256", cred(AlgSHA256, "alice", "pw"), "alice", true, 0},
		{"md5", cred(AlgMD5, "alice", "pw"), "alice", true, 0},
		{"wrong password", cred(AlgMD5, "alice", "x"), "alice", false, 403},
		{"credentials of another user", cred(AlgMD5, "alice", "pw"), "bob", false, 403},
	} {
		ok, rep := a.Check(req(tc.auth), tc.user, false)
		if ok != tc.ok || rep.Code != tc.code {
			t.Errorf("%s: ok=%v code=%d, want %v %d", tc.name, ok, rep.Code, tc.ok, tc.code)
		}
	}
	now = now.Add(nonceLife + time.Second)
	ok, rep := a.Check(req(cred(AlgMD5, "alice", "pw")), "alice", false)
	if ok || rep.Code != 401 || len(rep.Headers) != 2 || !contains(rep.Headers[0], "stale=true") {
		t.Errorf("expired nonce: ok=%v %d %v, want 401 with stale=true challenges", ok, rep.Code, rep.Headers)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestBetter(t *testing.T) {
	for _, tc := range []struct {
		code, best int
		want       bool
	}{
		{486, 0, true}, {603, 486, true}, {486, 603, false}, {302, 486, true}, {486, 302, false},
		{480, 486, false}, {404, 500, true}, {500, 404, false}, {600, 603, false},
	} {
		if got := better(tc.code, tc.best); got != tc.want {
			t.Errorf("better(%d, %d) = %v, want %v", tc.code, tc.best, got, tc.want)
		}
	}
}
