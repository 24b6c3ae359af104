package sip

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/sipws/sipws/edge/sipcorpus"
)

// lf turns CRLF line ends into bare LF.
func lf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

const (
	okHead  = "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/WSS h.invalid;branch=z9hG4bK1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
	resp200 = "SIP/2.0 200 OK\r\nVia: SIP/2.0/WSS h.invalid;branch=z9hG4bK1\r\nTo: <sip:bob@example.com>;tag=x\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)

type checkCase struct {
	name    string
	msg     string
	err     error  // nil: must pass
	method  string // for valid requests
	status  int    // for valid responses
	bodyLen int    // for valid messages
}

var checkCases = []checkCase{
	// Valid.
	{name: "register", msg: sipcorpus.Register, method: "REGISTER"},
	{name: "register bare LF", msg: lf(sipcorpus.Register), method: "REGISTER"},
	{name: "invite with SDP", msg: sipcorpus.Invite, method: "INVITE", bodyLen: len(sipcorpus.SDP)},
	{name: "invite with SDP, bare LF headers", msg: lf(sipcorpus.Invite[:strings.Index(sipcorpus.Invite, "\r\n\r\n")+4]) + sipcorpus.SDP, method: "INVITE", bodyLen: len(sipcorpus.SDP)},
	{name: "compact l", msg: okHead + "l: 5\r\n\r\nhello", method: "OPTIONS", bodyLen: 5},
	{name: "compact L no space", msg: okHead + "L:5\r\n\r\nhello", method: "OPTIONS", bodyLen: 5},
	{name: "no Content-Length, empty body", msg: okHead + "\r\n", method: "OPTIONS"},
	{name: "no Content-Length, body", msg: okHead + "\r\nhello\r\n\r\nworld", method: "OPTIONS", bodyLen: 14},
	{name: "Content-Length case and spaces", msg: okHead + "cOnTeNt-LeNgTh \t:  5 \t\r\n\r\nhello", method: "OPTIONS", bodyLen: 5},
	{name: "Content-Length leading zeros", msg: okHead + "Content-Length: 0005\r\n\r\nhello", method: "OPTIONS", bodyLen: 5},
	{name: "Content-Length folded", msg: okHead + "Content-Length:\r\n   5\r\n\r\nhello", method: "OPTIONS", bodyLen: 5},
	{name: "two agreeing Content-Length", msg: okHead + "Content-Length: 5\r\nl: 05\r\n\r\nhello", method: "OPTIONS", bodyLen: 5},
	{name: "folded header", msg: okHead + "Subject: a\r\n b\r\n\tc\r\n\r\n", method: "OPTIONS"},
	{name: "whitespace-only continuation", msg: okHead + "Subject: a\r\n \r\n\r\n", method: "OPTIONS"},
	{name: "empty header value", msg: okHead + "Subject:\r\n\r\n", method: "OPTIONS"},
	{name: "binary body", msg: okHead + "Content-Length: 6\r\n\r\n\x00\r\x01\n\xff\r", method: "OPTIONS", bodyLen: 6},
	{name: "no header fields", msg: "OPTIONS sip:x SIP/2.0\r\n\r\n", method: "OPTIONS"},
	{name: "lower-case version", msg: "OPTIONS sip:x sip/2.0\r\n\r\n", method: "OPTIONS"},
	{name: "mixed line ends", msg: "OPTIONS sip:x SIP/2.0\nCall-ID: a\r\n\n", method: "OPTIONS"},
	{name: "response 200", msg: resp200, status: 200},
	{name: "response 180 bare LF", msg: lf("SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\n\r\n"), status: 180},
	{name: "response with body", msg: "SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(sipcorpus.SDP)) + "\r\n\r\n" + sipcorpus.SDP, status: 200, bodyLen: len(sipcorpus.SDP)},
	{name: "response 100 lowest", msg: "SIP/2.0 100 Trying\r\n\r\n", status: 100},
	{name: "response 699 highest", msg: "SIP/2.0 699 Odd\r\n\r\n", status: 699},
	{name: "empty reason phrase", msg: "SIP/2.0 486 \r\n\r\n", status: 486},
	{name: "tab in reason phrase", msg: "SIP/2.0 486 Busy\there\r\n\r\n", status: 486},

	// Invalid.
	{name: "empty", msg: "", err: ErrEmpty},
	{name: "garbage", msg: "garbage", err: ErrStartLine},
	{name: "binary garbage", msg: "\x16\x03\x01\x02\x00\x01\x00", err: ErrStartLine},
	{name: "keep-alive is not a message", msg: "\r\n\r\n", err: ErrStartLine},
	{name: "leading CRLF", msg: "\r\n" + sipcorpus.Register, err: ErrStartLine},
	{name: "HTTP request", msg: "GET /ws HTTP/1.1\r\nHost: example.com\r\n\r\n", err: ErrVersion},
	{name: "HTTP response", msg: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", err: ErrVersion},
	{name: "request SIP/3.0", msg: "INVITE sip:x SIP/3.0\r\n\r\n", err: ErrVersion},
	{name: "request SIP/2.00", msg: "INVITE sip:x SIP/2.00\r\n\r\n", err: ErrVersion},
	{name: "response SIP/2.1", msg: "SIP/2.1 200 OK\r\n\r\n", err: ErrVersion},
	{name: "status 99", msg: "SIP/2.0 99 Low\r\n\r\n", err: ErrStatus},
	{name: "status 099", msg: "SIP/2.0 099 Low\r\n\r\n", err: ErrStatus},
	{name: "status 700", msg: "SIP/2.0 700 High\r\n\r\n", err: ErrStatus},
	{name: "status 2000", msg: "SIP/2.0 2000 OK\r\n\r\n", err: ErrStatus},
	{name: "status non-digit", msg: "SIP/2.0 2x0 OK\r\n\r\n", err: ErrStatus},
	{name: "status without SP", msg: "SIP/2.0 200OK\r\n\r\n", err: ErrStatus},
	{name: "status without reason SP", msg: "SIP/2.0 200\r\n\r\n", err: ErrStatus},
	{name: "status missing", msg: "SIP/2.0\r\n\r\n", err: ErrStatus},
	{name: "status double SP", msg: "SIP/2.0  200 OK\r\n\r\n", err: ErrStatus},
	{name: "request without URI", msg: "INVITE SIP/2.0\r\n\r\n", err: ErrStartLine},
	{name: "request without version", msg: "INVITE sip:x\r\n\r\n", err: ErrStartLine},
	{name: "request empty method", msg: " sip:x SIP/2.0\r\n\r\n", err: ErrStartLine},
	{name: "method not a token", msg: "INV@TE sip:x SIP/2.0\r\n\r\n", err: ErrStartLine},
	{name: "tab in Request-URI", msg: "INVITE sip:\tx SIP/2.0\r\n\r\n", err: ErrStartLine},
	{name: "NUL in method", msg: "INV\x00ITE sip:x SIP/2.0\r\n\r\n", err: ErrStartLine},
	{name: "NUL in Request-URI", msg: "INVITE sip:x\x00y SIP/2.0\r\n\r\n", err: ErrStartLine},
	{name: "NUL in reason", msg: "SIP/2.0 200 O\x00K\r\n\r\n", err: ErrStartLine},
	{name: "bare CR in start line", msg: "INVITE sip:x\rSIP/2.0\r\n\r\n", err: ErrStartLine},
	{name: "DEL in start line", msg: "INVITE sip:x\x7f SIP/2.0\r\n\r\n", err: ErrStartLine},
	{name: "no newline at all", msg: "INVITE sip:x SIP/2.0", err: ErrNoHeaderEnd},
	{name: "missing blank line", msg: okHead + "Content-Length: 0\r\n", err: ErrNoHeaderEnd},
	{name: "unterminated header", msg: okHead + "Content-Length: 0", err: ErrNoHeaderEnd},
	{name: "unterminated continuation", msg: okHead + "Subject: a\r\n b", err: ErrNoHeaderEnd},
	{name: "Content-Length larger than body", msg: okHead + "Content-Length: 6\r\n\r\nhello", err: ErrContentLength},
	{name: "Content-Length smaller than body", msg: okHead + "Content-Length: 4\r\n\r\nhello", err: ErrContentLength},
	{name: "Content-Length without body", msg: okHead + "Content-Length: 1\r\n\r\n", err: ErrContentLength},
	{name: "Content-Length negative", msg: okHead + "Content-Length: -5\r\n\r\nhello", err: ErrContentLength},
	{name: "Content-Length plus sign", msg: okHead + "Content-Length: +5\r\n\r\nhello", err: ErrContentLength},
	{name: "Content-Length non-numeric", msg: okHead + "Content-Length: five\r\n\r\nhello", err: ErrContentLength},
	{name: "Content-Length hex", msg: okHead + "Content-Length: 0x5\r\n\r\nhello", err: ErrContentLength},
	{name: "Content-Length empty", msg: okHead + "Content-Length:\r\n\r\nhello", err: ErrContentLength},
	{name: "Content-Length two numbers", msg: okHead + "Content-Length: 2 3\r\n\r\nhello", err: ErrContentLength},
	{name: "Content-Length list", msg: okHead + "Content-Length: 5, 5\r\n\r\nhello", err: ErrContentLength},
	{name: "Content-Length folded inside digits", msg: okHead + "Content-Length: 1\r\n 5\r\n\r\nhello", err: ErrContentLength},
	{name: "Content-Length overflow", msg: okHead + "Content-Length: 99999999999999999999999999999\r\n\r\nhello", err: ErrContentLength},
	{name: "two disagreeing Content-Length", msg: okHead + "Content-Length: 5\r\nl: 6\r\n\r\nhello", err: ErrContentLength},
	{name: "two disagreeing, second matches body", msg: okHead + "l: 6\r\nContent-Length: 5\r\n\r\nhello", err: ErrContentLength},
	{name: "second message glued", msg: sipcorpus.Register + sipcorpus.Register, err: ErrContentLength},
	{name: "second message glued after body", msg: sipcorpus.Invite + sipcorpus.Register, err: ErrContentLength},
	{name: "header without colon", msg: okHead + "Subject hello\r\n\r\n", err: ErrHeader},
	{name: "header empty name", msg: okHead + ": hello\r\n\r\n", err: ErrHeader},
	{name: "header name with space", msg: okHead + "Sub ject: hello\r\n\r\n", err: ErrHeader},
	{name: "header name not a token", msg: okHead + "Sub@ject: hello\r\n\r\n", err: ErrHeader},
	{name: "continuation first", msg: "OPTIONS sip:x SIP/2.0\r\n Via: x\r\n\r\n", err: ErrHeader},
	{name: "bare CR in header", msg: okHead + "Subject: a\rInjected: b\r\n\r\n", err: ErrHeader},
	{name: "bare CR in continuation", msg: okHead + "Subject: a\r\n b\rc\r\n\r\n", err: ErrHeader},
	{name: "CR CR LF", msg: okHead + "Subject: a\r\r\n\r\n", err: ErrHeader},
}

func TestCheck(t *testing.T) {
	for _, tc := range checkCases {
		t.Run(tc.name, func(t *testing.T) {
			assertCheck(t, tc)
		})
	}
}

func assertCheck(t *testing.T, tc checkCase) {
	t.Helper()
	m, err := Check([]byte(tc.msg))
	if tc.err != nil {
		if !errors.Is(err, tc.err) {
			t.Fatalf("Check() error = %v, want %v", err, tc.err)
		}
		if m.Request || m.Method != nil || m.StatusCode != 0 || m.HeaderEnd != 0 || m.BodyLen != 0 {
			t.Errorf("Check() returned %+v with an error, want the zero Message", m)
		}
		return
	}
	if err != nil {
		t.Fatalf("Check() error = %v, want nil", err)
	}
	if m.HeaderEnd+m.BodyLen != len(tc.msg) {
		t.Errorf("HeaderEnd %d + BodyLen %d != len %d", m.HeaderEnd, m.BodyLen, len(tc.msg))
	}
	if m.BodyLen != tc.bodyLen {
		t.Errorf("BodyLen = %d, want %d", m.BodyLen, tc.bodyLen)
	}
	if tc.method != "" {
		if !m.Request || string(m.Method) != tc.method || m.StatusCode != 0 {
			t.Errorf("got Request=%v Method=%q StatusCode=%d, want request %q", m.Request, m.Method, m.StatusCode, tc.method)
		}
		if cap(m.Method) != len(m.Method) {
			t.Errorf("cap(Method) = %d, want %d so appends cannot overwrite the message", cap(m.Method), len(m.Method))
		}
	} else if m.Request || m.Method != nil || m.StatusCode != tc.status {
		t.Errorf("got Request=%v Method=%q StatusCode=%d, want response %d", m.Request, m.Method, m.StatusCode, tc.status)
	}
}

type tortureCase struct {
	name string
	msg  string
	err  error // nil: Check must pass
}

// Only framing problems are Check's to reject; semantically invalid messages with sound
// framing (badinv01, badaspec, insuf) pass and are left to the router.
var tortureCases = []tortureCase{
	{"wsinv", sipcorpus.Torture("wsinv"), nil},
	{"intmeth", sipcorpus.Torture("intmeth"), nil},
	{"esc01", sipcorpus.Torture("esc01"), nil},
	{"escnull", sipcorpus.Torture("escnull"), nil},
	{"lwsdisp", sipcorpus.Torture("lwsdisp"), nil},
	{"unreason", sipcorpus.Torture("unreason"), nil},
	{"noreason", sipcorpus.Torture("noreason"), nil},
	{"badinv01", sipcorpus.Torture("badinv01"), nil},
	{"badaspec", sipcorpus.Torture("badaspec"), nil},
	{"insuf", sipcorpus.Torture("insuf"), nil},
	{"dblreq", sipcorpus.Torture("dblreq"), ErrContentLength},
	{"clerr", sipcorpus.Torture("clerr"), ErrContentLength},
	{"ncl", sipcorpus.Torture("ncl"), ErrContentLength},
	{"lwsruri", sipcorpus.Torture("lwsruri"), ErrStartLine},
	{"lwsstart", sipcorpus.Torture("lwsstart"), ErrStartLine},
	{"trws", sipcorpus.Torture("trws"), ErrVersion},
	{"badvers", sipcorpus.Torture("badvers"), ErrVersion},
	{"bigcode", sipcorpus.Torture("bigcode"), ErrStatus},
}

func TestCheckTorture(t *testing.T) {
	for _, tc := range tortureCases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Check([]byte(tc.msg))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Check() error = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check() error = %v, want nil", err)
			}
			if m.HeaderEnd+m.BodyLen != len(tc.msg) {
				t.Errorf("HeaderEnd %d + BodyLen %d != len %d", m.HeaderEnd, m.BodyLen, len(tc.msg))
			}
		})
	}
	m, _ := Check([]byte(sipcorpus.Torture("intmeth")))
	if want := "!interesting-Method0123456789_*+`.%indeed'~"; string(m.Method) != want {
		t.Errorf("intmeth Method = %q, want %q", m.Method, want)
	}
}

