package sip

import (
	"testing"

	"github.com/sipws/sipws/edge/sipcorpus"
)

func BenchmarkCheck(b *testing.B) {
	for _, bc := range []struct{ name, msg string }{
		{"REGISTER", sipcorpus.Register},
		{"INVITE-SDP", sipcorpus.Invite},
	} {
		b.Run(bc.name, func(b *testing.B) {
			msg := []byte(bc.msg)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := Check(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkResponse(b *testing.B) {
	msg := []byte(sipcorpus.Invite)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Response(msg, 503, "Service Unavailable", "Retry-After: 30"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHeaderValue(b *testing.B) {
	msg := []byte(sipcorpus.Register)
	b.ReportAllocs()
	for b.Loop() {
		if HeaderValue(msg, "Content-Length", "l") == nil {
			b.Fatal("no Content-Length")
		}
	}
}
