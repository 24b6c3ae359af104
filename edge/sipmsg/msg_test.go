package sipmsg

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sipws/sipws/edge/sipcorpus"
)

// lf turns CRLF line ends into bare LF.
func lf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func mustParse(t testing.TB, s string) *Msg {
	t.Helper()
	m, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v\n%q", err, s)
	}
	return m
}

// roundTripCases are messages that must come out of Parse+Bytes byte for byte.
func roundTripCases() []struct{ name, msg string } {
	cases := []struct{ name, msg string }{
		{"register", sipcorpus.Register},
		{"invite", sipcorpus.Invite},
		{"ipv6 register (RFC 5118)", sipcorpus.IPv6Register},
		{"bare LF", lf(sipcorpus.Register)},
		{"mixed line ends", "OPTIONS sip:x SIP/2.0\nCall-ID: a\r\nCSeq: 1 OPTIONS\nl: 0\r\n\n"},
		{"lower-case version", "OPTIONS sip:x sip/2.0\r\nContent-Length: 0\r\n\r\n"},
		{"no reason phrase, no SP", "SIP/2.0 100\r\nContent-Length: 0\r\n\r\n"},
		{"two agreeing Content-Length", "OPTIONS sip:x SIP/2.0\r\nContent-Length: 5\r\n\r\nhello"},
		{"Content-Length leading zeros", "OPTIONS sip:x SIP/2.0\r\nl:   0005 \r\n\r\nhello"},
		{"tab in reason", "SIP/2.0 486 Busy\there\r\nContent-Length: 0\r\n\r\n"},
		{"folded Content-Length", "OPTIONS sip:x SIP/2.0\r\nContent-Length:\r\n 5\r\n\r\nhello"},
		{"whitespace-only continuation", "OPTIONS sip:x SIP/2.0\r\nSubject: a\r\n \r\nl: 0\r\n\r\n"},
		// Valid syntax, invalid semantics (RFC 4475 §3.3): a proxy relays them.
		{"bext01", sipcorpus.Invalid["bext01"]},
		{"unksm2", sipcorpus.Invalid["unksm2"]},
		{"escruri", sipcorpus.Invalid["escruri"]},
		{"regescrt", sipcorpus.Invalid["regescrt"]},
	}
	for _, tc := range sipcorpus.Valid {
		if tc.Name != "dblreq" { // two messages in one: refused, see TestParseErrors
			cases = append(cases, struct{ name, msg string }{tc.Name, tc.Text})
		}
	}
	return cases
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			m := mustParse(t, tc.msg)
			if got := string(m.Bytes()); got != tc.msg {
				t.Fatalf("round trip differs:\n got %q\nwant %q", got, tc.msg)
			}
			// AppendTo appends.
			if got := string(m.AppendTo([]byte("x"))); got != "x"+tc.msg {
				t.Fatalf("AppendTo did not append")
			}
		})
	}
}

