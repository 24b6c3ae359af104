package sipmsg

import (
	"strings"
	"testing"

	"github.com/sipws/sipws/edge/sipcorpus"
)

const editHead = "INVITE sip:bob@example.com SIP/2.0\r\n"

func TestEdits(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string // headers only; editHead and the end are added
		edit func(t *testing.T, m *Msg)
		want string
	}{
		{
			name: "pop Via from one line with two values",
			in:   "Via: SIP/2.0/UDP a;branch=z9hG4bK1 , SIP/2.0/TCP b;branch=z9hG4bK2\r\nCall-ID: c\r\n",
			edit: func(t *testing.T, m *Msg) {
				if v, ok := m.PopValue("Via"); !ok || v != "SIP/2.0/UDP a;branch=z9hG4bK1" {
					t.Errorf("PopValue = %q %v", v, ok)
				}
			},
			want: "Via: SIP/2.0/TCP b;branch=z9hG4bK2\r\nCall-ID: c\r\n",
		},
		{
			name: "pop Via from two lines",
			in:   "v: SIP/2.0/UDP a;branch=z9hG4bK1\r\nCall-ID: c\r\nVia: SIP/2.0/TCP b;branch=z9hG4bK2\r\n",
			edit: func(t *testing.T, m *Msg) {
				if v, ok := m.PopValue("Via"); !ok || v != "SIP/2.0/UDP a;branch=z9hG4bK1" {
					t.Errorf("PopValue = %q %v", v, ok)
				}
			},
			want: "Call-ID: c\r\nVia: SIP/2.0/TCP b;branch=z9hG4bK2\r\n",
		},
		{
			name: "pop folded list keeps the rest unfolded",
			in:   "Route: <sip:p1;lr>,\r\n <sip:p2;lr>,\r\n\t<sip:p3;lr>\r\n",
			edit: func(t *testing.T, m *Msg) {
				if v, _ := m.PopValue("route"); v != "<sip:p1;lr>" {
					t.Errorf("PopValue = %q", v)
				}
			},
			want: "Route: <sip:p2;lr>, <sip:p3;lr>\r\n",
		},
		{
			name: "pop the last value removes the line",
			in:   "Route: <sip:p1;lr>\r\nCall-ID: c\r\n",
			edit: func(t *testing.T, m *Msg) {
				m.PopValue("Route")
				if _, ok := m.PopValue("Route"); ok {
					t.Error("second PopValue found a value")
				}
			},
			want: "Call-ID: c\r\n",
		},
		{
			name: "pop skips an empty line of that name",
			in:   "Route:\r\nRoute: <sip:p1;lr>, <sip:p2>\r\n",
			edit: func(t *testing.T, m *Msg) {
				if v, _ := m.PopValue("Route"); v != "<sip:p1;lr>" {
					t.Errorf("PopValue = %q", v)
				}
			},
			want: "Route:\r\nRoute: <sip:p2>\r\n",
		},
		{
			name: "pop a non-list header removes the line",
			in:   "Subject: a, b\r\nSubject: c\r\n",
			edit: func(t *testing.T, m *Msg) {
				if v, _ := m.PopValue("s"); v != "a, b" {
					t.Errorf("PopValue = %q", v)
				}
			},
			want: "Subject: c\r\n",
		},
		{
			name: "prepend Via goes to the top",
			in:   "Call-ID: c\r\nVia: SIP/2.0/WSS x.invalid;branch=z9hG4bK1\r\n",
			edit: func(t *testing.T, m *Msg) {
				m.Prepend("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKp")
			},
			want: "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKp\r\nCall-ID: c\r\nVia: SIP/2.0/WSS x.invalid;branch=z9hG4bK1\r\n",
		},
		{
			name: "prepend Record-Route before the first one",
			in:   "Call-ID: c\r\nRecord-Route: <sip:p2;lr>\r\nrecord-route: <sip:p3;lr>\r\n",
			edit: func(t *testing.T, m *Msg) { m.Prepend("Record-Route", "<sip:p1;lr>") },
			want: "Call-ID: c\r\nRecord-Route: <sip:p1;lr>\r\nRecord-Route: <sip:p2;lr>\r\nrecord-route: <sip:p3;lr>\r\n",
		},
		{
			name: "prepend without an existing one appends",
			in:   "Call-ID: c\r\n",
			edit: func(t *testing.T, m *Msg) { m.Prepend("Path", "<sip:edge;lr;ob>") },
			want: "Call-ID: c\r\nPath: <sip:edge;lr;ob>\r\n",
		},
		{
			name: "append",
			in:   "Call-ID: c\r\nContent-Length: 0\r\n",
			edit: func(t *testing.T, m *Msg) { m.Append("Record-Route", "<sip:p1;lr>") },
			want: "Call-ID: c\r\nContent-Length: 0\r\nRecord-Route: <sip:p1;lr>\r\n",
		},
		{
			name: "set Record-Route replaces all at the first position",
			in:   "Record-Route: <sip:a>\r\nCall-ID: c\r\nRecord-Route: <sip:b>, <sip:c>\r\nTo: <sip:t>\r\n",
			edit: func(t *testing.T, m *Msg) { m.Set("Record-Route", "<sip:edge;lr>") },
			want: "Record-Route: <sip:edge;lr>\r\nCall-ID: c\r\nTo: <sip:t>\r\n",
		},
		{
			name: "set absent header appends",
			in:   "Call-ID: c\r\n",
			edit: func(t *testing.T, m *Msg) { m.Set("Max-Forwards", "70") },
			want: "Call-ID: c\r\nMax-Forwards: 70\r\n",
		},
		{
			name: "set top value of a list line",
			in:   "v: SIP/2.0/WSS a.invalid;branch=z9hG4bK1;rport, SIP/2.0/UDP b\r\nCall-ID: c\r\n",
			edit: func(t *testing.T, m *Msg) {
				top, _ := m.TopValue("Via")
				v, err := ParseVia(top)
				if err != nil {
					t.Fatal(err)
				}
				v.Params.Set("received", "192.0.2.7")
				v.Params.Set("rport", "40000")
				if !m.SetTopValue("Via", v.String()) {
					t.Error("SetTopValue = false")
				}
			},
			want: "v: SIP/2.0/WSS a.invalid;branch=z9hG4bK1;rport=40000;received=192.0.2.7, SIP/2.0/UDP b\r\nCall-ID: c\r\n",
		},
		{
			name: "set top value of a single line",
			in:   "Call-ID: c\r\nMax-Forwards: 70\r\n",
			edit: func(t *testing.T, m *Msg) {
				if !m.SetTopValue("max-forwards", "69") || m.SetTopValue("Route", "x") {
					t.Error("SetTopValue result")
				}
			},
			want: "Call-ID: c\r\nMax-Forwards: 69\r\n",
		},
		{
			name: "delete",
			in:   "Route: <sip:a>\r\nCall-ID: c\r\nROUTE: <sip:b>\r\nX: y\r\n",
			edit: func(t *testing.T, m *Msg) {
				if n := m.Del("route"); n != 2 {
					t.Errorf("Del = %d", n)
				}
				if n := m.Del("Route"); n != 0 {
					t.Errorf("second Del = %d", n)
				}
			},
			want: "Call-ID: c\r\nX: y\r\n",
		},
		{
			name: "delete compact form by long name",
			in:   "i: c\r\nSupported: path\r\nk: outbound\r\n",
			edit: func(t *testing.T, m *Msg) { m.Del("Supported") },
			want: "i: c\r\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustParse(t, editHead+tc.in+"\r\n")
			tc.edit(t, m)
			want := editHead + tc.want
			if !strings.Contains(strings.ToLower(tc.want), "content-length") {
				want += "Content-Length: 0\r\n"
			}
			want += "\r\n"
			if got := string(m.Bytes()); got != want {
				t.Fatalf("got\n%q\nwant\n%q", got, want)
			}
			// The result parses back to the same headers.
			m2 := mustParse(t, want)
			if string(m2.Bytes()) != want {
				t.Fatalf("re-parse differs")
			}
		})
	}
}

