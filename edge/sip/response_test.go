package sip

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"

	"github.com/sipws/sipws/edge/sipcorpus"
)

// wantTag is the To tag Response should add, computed with hash/fnv as a cross-check.
func wantTag(callID, branch string) string {
	h := fnv.New32a()
	h.Write([]byte(callID))
	h.Write([]byte{0})
	h.Write([]byte(branch))
	return fmt.Sprintf("%08x", h.Sum32())
}

// busyReq has Vias in three fields (one compact, one with two values), split by other fields.
const busyReq = "INVITE sip:bob@example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/WSS a.invalid;branch=z9hG4bKaaa;rport\r\n" +
	"v: SIP/2.0/UDP p1.example.com;branch=z9hG4bKbbb,SIP/2.0/UDP p2.example.com ;branch=z9hG4bKccc\r\n" +
	"Max-Forwards: 70\r\n" +
	"f: \"Alice\" <sip:alice@example.com>;tag=1\r\n" +
	"t: <sip:bob@example.com>\r\n" +
	"i: call-1\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Contact: <sip:alice@a.invalid;transport=ws>\r\n" +
	"VIA: SIP/2.0/TCP p3.example.com;branch=z9hG4bKddd\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 4\r\n" +
	"\r\n" +
	"v=0\n"

var busyResp = "SIP/2.0 486 Busy Here\r\n" +
	"Via: SIP/2.0/WSS a.invalid;branch=z9hG4bKaaa;rport\r\n" +
	"Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKbbb,SIP/2.0/UDP p2.example.com ;branch=z9hG4bKccc\r\n" +
	"Via: SIP/2.0/TCP p3.example.com;branch=z9hG4bKddd\r\n" +
	"From: \"Alice\" <sip:alice@example.com>;tag=1\r\n" +
	"To: <sip:bob@example.com>;tag=" + wantTag("call-1", "z9hG4bKaaa") + "\r\n" +
	"Call-ID: call-1\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Retry-After: 30\r\n" +
	"Content-Length: 0\r\n" +
	"\r\n"

// reqWithTo is a minimal OPTIONS with the given To value and top Via branch.
func reqWithTo(to, branch string) string {
	return "OPTIONS sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/WSS a.invalid;branch=" + branch + "\r\n" +
		"From: <sip:alice@example.com>;tag=9\r\n" +
		"To: " + to + "\r\n" +
		"Call-ID: c-42\r\n" +
		"CSeq: 5 OPTIONS\r\n" +
		"\r\n"
}

type responseCase struct {
	name   string
	req    string
	code   int
	reason string
	extra  []string
	err    error    // expected error, nil for success
	want   string   // whole response, when not empty
	has    []string // lines the response must hold
	hasNot []string // substrings it must not hold
}