// TestRoundTripAddsContentLength: a message without Content-Length (fine on WebSocket,
// RFC 7118 §5.1) gets one, since TCP upstreams need it.
func TestRoundTripAddsContentLength(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\n\r\n", "OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\nContent-Length: 0\r\n\r\n"},
		{"OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\n\r\nbody\r\n\r\nmore", "OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\nContent-Length: 12\r\n\r\nbody\r\n\r\nmore"},
		{"\r\n\r\nOPTIONS sip:x SIP/2.0\r\nl: 0\r\n\r\n", "OPTIONS sip:x SIP/2.0\r\nl: 0\r\n\r\n"}, // leading CRLFs dropped (RFC 3261 §7.5)
		{"OPTIONS sip:x SIP/2.0\r\nContent-Length: 5\r\nCall-ID: a\r\nl: 05\r\n\r\nhello", "OPTIONS sip:x SIP/2.0\r\nContent-Length: 5\r\nCall-ID: a\r\n\r\nhello"},
	} {
		m := mustParse(t, tc.in)
		if got := string(m.Bytes()); got != tc.want {
			t.Errorf("Bytes(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestParseFields(t *testing.T) {
	m := mustParse(t, sipcorpus.Invite)
	if !m.Request || m.Method != "INVITE" || m.RequestURI != "sip:bob@example.com" || string(m.Body) != sipcorpus.SDP {
		t.Fatalf("request fields: %+v", m)
	}
	if len(m.Headers) != 12 {
		t.Fatalf("%d headers", len(m.Headers))
	}

	m = mustParse(t, sipcorpus.Valid[11].Text) // unreason
	if m.Request || m.StatusCode != 200 || !strings.HasPrefix(m.Reason, "= 2**3 * 5**2 \xD0\xBD\xD0\xBE") {
		t.Fatalf("response fields: %+v", m)
	}
	m = mustParse(t, sipcorpus.Valid[12].Text) // noreason
	if m.StatusCode != 100 || m.Reason != "" {
		t.Fatalf("noreason: %d %q", m.StatusCode, m.Reason)
	}
	m = mustParse(t, sipcorpus.Valid[1].Text) // intmeth
	if m.Method != "!interesting-Method0123456789_*+`.%indeed'~" ||
		!strings.HasPrefix(m.RequestURI, "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has") {
		t.Fatalf("intmeth: %q %q", m.Method, m.RequestURI)
	}
	if v, _ := m.Get("To"); v != "\"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>" {
		t.Fatalf("intmeth To: %q", v)
	}
}

// TestWsinv checks unfolding and compact forms on RFC 4475 §3.1.1.1.
func TestWsinv(t *testing.T) {
	m := mustParse(t, sipcorpus.Valid[0].Text)
	for _, tc := range []struct{ name, want string }{
		{"To", "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n"},
		{"From", "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com> ; tag = 98asjd8"},
		{"Max-Forwards", "0068"},
		{"CSeq", "0009 INVITE"},
		{"Subject", ""},
		{"NewFangledHeader", "newfangled value continued newfangled value"},
		{"UnknownHeaderWithUnusualValue", ";;,,;;,;"},
		{"Route", "<sip:services.example.com;lr;unknownwith=value;unknown-no-value>"},
		{"m", "\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam = newvalue ; secondparam ; q = 0.33"},
	} {
		if got, ok := m.Get(tc.name); !ok || got != tc.want {
			t.Errorf("Get(%q) = %q, %v; want %q", tc.name, got, ok, tc.want)
		}
	}
	vias := m.Values("Via")
	want := []string{
		"SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw",
		"SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8",
		"SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
	}
	if !reflect.DeepEqual(vias, want) {
		t.Fatalf("Values(Via) = %q", vias)
	}
	for i, v := range vias {
		via, err := ParseVia(v)
		if err != nil {
			t.Fatalf("ParseVia(%q): %v", v, err)
		}
		if b := []string{"390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"}[i]; via.Branch() != b {
			t.Errorf("branch %q, want %q", via.Branch(), b)
		}
	}
	if n, method, err := m.CSeq(); n != 9 || method != "INVITE" || err != nil {
		t.Errorf("CSeq = %d %q %v", n, method, err)
	}
	if n, ok, err := m.MaxForwards(); n != 68 || !ok || err != nil {
		t.Errorf("MaxForwards = %d %v %v", n, ok, err)
	}
	to, _ := m.Get("t")
	na, err := ParseNameAddr(to)
	if err != nil || na.URI.User != "vivekg" || na.Tag() != "1918181833n" {
		t.Errorf("To: %+v %v", na, err)
	}
	from, _ := m.Get("f")
	na, err = ParseNameAddr(from)
	if err != nil || na.Display != "\"J Rosenberg \\\\\\\"\"" || na.Tag() != "98asjd8" {
		t.Errorf("From: %+v %v", na, err)
	}
	contact, _ := m.TopValue("Contact")
	na, err = ParseNameAddr(contact)
	if q, _ := na.Params.Get("q"); err != nil || q != "0.33" || !na.Params.Has("secondparam") {
		t.Errorf("Contact: %+v %v", na, err)
	}
}

func TestLongreq(t *testing.T) {
	var msg string
	for _, tc := range sipcorpus.Valid {
		if tc.Name == "longreq" {
			msg = tc.Text
		}
	}
	m := mustParse(t, msg)
	if n := m.Count("Via"); n != 34 {
		t.Fatalf("Count(Via) = %d", n)
	}
	vias := m.Values("v")
	if len(vias) != 34 || !strings.HasPrefix(vias[0], "SIP/2.0/TCP sip33.example.com") ||
		!strings.HasPrefix(vias[33], "SIP/2.0/TCP host.example.com;received=192.0.2.5") {
		t.Fatalf("Values(v) = %q", vias)
	}
	if top, _ := m.PopValue("VIA"); top != "SIP/2.0/TCP sip33.example.com" {
		t.Fatalf("PopValue = %q", top)
	}
	want := strings.Replace(msg, "Via: SIP/2.0/TCP sip33.example.com\r\n", "", 1)
	if got := string(m.Bytes()); got != want {
		t.Fatalf("after PopValue:\n%s", got)
	}
}

func TestParseErrors(t *testing.T) {
	dblreq := ""
	for _, tc := range sipcorpus.Valid {
		if tc.Name == "dblreq" {
			dblreq = tc.Text
		}
	}
	for _, tc := range []struct {
		name, msg string
		err       error
	}{
		{"empty", "", ErrEmpty},
		{"keep-alive", "\r\n\r\n", ErrEmpty},
		{"garbage", "garbage", ErrStartLine},
		{"TLS hello", "\x16\x03\x01\x02\x00\x01\x00", ErrStartLine},
		{"no headers end", "OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\n", ErrHeader},
		{"start line only", "OPTIONS sip:x SIP/2.0\r\n", ErrHeader},
		{"one word", "OPTIONS\r\n\r\n", ErrStartLine},
		{"two words", "OPTIONS sip:x\r\n\r\n", ErrStartLine},
		{"empty URI", "OPTIONS  SIP/2.0\r\n\r\n", ErrStartLine},
		{"bad method", "OPT(ONS sip:x SIP/2.0\r\n\r\n", ErrStartLine},
		{"HTTP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ErrStartLine},
		{"SIP/3.0 request", "OPTIONS sip:x SIP/3.0\r\n\r\n", ErrVersion},
		{"SIP/2.1 response", "SIP/2.1 200 OK\r\n\r\n", ErrVersion},
		{"status 99", "SIP/2.0 099 Low\r\n\r\n", ErrStartLine},
		{"status 700", "SIP/2.0 700 High\r\n\r\n", ErrStartLine},
		{"status 2000", "SIP/2.0 2000 OK\r\n\r\n", ErrStartLine},
		{"status letters", "SIP/2.0 2OO OK\r\n\r\n", ErrStartLine},
		{"NUL in reason", "SIP/2.0 200 O\x00K\r\n\r\n", ErrStartLine},
		{"bare CR in start line", "OPTIONS sip:x\rSIP/2.0\r\n\r\n", ErrHeader},
		{"bare CR in header", "OPTIONS sip:x SIP/2.0\r\nSubject: a\rVia: x\r\n\r\n", ErrHeader},
		{"continuation first", "OPTIONS sip:x SIP/2.0\r\n Subject: a\r\n\r\n", ErrHeader},
		{"no colon", "OPTIONS sip:x SIP/2.0\r\nSubject a\r\n\r\n", ErrHeader},
		{"empty name", "OPTIONS sip:x SIP/2.0\r\n: a\r\n\r\n", ErrHeader},
		{"space in name", "OPTIONS sip:x SIP/2.0\r\nSub ject: a\r\n\r\n", ErrHeader},
		{"Content-Length too big", "OPTIONS sip:x SIP/2.0\r\nContent-Length: 6\r\n\r\nhello", ErrContentLength},
		{"Content-Length too small", "OPTIONS sip:x SIP/2.0\r\nl: 4\r\n\r\nhello", ErrContentLength},
		{"Content-Length empty", "OPTIONS sip:x SIP/2.0\r\nContent-Length:\r\n\r\n", ErrContentLength},
		{"Content-Length hex", "OPTIONS sip:x SIP/2.0\r\nContent-Length: 0x5\r\n\r\nhello", ErrContentLength},
		{"Content-Length huge", "OPTIONS sip:x SIP/2.0\r\nContent-Length: 99999999999999999999\r\n\r\n", ErrContentLength},
		// RFC 4475 §3.1.2: invalid at the message level.
		{"dblreq", dblreq, ErrContentLength}, // on WebSocket one message is one frame (RFC 7118 §5.1)
		{"badvers", sipcorpus.Invalid["badvers"], ErrVersion},
		{"bigcode", sipcorpus.Invalid["bigcode"], ErrStartLine},
		{"clerr", sipcorpus.Invalid["clerr"], ErrContentLength},
		{"ncl", sipcorpus.Invalid["ncl"], ErrContentLength},
		{"mcl01", sipcorpus.Invalid["mcl01"], ErrContentLength},
		{"lwsruri", sipcorpus.Invalid["lwsruri"], ErrStartLine},
		{"lwsstart", sipcorpus.Invalid["lwsstart"], ErrStartLine},
		{"trws", sipcorpus.Invalid["trws"], ErrStartLine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.msg))
			if !errors.Is(err, tc.err) || m != nil {
				t.Fatalf("Parse = %v, %v; want %v", m, err, tc.err)
			}
			if errors.Is(err, ErrVersion) && !errors.Is(err, ErrStartLine) {
				t.Fatalf("ErrVersion must also be ErrStartLine")
			}
		})
	}
}