// TestContentLengthRewrite: a body change rewrites Content-Length in place, in its form.
func TestContentLengthRewrite(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"OPTIONS sip:x SIP/2.0\r\nl: 5\r\nCall-ID: c\r\n\r\nhello", "OPTIONS sip:x SIP/2.0\r\nl: 2\r\nCall-ID: c\r\n\r\nhi"},
		{"OPTIONS sip:x SIP/2.0\r\nContent-Length   : 5\r\nCall-ID: c\r\n\r\nhello", "OPTIONS sip:x SIP/2.0\r\nContent-Length: 2\r\nCall-ID: c\r\n\r\nhi"},
		{"OPTIONS sip:x SIP/2.0\r\nContent-Length: 5\r\nl: 5\r\n\r\nhello", "OPTIONS sip:x SIP/2.0\r\nContent-Length: 2\r\n\r\nhi"},
		{"OPTIONS sip:x SIP/2.0\r\nCall-ID: c\r\n\r\nhello", "OPTIONS sip:x SIP/2.0\r\nCall-ID: c\r\nContent-Length: 2\r\n\r\nhi"},
		{"OPTIONS sip:x SIP/2.0\nl: 5\nCall-ID: c\n\nhello", "OPTIONS sip:x SIP/2.0\nl: 2\r\nCall-ID: c\n\nhi"},
	} {
		m := mustParse(t, tc.in)
		m.Body = []byte("hi")
		if got := string(m.Bytes()); got != tc.want {
			t.Errorf("got %q\nwant %q", got, tc.want)
		}
	}
	// A body removed entirely.
	m := mustParse(t, sipcorpus.Invite)
	m.Body = nil
	if got := string(m.Bytes()); !strings.HasSuffix(got, "Content-Type: application/sdp\r\nContent-Length: 0\r\n\r\n") {
		t.Errorf("got %q", got)
	}
}

// TestProxyEdit is the router's request path: the one BenchmarkProxyEdit measures.
func TestProxyEdit(t *testing.T) {
	m := mustParse(t, sipcorpus.Register)
	proxyEdit(m)
	want := strings.NewReplacer(
		"Route: <sip:edge.example.com;transport=ws;lr>\r\n", "",
		"REGISTER sip:example.com SIP/2.0\r\n", "REGISTER sip:example.com SIP/2.0\r\n"+"Via: "+benchVia+"\r\n",
		"Content-Length: 0\r\n", "Content-Length: 0\r\nRecord-Route: "+benchRR+"\r\n",
	).Replace(sipcorpus.Register)
	if got := string(m.AppendTo(nil)); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
