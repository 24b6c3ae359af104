package sipmsg

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseVia(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Via
		str  string // String(); "" means in
	}{
		{
			in:   "SIP/2.0/UDP host.example.com:5060;branch=z9hG4bK776",
			want: Via{"SIP/2.0", "UDP", "host.example.com", 5060, Params{{"branch", "z9hG4bK776", true}}},
		},
		{
			in:   "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK6ppk4bn2;rport",
			want: Via{"SIP/2.0", "WSS", "df7jal23ls0d.invalid", 0, Params{{"branch", "z9hG4bK6ppk4bn2", true}, {"rport", "", false}}},
		},
		{
			in:   "sip/2.0/ws h.invalid;BRANCH=z9hG4bK1",
			want: Via{"SIP/2.0", "WS", "h.invalid", 0, Params{{"BRANCH", "z9hG4bK1", true}}},
			str:  "SIP/2.0/WS h.invalid;BRANCH=z9hG4bK1",
		},
		{ // RFC 4475 wsinv: LWS everywhere
			in:   "SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8",
			want: Via{"SIP/2.0", "TCP", "spindle.example.com", 0, Params{{"branch", "z9hG4bK9ikj8", true}}},
			str:  "SIP/2.0/TCP spindle.example.com;branch=z9hG4bK9ikj8",
		},
		{
			in:   "SIP/2.0/UDP host : 5070 ;received=192.0.2.1",
			want: Via{"SIP/2.0", "UDP", "host", 5070, Params{{"received", "192.0.2.1", true}}},
			str:  "SIP/2.0/UDP host:5070;received=192.0.2.1",
		},
		{ // RFC 5118 §4.1
			in:   "SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111",
			want: Via{"SIP/2.0", "UDP", "[2001:db8::9:1]", 0, Params{{"branch", "z9hG4bKas3-111", true}}},
		},
		{ // RFC 5118 §4.5: received with and without brackets
			in:   "SIP/2.0/UDP [2001:db8::9:255]:5070;branch=z9hG4bKas3-111;received=2001:db8::9:255",
			want: Via{"SIP/2.0", "UDP", "[2001:db8::9:255]", 5070, Params{{"branch", "z9hG4bKas3-111", true}, {"received", "2001:db8::9:255", true}}},
		},
		{
			in:   "SIP/2.0/UDP 192.0.2.1;received=[2001:db8::9:255];branch=z9hG4bK1",
			want: Via{"SIP/2.0", "UDP", "192.0.2.1", 0, Params{{"received", "[2001:db8::9:255]", true}, {"branch", "z9hG4bK1", true}}},
		},
		{ // RFC 5118 §4.6: IPv4-mapped
			in:   "SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbzx",
			want: Via{"SIP/2.0", "UDP", "[::ffff:192.0.2.10]", 19823, Params{{"branch", "z9hG4bKbzx", true}}},
		},
		{ // RFC 4475 intmeth: every token character in the branch
			in:   "SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
			want: Via{"SIP/2.0", "TCP", "host1.example.com", 0, Params{{"branch", "z9hG4bK-.!%66*_+`'~", true}}},
		},
		{ // RFC 4475 transports
			in:   "SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
			want: Via{"SIP/2.0", "UNKNOWN", "t4.example.com", 0, Params{{"branch", "z9hG4bKasd0f3en", true}}},
		},
		{
			in:   "SIP/2.0/SCTP t2.example.com;branch=\"quoted;value\";ttl=16;maddr=224.2.0.1",
			want: Via{"SIP/2.0", "SCTP", "t2.example.com", 0, Params{{"branch", "\"quoted;value\"", true}, {"ttl", "16", true}, {"maddr", "224.2.0.1", true}}},
		},
		{
			in:   "  SIP/3.0/UDP h  ",
			want: Via{"SIP/3.0", "UDP", "h", 0, nil},
			str:  "SIP/3.0/UDP h",
		},
	} {
		got, err := ParseVia(tc.in)
		if err != nil {
			t.Errorf("ParseVia(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseVia(%q)\n got %#v\nwant %#v", tc.in, got, tc.want)
		}
		str := tc.str
		if str == "" {
			str = tc.in
		}
		if got.String() != str {
			t.Errorf("String() = %q, want %q", got.String(), str)
		}
		if again, err := ParseVia(got.String()); err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("String() round trip of %q: %#v %v", tc.in, again, err)
		}
	}
	v, _ := ParseVia("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1")
	if v.Branch() != "z9hG4bK1" || v.HostPort() != "[2001:db8::1]:5060" {
		t.Errorf("Branch %q HostPort %q", v.Branch(), v.HostPort())
	}
	if (Via{Transport: "UDP", Host: "h"}).String() != "SIP/2.0/UDP h" || (Via{Host: "h"}).HostPort() != "h" {
		t.Errorf("zero Protocol")
	}
}

func TestParseViaErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"SIP/2.0/UDP",
		"SIP/2.0/UDP ",
		"SIP/2.0 UDP host",
		"SIP/2.0/UDPhost",
		"SIP//UDP host",
		"/2.0/UDP host",
		"SIP/2.0/UDP host:",
		"SIP/2.0/UDP host:0",
		"SIP/2.0/UDP host:65536",
		"SIP/2.0/UDP host:5x",
		"SIP/2.0/UDP ho st",
		"SIP/2.0/UDP [2001:db8::1",
		"SIP/2.0/UDP [2001:db8:::1]",
		"SIP/2.0/UDP [192.0.2.1]",
		"SIP/2.0/UDP 2001:db8::1",
		"SIP/2.0/UDP 192.0.2.256",
		"SIP/2.0/UDP a..b",
		"SIP/2.0/UDP 192.0.2.15;;,;,,", // RFC 4475 badinv01
		"SIP/2.0/UDP h;branch=",
		"SIP/2.0/UDP h;=x",
		"SIP/2.0/UDP h;branch=\"open",
		"SIP/2.0/UDP h;branch=a b",
		"SIP/2.0/UDP a, SIP/2.0/UDP b",
		"SIP/2.0/UDP h;branch=<x>",
	} {
		if v, err := ParseVia(in); !errors.Is(err, ErrVia) {
			t.Errorf("ParseVia(%q) = %#v, %v; want ErrVia", in, v, err)
		}
	}
}

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want URI
		str  string
	}{
		{in: "sip:alice@example.com", want: URI{Scheme: "sip", User: "alice", Host: "example.com"}},
		{in: "sips:alice:secret@example.com:5061;transport=tcp?subject=hi&priority=urgent",
			want: URI{Scheme: "sips", User: "alice", Password: "secret", Host: "example.com", Port: 5061,
				Params: Params{{"transport", "tcp", true}}, Headers: "subject=hi&priority=urgent"}},
		{in: "SIP:Alice@Example.COM;LR", want: URI{Scheme: "sip", User: "Alice", Host: "Example.COM", Params: Params{{"LR", "", false}}},
			str: "sip:Alice@Example.COM;LR"},
		{in: "sip:edge.example.com;transport=ws;lr;ob", want: URI{Scheme: "sip", Host: "edge.example.com",
			Params: Params{{"transport", "ws", true}, {"lr", "", false}, {"ob", "", false}}}},
		{in: "sip:192.0.2.4", want: URI{Scheme: "sip", Host: "192.0.2.4"}},
		// RFC 5118 §4.2, §4.3, §4.6
		{in: "sip:[2001:db8::10]", want: URI{Scheme: "sip", Host: "[2001:db8::10]"}},
		{in: "sip:[2001:db8::10]:5070", want: URI{Scheme: "sip", Host: "[2001:db8::10]", Port: 5070}},
		{in: "sip:[2001:db8::10:5070]", want: URI{Scheme: "sip", Host: "[2001:db8::10:5070]"}},
		{in: "sip:caller@[2001:db8::1];maddr=[2001:db8::2]", want: URI{Scheme: "sip", User: "caller", Host: "[2001:db8::1]",
			Params: Params{{"maddr", "[2001:db8::2]", true}}}},
		{in: "sip:[::ffff:192.0.2.10]", want: URI{Scheme: "sip", Host: "[::ffff:192.0.2.10]"}},
		{in: "sip:[2001:db8:0:0:1:0:0:0]", want: URI{Scheme: "sip", Host: "[2001:db8:0:0:1:0:0:0]"}},
		// RFC 4475 escapes: kept as written
		{in: "sip:sips%3Auser%40example.com@example.net", want: URI{Scheme: "sip", User: "sips%3Auser%40example.com", Host: "example.net"}},
		{in: "sip:%75se%72@example.com", want: URI{Scheme: "sip", User: "%75se%72", Host: "example.com"}},
		{in: "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31", want: URI{Scheme: "sip", User: "cal%6Cer",
			Host: "host5.example.net", Params: Params{{"%6C%72", "", false}, {"n%61me", "v%61lue%25%34%31", true}}}},
		{in: "sip:null-%00-null@example.com", want: URI{Scheme: "sip", User: "null-%00-null", Host: "example.com"}},
		// RFC 4475 semiuri and intmeth: ';' '?' ',' in the user part
		{in: "sip:user;par=u%40example.net@example.com", want: URI{Scheme: "sip", User: "user;par=u%40example.net", Host: "example.com"}},
		{in: "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
			want: URI{Scheme: "sip", User: "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*",
				Password: "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)", Host: "example.com"}},
		{in: "sip:user@example.com?Route=%3Csip:example.com%3E", want: URI{Scheme: "sip", User: "user", Host: "example.com",
			Headers: "Route=%3Csip:example.com%3E"}},
		{in: "sip:+1-212-555-1212:1234@gateway.com;user=phone", want: URI{Scheme: "sip", User: "+1-212-555-1212",
			Password: "1234", Host: "gateway.com", Params: Params{{"user", "phone", true}}}},
		{in: "sip:h_1.svc.cluster.local.", want: URI{Scheme: "sip", Host: "h_1.svc.cluster.local."}},
		// Other schemes are opaque.
		{in: "tel:+1-201-555-0123;phone-context=example.com", want: URI{Scheme: "tel", Opaque: "+1-201-555-0123;phone-context=example.com"}},
		{in: "TEL:911", want: URI{Scheme: "tel", Opaque: "911"}, str: "tel:911"},
		{in: "urn:service:sos", want: URI{Scheme: "urn", Opaque: "service:sos"}},
		{in: "http://www.example.com", want: URI{Scheme: "http", Opaque: "//www.example.com"}},
		{in: "soap.beep://192.0.2.103:3002", want: URI{Scheme: "soap.beep", Opaque: "//192.0.2.103:3002"}},
		{in: "nobodyKnowsThisScheme:totallyopaquecontent", want: URI{Scheme: "nobodyknowsthisscheme", Opaque: "totallyopaquecontent"},
			str: "nobodyknowsthisscheme:totallyopaquecontent"},
	} {
		got, err := ParseURI(tc.in)
		if err != nil {
			t.Errorf("ParseURI(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseURI(%q)\n got %#v\nwant %#v", tc.in, got, tc.want)
		}
		str := tc.str
		if str == "" {
			str = tc.in
		}
		if got.String() != str {
			t.Errorf("String() = %q, want %q", got.String(), str)
		}
		if again, err := ParseURI(got.String()); err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("String() round trip of %q: %#v %v", tc.in, again, err)
		}
	}
	u, _ := ParseURI("sip:a@[2001:db8::1]:5060;lr")
	if u.HostPort() != "[2001:db8::1]:5060" {
		t.Errorf("HostPort = %q", u.HostPort())
	}
	if (URI{Host: "h"}).String() != "sip:h" || (URI{Host: "h"}).HostPort() != "h" {
		t.Error("zero Scheme")
	}
}