var responseCases = []responseCase{
	{name: "Via order, compact forms, Retry-After", req: busyReq, code: 486, reason: "Busy Here", extra: []string{"Retry-After: 30"}, want: busyResp},
	{name: "bare LF request gets CRLF response", req: lf(busyReq), code: 486, reason: "Busy Here", extra: []string{"Retry-After: 30"}, want: busyResp},
	{name: "To tag kept", req: reqWithTo("<sip:bob@example.com>;tag=abc", "z9hG4bK1"), code: 404, reason: "Not Found",
		has: []string{"To: <sip:bob@example.com>;tag=abc\r\n"}, hasNot: []string{";tag=abc;tag="}},
	{name: "To tag kept, addr-spec form", req: reqWithTo("sip:bob@example.com ; TAG = abc", "z9hG4bK1"), code: 404, reason: "Not Found",
		has: []string{"To: sip:bob@example.com ; TAG = abc\r\n"}},
	{name: "To tag added", req: reqWithTo("<sip:bob@example.com>", "z9hG4bK1"), code: 404, reason: "Not Found",
		has: []string{"To: <sip:bob@example.com>;tag=" + wantTag("c-42", "z9hG4bK1") + "\r\n"}},
	{name: "To tag added, tag only a URI parameter", req: reqWithTo("<sip:bob@example.com;tag=uri>", "z9hG4bK1"), code: 404, reason: "Not Found",
		has: []string{"To: <sip:bob@example.com;tag=uri>;tag=" + wantTag("c-42", "z9hG4bK1") + "\r\n"}},
	{name: "To tag added, tag only in display name", req: reqWithTo(`"x;tag=1" <sip:bob@example.com>;tagx=2`, "z9hG4bK1"), code: 404, reason: "Not Found",
		has: []string{`To: "x;tag=1" <sip:bob@example.com>;tagx=2;tag=` + wantTag("c-42", "z9hG4bK1") + "\r\n"}},
	{name: "tag follows the branch", req: reqWithTo("<sip:bob@example.com>", "z9hG4bK2"), code: 404, reason: "Not Found",
		has: []string{"To: <sip:bob@example.com>;tag=" + wantTag("c-42", "z9hG4bK2") + "\r\n"}},
	{name: "To with unterminated quote left alone", req: "0 0 SIP/2.0\nT:\"\n\n", code: 461, reason: "0",
		want: "SIP/2.0 461 0\r\nTo: \"\r\nContent-Length: 0\r\n\r\n"},
	{name: "To with unterminated < left alone", req: reqWithTo("<sip:bob@example.com", "z9hG4bK1"), code: 404, reason: "Not Found",
		has: []string{"To: <sip:bob@example.com\r\n"}},
	{name: "To tag added after a comma", req: reqWithTo("<sip:bob@example.com>;a=1,b", "z9hG4bK1"), code: 404, reason: "Not Found",
		has: []string{"To: <sip:bob@example.com>;a=1,b;tag=" + wantTag("c-42", "z9hG4bK1") + "\r\n"}},
	{name: "100 Trying, empty reason", req: reqWithTo("<sip:bob@example.com>", "z9hG4bK1"), code: 100, reason: "",
		has: []string{"SIP/2.0 100 \r\n"}},
	{name: "several extras in order", req: sipcorpus.Register, code: 503, reason: "Service Unavailable", extra: []string{"Retry-After: 5", "Warning: 399 edge \"overloaded\""},
		has: []string{"CSeq: 2 REGISTER\r\nRetry-After: 5\r\nWarning: 399 edge \"overloaded\"\r\nContent-Length: 0\r\n\r\n"}},
	{name: "no header fields", req: "OPTIONS sip:x SIP/2.0\r\n\r\n", code: 200, reason: "OK", want: "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{name: "torture wsinv", req: sipcorpus.Torture("wsinv"), code: 400, reason: "Bad Request",
		want: "SIP/2.0 400 Bad Request\r\n" +
			"Via: SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw\r\n" +
			"Via: SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  , SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239\r\n" +
			"From: \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com> ; tag = 98asjd8\r\n" +
			"To: sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n" +
			"Call-ID: wsinv.ndaksdj@192.0.2.1\r\n" +
			"CSeq: 0009 INVITE\r\n" +
			"Content-Length: 0\r\n\r\n"},
	{name: "torture intmeth", req: sipcorpus.Torture("intmeth"), code: 501, reason: "Not Implemented",
		has: []string{"SIP/2.0 501 Not Implemented\r\n", "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\r\n"}},
	{name: "torture insuf", req: sipcorpus.Torture("insuf"), code: 400, reason: "Missing Call-ID",
		want: "SIP/2.0 400 Missing Call-ID\r\nVia: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\r\nCSeq: 193942 INVITE\r\nContent-Length: 0\r\n\r\n"},

	{name: "ACK refused", req: strings.Replace(reqWithTo("<sip:b@x>", "z9hG4bK1"), "OPTIONS", "ACK", 2), code: 400, reason: "Bad Request", err: ErrNoResponse},
	{name: "response refused", req: resp200, code: 400, reason: "Bad Request", err: ErrNoResponse},
	{name: "torture response refused", req: sipcorpus.Torture("unreason"), code: 400, reason: "Bad Request", err: ErrNoResponse},
	{name: "invalid request", req: sipcorpus.Torture("clerr"), code: 400, reason: "Bad Request", err: ErrContentLength},
	{name: "empty request", req: "", code: 400, reason: "Bad Request", err: ErrEmpty},
	{name: "code 99", req: sipcorpus.Register, code: 99, reason: "Low", err: ErrStatus},
	{name: "code 700", req: sipcorpus.Register, code: 700, reason: "High", err: ErrStatus},
	{name: "CRLF in reason", req: sipcorpus.Register, code: 400, reason: "Bad\r\nX-Injected: 1", err: ErrStatus},
	{name: "extra without colon", req: sipcorpus.Register, code: 400, reason: "Bad Request", extra: []string{"Retry-After 30"}, err: ErrHeader},
	{name: "extra with empty name", req: sipcorpus.Register, code: 400, reason: "Bad Request", extra: []string{": 30"}, err: ErrHeader},
	{name: "extra with CRLF", req: sipcorpus.Register, code: 400, reason: "Bad Request", extra: []string{"Retry-After: 30\r\nX-Injected: 1"}, err: ErrHeader},
	{name: "extra with LF", req: sipcorpus.Register, code: 400, reason: "Bad Request", extra: []string{"Retry-After: 30\n"}, err: ErrHeader},
	{name: "extra Content-Length", req: sipcorpus.Register, code: 400, reason: "Bad Request", extra: []string{"content-length: 5"}, err: ErrHeader},
	{name: "extra compact Content-Length", req: sipcorpus.Register, code: 400, reason: "Bad Request", extra: []string{"l: 0"}, err: ErrHeader},
}