// TestTortureSemantics: RFC 4475 messages whose framing is fine are parsed, and the
// defect shows when the router parses the header it needs.
func TestTortureSemantics(t *testing.T) {
	firstErr := func(m *Msg, name string, parse func(string) error) error {
		for _, v := range m.Values(name) {
			if err := parse(v); err != nil {
				return err
			}
		}
		return nil
	}
	via := func(s string) error { _, err := ParseVia(s); return err }
	addr := func(s string) error { _, err := ParseNameAddr(s); return err }
	uri := func(s string) error { _, err := ParseURI(s); return err }
	for _, tc := range []struct {
		name  string
		check func(m *Msg) error
		err   error
	}{
		{"badaspec", func(m *Msg) error { return firstErr(m, "To", addr) }, ErrNameAddr},
		{"baddn", func(m *Msg) error { return firstErr(m, "From", addr) }, ErrNameAddr},
		{"quotbal", func(m *Msg) error { return firstErr(m, "To", addr) }, ErrNameAddr},
		{"badinv01", func(m *Msg) error { return firstErr(m, "Via", via) }, ErrVia},
		{"badinv01", func(m *Msg) error { return firstErr(m, "Contact", addr) }, ErrNameAddr},
		{"ltgtruri", func(m *Msg) error { return uri(m.RequestURI) }, ErrURI},
		{"scalar02", func(m *Msg) error { _, _, err := m.CSeq(); return err }, ErrHeader},
		{"scalar02", func(m *Msg) error { _, _, err := m.MaxForwards(); return err }, ErrHeader},
		{"scalarlg", func(m *Msg) error { _, _, err := m.CSeq(); return err }, ErrHeader},
		{"insuf", func(m *Msg) error { _, _, err := m.MaxForwards(); return err }, nil},
		{"novelsc", func(m *Msg) error { return uri(m.RequestURI) }, nil},
		{"unkscm", func(m *Msg) error { return uri(m.RequestURI) }, nil},
		{"unksm2", func(m *Msg) error { return firstErr(m, "Contact", addr) }, nil},
		{"cparam01", func(m *Msg) error { return firstErr(m, "Contact", addr) }, nil},
		{"escruri", func(m *Msg) error { return uri(m.RequestURI) }, nil},
		{"inv2543", func(m *Msg) error { return firstErr(m, "Via", via) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustParse(t, sipcorpus.Invalid[tc.name])
			if err := tc.check(m); !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
		})
	}
	// Every RFC 4475 message is either refused by Parse or relayed byte for byte, but
	// for the Content-Length added where there was none (inv2543).
	for name, msg := range sipcorpus.Invalid {
		m, err := Parse([]byte(msg))
		if err != nil {
			continue
		}
		want := msg
		if _, ok := m.Get("Content-Length"); !ok {
			i := strings.Index(msg, "\r\n\r\n") + 2
			want = msg[:i] + "Content-Length: " + strconv.Itoa(len(m.Body)) + "\r\n" + msg[i:]
		}
		if got := string(m.Bytes()); got != want {
			t.Errorf("%s: parsed but not relayed intact:\n%q", name, got)
		}
	}
}