func TestParseURIErrors(t *testing.T) {
	for _, in := range []string{
		"", ":", "sip:", "sip", "alice@example.com", "1sip:x", "s p:x",
		"sip:@example.com",
		"sip:alice@",
		"sip:alice@example.com:",
		"sip:alice@example.com:0",
		"sip:alice@example.com:99999",
		"sip:alice@example.com:12ab",
		"sip:[2001:db8::10",          // RFC 5118: unclosed reference
		"sip:2001:db8::10",           // RFC 5118: IPv6 needs brackets
		"sip:user@2001:db8::10",      // RFC 5118
		"sip:[2001:db8:::10]",        // bad address
		"sip:[::ffff:192.0.2.256]",   // bad address
		"sip:[192.0.2.1]",            // not IPv6
		"sip:[fe80::1%25eth0]",       // zones have no place in SIP
		"sip:192.0.2.300",            // numeric but not IPv4
		"sip:a..example.com",         // empty label
		"sip:user@example.com;",      // empty parameter
		"sip:user@example.com;a b",   // space
		"sip:user@example.com;=x",    // empty name
		"sip:user@example.com;a=%zz", // bad escape
		"sip:us%2@example.com",       // bad escape
		"sip:us er@example.com",
		"sip:user@example.com?",
		"sip:user@example.com?a=<b>",
		"sip:user@example.com>",
		" sip:t.watson@example.org ", // RFC 4475 badaspec
		"<sip:user@example.com>",     // RFC 4475 ltgtruri
		"tel:",
		"tel:+1 555",
		"http://a\"b",
	} {
		if u, err := ParseURI(in); !errors.Is(err, ErrURI) {
			t.Errorf("ParseURI(%q) = %#v, %v; want ErrURI", in, u, err)
		}
	}
}

