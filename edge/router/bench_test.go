package router

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/sipws/sipws/edge/sipmsg"
)

// BenchmarkRelayRegister is one REGISTER → 200 transaction through the router, one at a time:
// the benchmark publishes the request as an edge would, a UDP server answers 200 and the
// benchmark waits for the response on the node subject. It counts the router's work and the
// NATS hops (loopback TCP); allocs/op is what the router path allocates plus the responder's.
func BenchmarkRelayRegister(b *testing.B) {
	h := newHarness(b, harnessOpts{})
	up := h.up[0]
	stop := make(chan struct{})
	go func() { // answer every REGISTER with 200, like sipp's UAS scenario
		for {
			select {
			case pk := <-up.ch:
				m, err := sipmsg.Parse(pk.data)
				if err != nil {
					continue
				}
				_, _ = up.conn.WriteToUDPAddrPort(respond(m, 200, "OK"), pk.from)
			case <-stop:
				return
			}
		}
	}()
	defer close(stop)
	tok := h.token(7)
	msg := &nats.Msg{Subject: testSubj.In(tok), Header: clientMsg(tok, nil).Header}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		msg.Data = fmt.Appendf(msg.Data[:0], "REGISTER sip:example.com SIP/2.0\r\n"+
			"Via: SIP/2.0/WSS abc.invalid;branch=z9hG4bK%d\r\n"+
			"Max-Forwards: 70\r\n"+
			"To: <sip:alice@example.com>\r\n"+
			"From: <sip:alice@example.com>;tag=f1\r\n"+
			"Call-ID: bench-call\r\n"+
			"CSeq: %d REGISTER\r\n"+
			"Contact: <sip:a@abc.invalid;transport=ws>;expires=600\r\n"+
			"Content-Length: 0\r\n\r\n", i, i+1)
		if err := h.nc.PublishMsg(msg); err != nil {
			b.Fatal(err)
		}
		m := waitNATS(b, h.out, waitLong, "200")
		if len(m.Data) < 12 || string(m.Data[:11]) != "SIP/2.0 200" {
			b.Fatalf("got %q", m.Data)
		}
	}
	b.StopTimer()
}