func TestResponse(t *testing.T) {
	for _, tc := range responseCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Response([]byte(tc.req), tc.code, tc.reason, tc.extra...)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || got != nil {
					t.Fatalf("Response() = %q, %v; want nil, %v", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Response() error = %v", err)
			}
			if tc.want != "" && string(got) != tc.want {
				t.Errorf("Response() =\n%q\nwant\n%q", got, tc.want)
			}
			for _, s := range tc.has {
				if !strings.Contains(string(got), s) {
					t.Errorf("Response() =\n%q\nlacks %q", got, s)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(string(got), s) {
					t.Errorf("Response() =\n%q\nholds %q", got, s)
				}
			}
			assertResponse(t, []byte(tc.req), got, tc.code, tc.extra)
		})
	}
}

// assertResponse checks properties every Response result has: it passes Check as a response
// with the code, uses only CRLF, keeps the request's Via fields, and its To has a tag unless
// the request's To was too broken to take one.
func assertResponse(t *testing.T, req, resp []byte, code int, extra []string) {
	t.Helper()
	m, err := Check(resp)
	if err != nil {
		t.Fatalf("response fails Check: %v\n%q", err, resp)
	}
	if m.Request || m.StatusCode != code || m.BodyLen != 0 {
		t.Fatalf("Check(response) = %+v, want a bodiless %d response", m, code)
	}
	if strings.Count(string(resp), "\n") != strings.Count(string(resp), "\r\n") {
		t.Errorf("response has bare LF: %q", resp)
	}
	wantVia := countVia(req)
	for _, h := range extra {
		wantVia += countVia([]byte("X x SIP/2.0\r\n" + h + "\r\n"))
	}
	if got := countVia(resp); got != wantVia {
		t.Errorf("response has %d Via fields, want %d", got, wantVia)
	}
	if to := HeaderValue(req, "To", "t"); to != nil {
		if _, wellFormed := headerParams(to); wellFormed {
			if _, ok := param(toParams(HeaderValue(resp, "To", "t")), "tag", false); !ok {
				t.Errorf("response To has no tag: %q", resp)
			}
		}
	}
}

func toParams(v []byte) []byte {
	p, _ := headerParams(v)
	return p
}

func countVia(msg []byte) int {
	n := 0
	s := newFields(msg)
	for {
		name, _, ok := s.next()
		if !ok {
			return n
		}
		if eqFold(name, "via") || eqFold(name, "v") {
			n++
		}
	}
}