func TestCanonicalName(t *testing.T) {
	for in, want := range map[string]string{
		"v": "Via", "V": "Via", "i": "Call-ID", "m": "Contact", "f": "From", "t": "To",
		"l": "Content-Length", "c": "Content-Type", "k": "Supported", "s": "Subject",
		"e": "Content-Encoding", "o": "Event", "r": "Refer-To", "b": "Referred-By",
		"u": "Allow-Events", "x": "Session-Expires", "y": "Identity", "a": "Accept-Contact",
		"d": "Request-Disposition", "j": "Reject-Contact",
		"call-id": "Call-ID", "CALL-ID": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate",
		"max-forwards": "Max-Forwards", "record-route": "Record-Route", "VIA": "Via",
		"content-length": "Content-Length", "p-asserted-identity": "P-Asserted-Identity",
		"X-Custom": "X-Custom", "q": "q", "": "", "Unknown-LongLongLongLongLongLongLongLong-Name": "Unknown-LongLongLongLongLongLongLongLong-Name",
	} {
		if got := CanonicalName(in); got != want {
			t.Errorf("CanonicalName(%q) = %q, want %q", in, got, want)
		}
	}
}

const listMsg = "OPTIONS sip:x SIP/2.0\r\n" +
	"Route: <sip:a,b@p1;lr>, \"Quoted, comma\" <sip:p2>,<sip:p3>\r\n" +
	"route: <sip:p4>\r\n" +
	"Contact: *\r\n" +
	"WWW-Authenticate: Digest realm=\"a,b\", nonce=\"x\", algorithm=MD5\r\n" +
	"Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n" +
	"Supported: path, ,outbound,\r\n" +
	"X-List: a, b\r\n" +
	"X-List: c\r\n" +
	"Subject:\r\n" +
	"Via: SIP/2.0/UDP a;branch=\"x,y\";received=1.2.3.4, SIP/2.0/TCP b\r\n" +
	"Content-Length: 0\r\n\r\n"

