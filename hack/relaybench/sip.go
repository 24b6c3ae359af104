package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
)

const sipDomain = "relay.bench.test"

// registerTemplate is a flow's REGISTER with everything fixed but branch and CSeq: the shape
// JsSIP sends over WebSocket (about 600 bytes). A UDP flow sends the same with its own Via.
type registerTemplate struct {
	head   []byte // request line + "Via: SIP/2.0/X sent-by;branch=z9hG4bK"
	branch string // unique per flow, a counter follows it
	mid    []byte // ";rport\r\n" ... "CSeq: "
	tail   []byte // " REGISTER\r\n" ... end of message
}

func newRegister(n int, transport, sentBy string) *registerTemplate {
	user := fmt.Sprintf("rb%06d", n)
	tag := strconv.FormatUint(rand.Uint64(), 36)
	callID := fmt.Sprintf("%s-%d@%s", strconv.FormatUint(rand.Uint64(), 36), n, sipDomain)
	contactTransport := ";transport=ws"
	if transport == "UDP" {
		contactTransport = ""
	}
	t := &registerTemplate{branch: fmt.Sprintf("rb%x%d.", rand.Uint32(), n)}
	t.head = fmt.Appendf(nil, "REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK", sipDomain, transport, sentBy)
	t.mid = fmt.Appendf(nil, ";rport\r\nMax-Forwards: 69\r\nTo: <sip:%s@%s>\r\nFrom: \"%s\" <sip:%s@%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: ",
		user, sipDomain, user, user, sipDomain, tag, callID)
	t.tail = fmt.Appendf(nil, " REGISTER\r\nContact: <sip:%s@%s%s>;+sip.ice;reg-id=1;+sip.instance=\"<urn:uuid:%08x-%04x-4%03x-8%03x-%012x>\";expires=600\r\n"+
		"Expires: 600\r\nAllow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY,SUBSCRIBE\r\n"+
		"Supported: path,gruu,outbound\r\nUser-Agent: JsSIP 3.10.1 (relaybench)\r\nContent-Length: 0\r\n\r\n",
		user, sentBy, contactTransport, rand.Uint32(), rand.Uint32()&0xffff, rand.Uint32()&0xfff, rand.Uint32()&0xfff, rand.Uint64()&0xffffffffffff)
	return t
}

// build appends the REGISTER with this CSeq (the branch carries it too) to b.
func (t *registerTemplate) build(b []byte, cseq uint32) []byte {
	b = append(b, t.head...)
	b = append(b, t.branch...)
	b = strconv.AppendUint(b, uint64(cseq), 10)
	b = append(b, t.mid...)
	b = strconv.AppendUint(b, uint64(cseq), 10)
	return append(b, t.tail...)
}

var (
	sipPrefix = []byte("SIP/2.0 ")
	cseqHdr   = []byte("\nCSeq:")
)

// parseResponse returns the status code and CSeq number of a response (ok false otherwise).
func parseResponse(msg []byte) (status int, cseq uint32, ok bool) {
	if len(msg) < 12 || !bytes.HasPrefix(msg, sipPrefix) {
		return 0, 0, false
	}
	for _, c := range msg[8:11] {
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		status = status*10 + int(c-'0')
	}
	i := bytes.Index(msg, cseqHdr)
	if i < 0 {
		return 0, 0, false
	}
	rest := msg[i+len(cseqHdr):]
	j := 0
	for j < len(rest) && (rest[j] == ' ' || rest[j] == '\t') {
		j++
	}
	var n uint64
	k := j
	for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
		n = n*10 + uint64(rest[k]-'0')
		k++
	}
	if k == j || n > 1<<32-1 {
		return 0, 0, false
	}
	return status, uint32(n), true
}