func TestParseNameAddr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want NameAddr
		str  string
	}{
		{in: "<sip:alice@example.com>;tag=1928301774", want: NameAddr{URI: URI{Scheme: "sip", User: "alice", Host: "example.com"},
			Params: Params{{"tag", "1928301774", true}}}},
		{in: "\"Alice\" <sip:alice@example.com>", want: NameAddr{Display: "\"Alice\"", URI: URI{Scheme: "sip", User: "alice", Host: "example.com"}}},
		{in: "Bob <sips:bob@biloxi.example.com>", want: NameAddr{Display: "Bob", URI: URI{Scheme: "sips", User: "bob", Host: "biloxi.example.com"}}},
		// addr-spec: the parameters belong to the header (RFC 3261 §20)
		{in: "sip:alice@example.com;tag=x", want: NameAddr{URI: URI{Scheme: "sip", User: "alice", Host: "example.com"},
			Params: Params{{"tag", "x", true}}}, str: "<sip:alice@example.com>;tag=x"},
		{in: "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n", want: NameAddr{URI: URI{Scheme: "sip", User: "vivekg",
			Host: "chair-dnrc.example.com"}, Params: Params{{"tag", "1918181833n", true}}}, str: "<sip:vivekg@chair-dnrc.example.com>;tag=1918181833n"},
		{in: "sip:+19725552222@gw1.example.net;unknownparam", want: NameAddr{URI: URI{Scheme: "sip", User: "+19725552222",
			Host: "gw1.example.net"}, Params: Params{{"unknownparam", "", false}}}, str: "<sip:+19725552222@gw1.example.net>;unknownparam"},
		{in: "sip:a@b;+sip.instance=\"<urn:uuid:1>\"", want: NameAddr{URI: URI{Scheme: "sip", User: "a", Host: "b"},
			Params: Params{{"+sip.instance", "\"<urn:uuid:1>\"", true}}}, str: "<sip:a@b>;+sip.instance=\"<urn:uuid:1>\""},
		// Display names with quotes, escapes and odd spacing (RFC 4475 wsinv, intmeth, lwsdisp)
		{in: "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com> ; tag = 98asjd8",
			want: NameAddr{Display: "\"J Rosenberg \\\\\\\"\"", URI: URI{Scheme: "sip", User: "jdrosen", Host: "example.com"},
				Params: Params{{"tag", "98asjd8", true}}}, str: "\"J Rosenberg \\\\\\\"\" <sip:jdrosen@example.com>;tag=98asjd8"},
		{in: "\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam = newvalue ; secondparam ; q = 0.33",
			want: NameAddr{Display: "\"Quoted string \\\"\\\"\"", URI: URI{Scheme: "sip", User: "jdrosen", Host: "example.com"},
				Params: Params{{"newparam", "newvalue", true}, {"secondparam", "", false}, {"q", "0.33", true}}},
			str: "\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com>;newparam=newvalue;secondparam;q=0.33"},
		{in: "\"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\" <sip:x@example.com>", want: NameAddr{Display: "\"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\"",
			URI: URI{Scheme: "sip", User: "x", Host: "example.com"}}},
		{in: "token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\xD1\x80\xD0\xB0\";tag=_token~1'+`*%!-.",
			want: NameAddr{Display: "token1~` token2'+_ token3*%!.-", URI: URI{Scheme: "sip", User: "mundane", Host: "example.com"},
				Params: Params{{"fromParam''~+*_!.-%", "\"\xD1\x80\xD0\xB0\"", true}, {"tag", "_token~1'+`*%!-.", true}}}},
		{in: "caller<sip:caller@example.com>;tag=323", want: NameAddr{Display: "caller", URI: URI{Scheme: "sip", User: "caller",
			Host: "example.com"}, Params: Params{{"tag", "323", true}}}, str: "caller <sip:caller@example.com>;tag=323"},
		{in: "\"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423", want: NameAddr{Display: "\"Bell, Alexander\"",
			URI: URI{Scheme: "sip", User: "a.g.bell", Host: "example.com"}, Params: Params{{"tag", "433423", true}}}},
		{in: "\"\" <sip:x@y>", want: NameAddr{Display: "\"\"", URI: URI{Scheme: "sip", User: "x", Host: "y"}}},
		// Other schemes (RFC 4475 unksm2), IPv6 (RFC 5118), Star
		{in: "isbn:2983792873", want: NameAddr{URI: URI{Scheme: "isbn", Opaque: "2983792873"}}, str: "<isbn:2983792873>"},
		{in: "<http://www.example.com>;tag=3234233", want: NameAddr{URI: URI{Scheme: "http", Opaque: "//www.example.com"},
			Params: Params{{"tag", "3234233", true}}}},
		{in: "<tel:+1-201-555-0123;phone-context=x>;tag=1", want: NameAddr{URI: URI{Scheme: "tel", Opaque: "+1-201-555-0123;phone-context=x"},
			Params: Params{{"tag", "1", true}}}},
		{in: "\"Caller\" <sip:caller@[2001:db8::1]:5060;transport=tcp>;expires=60", want: NameAddr{Display: "\"Caller\"",
			URI:    URI{Scheme: "sip", User: "caller", Host: "[2001:db8::1]", Port: 5060, Params: Params{{"transport", "tcp", true}}},
			Params: Params{{"expires", "60", true}}}},
		{in: "<sip:edge;lr;ob>", want: NameAddr{URI: URI{Scheme: "sip", Host: "edge", Params: Params{{"lr", "", false}, {"ob", "", false}}}}},
		{in: " * ", want: NameAddr{Star: true}, str: "*"},
	} {
		got, err := ParseNameAddr(tc.in)
		if err != nil {
			t.Errorf("ParseNameAddr(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseNameAddr(%q)\n got %#v\nwant %#v", tc.in, got, tc.want)
		}
		str := tc.str
		if str == "" {
			str = tc.in
		}
		if got.String() != str {
			t.Errorf("String() = %q, want %q", got.String(), str)
		}
		if again, err := ParseNameAddr(got.String()); err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("String() round trip of %q: %#v %v", tc.in, again, err)
		}
	}
	if n, _ := ParseNameAddr("<sip:a@b>;TAG=x"); n.Tag() != "x" {
		t.Errorf("Tag = %q", n.Tag())
	}
}