func TestValues(t *testing.T) {
	m := mustParse(t, listMsg)
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"Route", []string{"<sip:a,b@p1;lr>", "\"Quoted, comma\" <sip:p2>", "<sip:p3>", "<sip:p4>"}},
		{"ROUTE", []string{"<sip:a,b@p1;lr>", "\"Quoted, comma\" <sip:p2>", "<sip:p3>", "<sip:p4>"}},
		{"m", []string{"*"}},
		{"WWW-Authenticate", []string{"Digest realm=\"a,b\", nonce=\"x\", algorithm=MD5"}},
		{"Date", []string{"Sat, 13 Nov 2010 23:29:00 GMT"}},
		{"k", []string{"path", "outbound"}},
		{"X-List", []string{"a, b", "c"}}, // unknown headers are never split
		{"Subject", []string{""}},
		{"Via", []string{"SIP/2.0/UDP a;branch=\"x,y\";received=1.2.3.4", "SIP/2.0/TCP b"}},
		{"Record-Route", nil},
	} {
		if got := m.Values(tc.name); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Values(%q) = %q, want %q", tc.name, got, tc.want)
		}
		if n := m.Count(tc.name); n != len(tc.want) {
			t.Errorf("Count(%q) = %d, want %d", tc.name, n, len(tc.want))
		}
		top, ok := m.TopValue(tc.name)
		if ok != (len(tc.want) > 0) || (ok && top != tc.want[0]) {
			t.Errorf("TopValue(%q) = %q, %v", tc.name, top, ok)
		}
	}
	if v, ok := m.Get("x-list"); !ok || v != "a, b" {
		t.Errorf("Get(x-list) = %q %v", v, ok)
	}
	if _, ok := m.Get("Record-Route"); ok {
		t.Errorf("Get(Record-Route) found")
	}
	if m.CallID() != "" {
		t.Errorf("CallID of message without one")
	}
}

