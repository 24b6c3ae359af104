package sipmsg

import (
	"testing"

	"github.com/sipws/sipws/edge/sipcorpus"
)

const (
	benchVia = "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK.c2lwd3MuZWRnZS0xLjQyLmsx"
	benchRR  = "<sip:c2lwd3MuZWRnZS0xLjQyLmsx@10.0.0.7:5060;transport=udp;lr;ob>"
)

var benchMsgs = []struct{ name, msg string }{
	{"REGISTER", sipcorpus.Register},
	{"INVITE-SDP", sipcorpus.Invite},
}

// proxyEdit is what the router does to a request from a client: pop its own Route,
// add its Via and a Record-Route.
func proxyEdit(m *Msg) {
	m.PopValue("Route")
	m.Prepend("Via", benchVia)
	m.Append("Record-Route", benchRR)
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range benchMsgs {
		b.Run(bc.name, func(b *testing.B) {
			msg := []byte(bc.msg)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := Parse(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProxyEdit: parse, pop Route, prepend Via, add Record-Route, serialise into a
// reused buffer.
func BenchmarkProxyEdit(b *testing.B) {
	for _, bc := range benchMsgs {
		b.Run(bc.name, func(b *testing.B) {
			msg := []byte(bc.msg)
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				m, err := Parse(msg)
				if err != nil {
					b.Fatal(err)
				}
				proxyEdit(m)
				buf = m.AppendTo(buf[:0])
			}
		})
	}
}

// BenchmarkProxyEditPooled is BenchmarkProxyEdit with a reused Msg (ParseInto).
func BenchmarkProxyEditPooled(b *testing.B) {
	for _, bc := range benchMsgs {
		b.Run(bc.name, func(b *testing.B) {
			msg := []byte(bc.msg)
			buf := make([]byte, 0, 4096)
			var m Msg
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if err := ParseInto(&m, msg); err != nil {
					b.Fatal(err)
				}
				proxyEdit(&m)
				buf = m.AppendTo(buf[:0])
			}
		})
	}
}

func BenchmarkParseVia(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseVia("SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK6ppk4bn2;rport"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseNameAddr(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseNameAddr("<sip:u7s0bd7b@df7jal23ls0d.invalid;transport=ws>;+sip.ice;reg-id=1;+sip.instance=\"<urn:uuid:0f1d4fb1-1e4c-4bd1-9f2b-3b7d6d6a1c7e>\";expires=600"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTopValue(b *testing.B) {
	m, _ := Parse([]byte(sipcorpus.Invite))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := m.TopValue("Via"); !ok {
			b.Fatal("no Via")
		}
	}
}