func TestParseNameAddrErrors(t *testing.T) {
	for _, in := range []string{
		"", "   ",
		"\"Watson, Thomas\" < sip:t.watson@example.org >",   // RFC 4475 badaspec
		"Bell, Alexander <sip:a.g.bell@example.com>;tag=43", // RFC 4475 baddn
		"\"Mr. J. User <sip:j.user@example.com>",            // RFC 4475 quotbal
		"\"Joe\" <sip:joe@example.org>;;;;",                 // RFC 4475 badinv01
		"\"Alice\"",
		"\"Alice\" sip:alice@example.com",
		"<sip:alice@example.com",
		"<>",
		"<sip:a@b> junk",
		"<sip:a@b>;tag=",
		"<sip:a@b>;tag=\"x",
		"<sip:a@b>, <sip:c@d>",
		"sip:a@b c",
		"sip:a@b,sip:c@d",
		"Al(ice) <sip:a@b>",
		"*;expires=0",
		"**",
	} {
		if n, err := ParseNameAddr(in); !errors.Is(err, ErrNameAddr) {
			t.Errorf("ParseNameAddr(%q) = %#v, %v; want ErrNameAddr", in, n, err)
		}
	}
	// The URI's own error is wrapped too.
	if _, err := ParseNameAddr("<sip:a@[::1>"); !errors.Is(err, ErrURI) {
		t.Errorf("URI error not wrapped: %v", err)
	}
}

func TestParams(t *testing.T) {
	var p Params
	if p.Has("lr") || p.String() != "" {
		t.Fatal("empty Params")
	}
	p.Set("transport", "ws")
	p.SetFlag("lr")
	p.Set("Transport", "udp") // case-insensitive replace keeps the name as first written
	p.SetFlag("ob")
	if got := p.String(); got != ";transport=udp;lr;ob" {
		t.Fatalf("String = %q", got)
	}
	if v, ok := p.Get("TRANSPORT"); v != "udp" || !ok {
		t.Errorf("Get = %q %v", v, ok)
	}
	if v, ok := p.Get("lr"); v != "" || !ok || !p.Has("LR") {
		t.Errorf("Get(lr) = %q %v", v, ok)
	}
	p.Set("lr", "1")
	p.SetFlag("transport")
	if got := p.String(); got != ";transport;lr=1;ob" {
		t.Fatalf("String = %q", got)
	}
	p = append(p, Param{Name: "OB"})
	p.Del("ob")
	if got := p.String(); got != ";transport;lr=1" {
		t.Fatalf("after Del: %q", got)
	}
	p.Del("transport")
	p.Del("lr")
	p.Del("missing")
	if p != nil {
		t.Fatalf("Del all: %#v", p)
	}
}