func TestCSeqMaxForwards(t *testing.T) {
	for _, tc := range []struct {
		cseq   string
		num    uint32
		method string
		ok     bool
	}{
		{"1 INVITE", 1, "INVITE", true},
		{"0009 \t INVITE", 9, "INVITE", true},
		{"2147483647 BYE", 2147483647, "BYE", true},
		{"2147483648 BYE", 0, "", false},
		{"36893488147419103232 REGISTER", 0, "", false},
		{"1", 0, "", false},
		{"INVITE", 0, "", false},
		{"-1 INVITE", 0, "", false},
		{"1 INV(TE", 0, "", false},
		{"1 INVITE extra", 0, "", false},
	} {
		m := mustParse(t, "OPTIONS sip:x SIP/2.0\r\nCSeq: "+tc.cseq+"\r\n\r\n")
		num, method, err := m.CSeq()
		if (err == nil) != tc.ok || num != tc.num || method != tc.method {
			t.Errorf("CSeq(%q) = %d %q %v", tc.cseq, num, method, err)
		}
		if err != nil && !errors.Is(err, ErrHeader) {
			t.Errorf("CSeq(%q) error %v not ErrHeader", tc.cseq, err)
		}
	}
	if _, _, err := mustParse(t, "OPTIONS sip:x SIP/2.0\r\n\r\n").CSeq(); !errors.Is(err, ErrMissing) {
		t.Errorf("missing CSeq: %v", err)
	}

	for _, tc := range []struct {
		mf      string
		n       int
		present bool
		ok      bool
	}{
		{"", 0, false, true},
		{"70", 70, true, true},
		{"0", 0, true, true},
		{"0068", 68, true, true},
		{"255", 255, true, true},
		{"256", 0, true, false},
		{"300", 0, true, false},
		{"-1", 0, true, false},
		{"seven", 0, true, false},
	} {
		msg := "OPTIONS sip:x SIP/2.0\r\n"
		if tc.present {
			msg += "Max-Forwards: " + tc.mf + "\r\n"
		}
		n, present, err := mustParse(t, msg+"\r\n").MaxForwards()
		if n != tc.n || present != tc.present || (err == nil) != tc.ok {
			t.Errorf("MaxForwards(%q) = %d %v %v", tc.mf, n, present, err)
		}
	}
	if id := mustParse(t, sipcorpus.Valid[2].Text).CallID(); id != "esc01.239409asdfakjkn23onasd0-3234" {
		t.Errorf("CallID (compact i) = %q", id)
	}
}

func TestParseIntoReuse(t *testing.T) {
	var m Msg
	for i := 0; i < 3; i++ {
		for _, s := range []string{sipcorpus.Invite, sipcorpus.Register, sipcorpus.Valid[0].Text} {
			if err := ParseInto(&m, []byte(s)); err != nil {
				t.Fatal(err)
			}
			if got := string(m.Bytes()); got != s {
				t.Fatalf("reused Msg round trip differs")
			}
		}
	}
	if err := ParseInto(&m, []byte("garbage")); err == nil {
		t.Fatal("no error")
	}
}

// TestDirectEdits: changing Header fields or start-line fields directly is honoured.
func TestDirectEdits(t *testing.T) {
	m := mustParse(t, sipcorpus.Register)
	m.Headers[2].Value = "<sip:other.example.com;lr>" // Route
	m.Headers[1].Name = "max-forwards"
	m.RequestURI = "sip:registrar.example.com"
	got := string(m.Bytes())
	want := strings.NewReplacer(
		"REGISTER sip:example.com SIP/2.0", "REGISTER sip:registrar.example.com SIP/2.0",
		"Route: <sip:edge.example.com;transport=ws;lr>", "Route: <sip:other.example.com;lr>",
		"Max-Forwards: 69", "max-forwards: 69").Replace(sipcorpus.Register)
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}

	r := mustParse(t, "SIP/2.0 180 Ringing\r\nl: 0\r\n\r\n")
	r.StatusCode, r.Reason = 183, "Session Progress\r\nInjected: yes"
	if got := string(r.Bytes()); got != "SIP/2.0 183 Session Progress  Injected: yes\r\nl: 0\r\n\r\n" {
		t.Fatalf("response: %q", got)
	}
}

func TestNewMessage(t *testing.T) {
	m := &Msg{Request: true, Method: "OPTIONS", RequestURI: "sip:x"}
	m.Append("Via", "SIP/2.0/UDP h;branch=z9hG4bK1")
	m.Append("X-Bad", "a\r\nInjected: 1")
	m.Body = []byte("hi")
	want := "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nX-Bad: a  Injected: 1\r\nContent-Length: 2\r\n\r\nhi"
	if got := m.String(); got != want {
		t.Fatalf("got %q", got)
	}
	mustParse(t, want)
}