func TestCheckErrorDetail(t *testing.T) {
	_, err := Check([]byte(okHead + "Content-Length: 4\r\n\r\nhello"))
	if err == nil || err.Error() == ErrContentLength.Error() || !strings.Contains(err.Error(), "5 bytes") {
		t.Errorf("error %q lacks detail", err)
	}
	// Sentinels stay distinct, so errors.Is picks exactly one.
	all := []error{ErrEmpty, ErrStartLine, ErrVersion, ErrStatus, ErrHeader, ErrNoHeaderEnd, ErrContentLength, ErrNoResponse}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v matches %v", a, b)
			}
		}
	}
}

func TestCheckAllocs(t *testing.T) {
	for _, msg := range []string{sipcorpus.Register, sipcorpus.Invite, sipcorpus.Torture("wsinv"), resp200} {
		b := []byte(msg)
		if n := testing.AllocsPerRun(100, func() { _, _ = Check(b) }); n != 0 {
			t.Errorf("Check allocates %v times per run on %.20q", n, msg)
		}
	}
}

func TestHeaderValue(t *testing.T) {
	tests := []struct {
		name, msg, hname, compact string
		want                      string
		absent                    bool
	}{
		{name: "full name", msg: sipcorpus.Register, hname: "Call-ID", compact: "i", want: "5ghbuf9m2vblbgj8k7os7v"},
		{name: "case-insensitive", msg: sipcorpus.Register, hname: "call-id", want: "5ghbuf9m2vblbgj8k7os7v"},
		{name: "compact form", msg: sipcorpus.Torture("esc01"), hname: "Call-ID", compact: "i", want: "esc01.239409asdfakjkn23onasd0-3234"},
		{name: "compact form upper-case", msg: sipcorpus.Torture("escnull"), hname: "Content-Length", compact: "l", want: "0"},
		{name: "first of several", msg: sipcorpus.Torture("escnull"), hname: "Contact", want: "<sip:%00@host5.example.com>"},
		{name: "whitespace around colon", msg: sipcorpus.Torture("wsinv"), hname: "Content-Length", compact: "l", want: "150"},
		{name: "folded value", msg: sipcorpus.Torture("wsinv"), hname: "CSeq", want: "0009\r\n  INVITE"},
		{name: "value on continuation line", msg: sipcorpus.Torture("wsinv"), hname: "To", compact: "t", want: "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n"},
		{name: "empty value", msg: sipcorpus.Torture("wsinv"), hname: "Subject", compact: "s", want: ""},
		{name: "absent", msg: sipcorpus.Register, hname: "Subject", compact: "s", absent: true},
		{name: "not in body", msg: okHead + "\r\nSubject: body\r\n", hname: "Subject", absent: true},
		{name: "not the start line", msg: "Subject: x SIP/2.0\r\n\r\n", hname: "Subject", absent: true},
		{name: "bare LF", msg: lf(sipcorpus.Register), hname: "CSeq", want: "2 REGISTER"},
		{name: "no blank line", msg: "X sip:x SIP/2.0\r\nA: 1", hname: "a", want: "1"},
		{name: "empty names", msg: sipcorpus.Register, absent: true},
		{name: "empty message", msg: "", hname: "Via", absent: true},
		{name: "prefix is not a match", msg: sipcorpus.Register, hname: "Call", absent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := HeaderValue([]byte(tc.msg), tc.hname, tc.compact)
			if tc.absent {
				if got != nil {
					t.Errorf("HeaderValue() = %q, want nil", got)
				}
				return
			}
			if got == nil || string(got) != tc.want {
				t.Errorf("HeaderValue() = %q (nil %v), want %q", got, got == nil, tc.want)
			}
		})
	}
}

func TestIsKeepAlive(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"\r\n\r\n", true},
		{"\r\n", false},
		{"\n\n", false},
		{"\r\n\r\n\r\n", false},
		{"", false},
		{sipcorpus.Register, false},
	}
	for _, tc := range tests {
		if got := IsKeepAlive([]byte(tc.in)); got != tc.want {
			t.Errorf("IsKeepAlive(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