func TestResponseDeterministicTag(t *testing.T) {
	req := []byte(reqWithTo("<sip:bob@example.com>", "z9hG4bKretrans"))
	a, err := Response(req, 480, "Temporarily Unavailable")
	if err != nil {
		t.Fatal(err)
	}
	// A retransmission is a fresh buffer with the same bytes.
	b, _ := Response([]byte(string(req)), 480, "Temporarily Unavailable")
	if string(a) != string(b) {
		t.Errorf("retransmission got another response:\n%q\n%q", a, b)
	}
	tags := map[string]string{}
	for _, r := range []struct{ callID, branch string }{
		{"c-42", "z9hG4bKretrans"}, {"c-43", "z9hG4bKretrans"}, {"c-42", "z9hG4bKother"}, {"c-4", "2z9hG4bKretrans"},
	} {
		req := strings.Replace(reqWithTo("<sip:bob@example.com>", r.branch), "c-42", r.callID, 1)
		out, err := Response([]byte(req), 480, "Temporarily Unavailable")
		if err != nil {
			t.Fatal(err)
		}
		tag, _ := param(toParams(HeaderValue(out, "To", "")), "tag", false)
		if prev, dup := tags[string(tag)]; dup {
			t.Errorf("%v and %s share tag %s", r, prev, tag)
		}
		tags[string(tag)] = fmt.Sprint(r)
	}
}

func TestResponseNoRequestMutation(t *testing.T) {
	req := []byte(busyReq)
	if _, err := Response(req, 486, "Busy Here"); err != nil {
		t.Fatal(err)
	}
	if string(req) != busyReq {
		t.Errorf("Response modified its input")
	}
}

func TestHeaderParamsTag(t *testing.T) {
	tests := []struct {
		to     string
		tagged bool
		tag    string
		broken bool // unterminated quote or '<': no tag may be added
	}{
		{"<sip:b@x>;tag=1", true, "1", false},
		{"<sip:b@x> ; tag = 1 ", true, "1", false},
		{"<sip:b@x>;foo;TAG=Ab", true, "Ab", false},
		{"<sip:b@x>;tag", true, "", false},
		{"<sip:b@x;tag=1>", false, "", false},
		{"<sip:b@x>;tagx=1", false, "", false},
		{"<sip:b@x>;foo=\"a;tag=1\"", false, "", false},
		{"<sip:b@x>;foo=\"a\\\";tag=1\";tag=3", true, "3", false},
		{"\"a;tag=1\" <sip:b@x>", false, "", false},
		{"\"a\\\"<\" <sip:b@x>;tag=2", true, "2", false},
		{"sip:b@x;tag=1", true, "1", false},
		{"sip:b@x", false, "", false},
		{"<sip:b@x>;a=1,b;tag=2", true, "2", false},
		{"<sip:b@x", false, "", true},
		{"\"unterminated <sip:b@x>;tag=1", false, "", true},
		{"<sip:b@x>;a=\"", false, "", true},
		{"sip:b@x;a=\"b;tag=1", false, "", true},
		{"", false, "", false},
	}
	for _, tc := range tests {
		params, wellFormed := headerParams([]byte(tc.to))
		tag, ok := param(params, "tag", false)
		if ok != tc.tagged || string(tag) != tc.tag || wellFormed != !tc.broken {
			t.Errorf("tag of %q = %q, %v (well-formed %v); want %q, %v (well-formed %v)", tc.to, tag, ok, wellFormed, tc.tag, tc.tagged, !tc.broken)
		}
	}
}

func TestViaBranch(t *testing.T) {
	tests := []struct{ via, branch string }{
		{"SIP/2.0/UDP h;branch=z9hG4bK1;rport", "z9hG4bK1"},
		{"SIP/2.0/UDP h;rport ; BRANCH = z9 ", "z9"},
		{"SIP/2.0/UDP h;branch=b1, SIP/2.0/UDP g;branch=b2", "b1"},
		{"SIP/2.0/UDP h, SIP/2.0/UDP g;branch=b2", ""},
		{"SIP/2.0/UDP h;received=192.0.2.1,SIP/2.0/UDP g;branch=b2", ""},
		{"SIP/2.0/UDP h;x=\"a,b;branch=no\";branch=b1", "b1"},
		{"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw", "390skdjuw"},
		{"SIP/2.0/UDP h; branch=\r\n z9hG4bK30239", "z9hG4bK30239"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := viaBranch([]byte(tc.via)); string(got) != tc.branch {
			t.Errorf("viaBranch(%q) = %q, want %q", tc.via, got, tc.branch)
		}
	}
}
