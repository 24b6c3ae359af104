package main

import (
	"bytes"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/sipws/sipws/edge/sipcorpus"
	"github.com/sipws/sipws/edge/sipmsg"
)

// The router's request path on both parsers: parse, pop the top Route, prepend a Via,
// append a Record-Route, serialise into a reused buffer. The added values are built once
// outside the loop for both, so only parsing, editing and serialising are measured.

const (
	viaValue = "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK.c2lwd3MuZWRnZS0xLjQyLmsx"
	rrValue  = "<sip:c2lwd3MuZWRnZS0xLjQyLmsx@10.0.0.7:5060;transport=udp;lr;ob>"
)

var benchMsgs = []struct{ name, msg string }{
	{"REGISTER", sipcorpus.Register},
	{"INVITE-SDP", sipcorpus.Invite},
}

func sipmsgEdit(m *sipmsg.Msg) {
	m.PopValue("Route")
	m.Prepend("Via", viaValue)
	m.Append("Record-Route", rrValue)
}

func sipgoHeaders() (*sip.ViaHeader, *sip.RecordRouteHeader) {
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: "10.0.0.7", Port: 5060, Params: sip.NewParams()}
	via.Params.Add("branch", "z9hG4bK.c2lwd3MuZWRnZS0xLjQyLmsx")
	rr := &sip.RecordRouteHeader{Address: sip.Uri{Scheme: "sip", User: "c2lwd3MuZWRnZS0xLjQyLmsx",
		Host: "10.0.0.7", Port: 5060, UriParams: sip.NewParams()}}
	rr.Address.UriParams.Add("transport", "udp")
	rr.Address.UriParams.Add("lr", "")
	rr.Address.UriParams.Add("ob", "")
	return via, rr
}

func sipgoEdit(req *sip.Request, via *sip.ViaHeader, rr *sip.RecordRouteHeader) {
	req.RemoveHeader("Route")
	req.PrependHeader(via)
	req.AppendHeader(rr)
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range benchMsgs {
		msg := []byte(bc.msg)
		b.Run("sipmsg/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := sipmsg.Parse(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("sipgo/"+bc.name, func(b *testing.B) {
			p := sip.NewParser()
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := p.ParseSIP(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkProxyEdit(b *testing.B) {
	for _, bc := range benchMsgs {
		msg := []byte(bc.msg)
		b.Run("sipmsg/"+bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				m, err := sipmsg.Parse(msg)
				if err != nil {
					b.Fatal(err)
				}
				sipmsgEdit(m)
				buf = m.AppendTo(buf[:0])
			}
		})
		b.Run("sipgo/"+bc.name, func(b *testing.B) {
			p := sip.NewParser()
			via, rr := sipgoHeaders()
			var buf bytes.Buffer
			buf.Grow(4096)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				m, err := p.ParseSIP(msg)
				if err != nil {
					b.Fatal(err)
				}
				sipgoEdit(m.(*sip.Request), via, rr)
				buf.Reset()
				m.StringWrite(&buf)
			}
		})
	}
}

// TestSameEdit checks that both benchmark paths produce the same message in substance:
// same Via, Route and Record-Route values and the same body.
func TestSameEdit(t *testing.T) {
	for _, tc := range benchMsgs {
		ours, err := sipmsg.Parse([]byte(tc.msg))
		if err != nil {
			t.Fatal(err)
		}
		sipmsgEdit(ours)

		theirs, err := sip.NewParser().ParseSIP([]byte(tc.msg))
		if err != nil {
			t.Fatal(err)
		}
		via, rr := sipgoHeaders()
		sipgoEdit(theirs.(*sip.Request), via, rr)
		back, err := sipmsg.Parse([]byte(theirs.String()))
		if err != nil {
			t.Fatalf("%s: sipgo output does not parse: %v\n%s", tc.name, err, theirs.String())
		}
		for _, name := range []string{"Via", "Route", "Record-Route", "Call-ID", "CSeq"} {
			if a, b := ours.Values(name), back.Values(name); len(a) != len(b) || (len(a) > 0 && a[0] != b[0]) {
				t.Errorf("%s: %s: sipmsg %q, sipgo %q", tc.name, name, a, b)
			}
		}
		if !bytes.Equal(ours.Body, back.Body) {
			t.Errorf("%s: bodies differ", tc.name)
		}
	}
}

// TestTortureRelay pins the compatibility table printed by main: edge/sipmsg relays every
// syntactically valid RFC 4475 message byte for byte and refuses the malformed ones.
func TestTortureRelay(t *testing.T) {
	for _, tc := range tortureRelay {
		if r := viaSipmsg(tc.Text); !r.intact {
			t.Errorf("%s: %v", tc.Name, r)
		}
	}
	for _, tc := range tortureReject {
		if r := viaSipmsg(tc.Text); r.ok {
			t.Errorf("%s: accepted", tc.Name)
		}
	}
}
