package sipmsg

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/sipws/sipws/edge/sipcorpus"
)

func seedMessages() []string {
	seeds := []string{listMsg, sipcorpus.IPv6Register, lf(sipcorpus.Invite), "SIP/2.0 100\r\n\r\n", "OPTIONS sip:x SIP/2.0\r\nSubject: a\r\n \r\n\r\nx"}
	for _, tc := range roundTripCases() {
		seeds = append(seeds, tc.msg)
	}
	for _, msg := range sipcorpus.Invalid {
		seeds = append(seeds, msg)
	}
	return seeds
}

// headersNoCL returns the name/value pairs other than Content-Length.
func headersNoCL(m *Msg) [][2]string {
	var out [][2]string
	for _, h := range m.Headers {
		if !isContentLength(h.Name) {
			out = append(out, [2]string{h.Name, h.Value})
		}
	}
	return out
}

// checkSame reports how b, parsed from a's serialisation, differs from a.
func checkSame(t *testing.T, a, b *Msg) {
	t.Helper()
	if a.startLine() != b.startLine() {
		t.Fatalf("start line: %+v != %+v", a.startLine(), b.startLine())
	}
	if !bytes.Equal(a.Body, b.Body) {
		t.Fatalf("body %q != %q", a.Body, b.Body)
	}
	if ha, hb := headersNoCL(a), headersNoCL(b); !reflect.DeepEqual(ha, hb) {
		t.Fatalf("headers\n%q\n%q", ha, hb)
	}
	if b.Count("Content-Length") != 1 {
		t.Fatalf("%d Content-Length headers", b.Count("Content-Length"))
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range seedMessages() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := string(b)
		m, err := Parse(b)
		if string(b) != in {
			t.Fatal("input modified")
		}
		if err != nil {
			if m != nil {
				t.Fatal("Msg with error")
			}
			return
		}
		out := m.Bytes()
		m2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v\nin  %q\nout %q", err, b, out)
		}
		checkSame(t, m, m2)
		if out2 := m2.Bytes(); !bytes.Equal(out, out2) {
			t.Fatalf("not idempotent:\n%q\n%q", out, out2)
		}

		// Every accessor and parser on whatever the message holds: no panic.
		for _, h := range m.Headers {
			m.Values(h.Name)
			m.Count(h.Name)
			ParseVia(h.Value)
			ParseNameAddr(h.Value)
			ParseURI(h.Value)
		}
		m.CSeq()
		m.MaxForwards()
		ParseURI(m.RequestURI)

		// A proxy's edits keep the message well-formed.
		top, hasVia := m.TopValue("Via")
		m.PopValue("Route")
		m.Prepend("Via", benchVia)
		if hasVia {
			m.SetTopValue("v", top+";received=192.0.2.1")
		}
		m.Set("Record-Route", benchRR)
		m.Del("Max-Forwards")
		m.Append("Max-Forwards", "69")
		if len(m.Headers) > 3 {
			m.PopValue(m.Headers[3].Name)
		}
		edited := m.Bytes()
		m3, err := Parse(edited)
		if err != nil {
			t.Fatalf("edited message does not parse: %v\n%q", err, edited)
		}
		checkSame(t, m, m3)
	})
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"sip:alice@example.com", "sips:alice:secret@example.com:5061;transport=tcp?subject=hi&priority=urgent",
		"sip:[2001:db8::10]:5070", "sip:[::ffff:192.0.2.10]", "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31",
		"sip:user;par=u%40example.net@example.com", "tel:+1-201-555-0123;phone-context=example.com", "urn:service:sos",
		"sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
		"sip:h_1.svc.cluster.local.", "sip:192.0.2.4;maddr=[2001:db8::2];lr",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			return
		}
		str := u.String()
		u2, err := ParseURI(str)
		if err != nil || !reflect.DeepEqual(u, u2) {
			t.Fatalf("round trip of %q via %q: %#v %v", s, str, u2, err)
		}
		if u2.String() != str {
			t.Fatalf("String not stable: %q %q", str, u2.String())
		}
		u.HostPort()
	})
}

func FuzzParseVia(f *testing.F) {
	for _, s := range []string{
		"SIP/2.0/UDP host.example.com:5060;branch=z9hG4bK776",
		"SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8",
		"SIP/2.0/UDP [2001:db8::9:255]:5070;branch=z9hG4bKas3-111;received=2001:db8::9:255",
		"SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK6ppk4bn2;rport;x=\"a;b\"",
		"SIP/2.0/UDP host : 5070 ;received=192.0.2.1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVia(s)
		if err != nil {
			return
		}
		str := v.String()
		v2, err := ParseVia(str)
		if err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip of %q via %q: %#v %v", s, str, v2, err)
		}
		if v2.String() != str {
			t.Fatalf("String not stable: %q %q", str, v2.String())
		}
		v.Branch()
		v.HostPort()
	})
}

func FuzzParseNameAddr(f *testing.F) {
	for _, s := range []string{
		"<sip:alice@example.com>;tag=1928301774", "\"Alice\" <sip:alice@example.com>",
		"sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
		"\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com> ; tag = 98asjd8",
		"token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\xD1\x80\xD0\xB0\";tag=_token~1'+`*%!-.",
		"caller<sip:caller@example.com>;tag=323", "*", "isbn:2983792873", "<http://www.example.com>;tag=3234233",
		"sip:a@b;+sip.instance=\"<urn:uuid:1>\"", "\"Caller\" <sip:caller@[2001:db8::1]:5060;transport=tcp>;expires=60",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNameAddr(s)
		if err != nil {
			return
		}
		str := n.String()
		n2, err := ParseNameAddr(str)
		if err != nil || !reflect.DeepEqual(n, n2) {
			t.Fatalf("round trip of %q via %q: %#v %v", s, str, n2, err)
		}
		if n2.String() != str {
			t.Fatalf("String not stable: %q %q", str, n2.String())
		}
		n.Tag()
	})
}
