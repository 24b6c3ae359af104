package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

const sipDomain = "bench.sipws.test"

// flowIdentity is what stays the same across the REGISTERs of one connection, like a browser
// SIP stack's registration.
type flowIdentity struct {
	user     string
	callID   string
	fromTag  string
	host     string // the RFC 7118 ".invalid" Via/Contact host of the client
	instance string
}

var (
	runID     = randomHex(4) // distinguishes processes sharing one responder
	flowCount atomic.Uint64
	branchCtr atomic.Uint64
)

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func newFlowIdentity() flowIdentity {
	n := flowCount.Add(1)
	id := fmt.Sprintf("%s%d%08d", runID, os.Getpid()%100000, n)
	return flowIdentity{
		user:     fmt.Sprintf("u%08d", n),
		callID:   id + "@" + sipDomain,
		fromTag:  "t" + randomHex(5),
		host:     randomHex(6) + ".invalid",
		instance: fmt.Sprintf("%s-%s-4%s-8%s-%s", randomHex(4), randomHex(2), randomHex(2)[1:], randomHex(2)[1:], randomHex(6)),
	}
}

// register builds a REGISTER like JsSIP sends over WebSocket (about 600 bytes).
func (f *flowIdentity) register(cseq int) []byte {
	branch := "z9hG4bK" + strconv.FormatUint(branchCtr.Add(1), 36) + runID
	b := make([]byte, 0, 700)
	b = fmt.Appendf(b, "REGISTER sip:%s SIP/2.0\r\n", sipDomain)
	b = fmt.Appendf(b, "Via: SIP/2.0/WSS %s;branch=%s\r\n", f.host, branch)
	b = append(b, "Max-Forwards: 69\r\n"...)
	b = fmt.Appendf(b, "To: <sip:%s@%s>\r\n", f.user, sipDomain)
	b = fmt.Appendf(b, "From: \"%s\" <sip:%s@%s>;tag=%s\r\n", f.user, f.user, sipDomain, f.fromTag)
	b = fmt.Appendf(b, "Call-ID: %s\r\n", f.callID)
	b = fmt.Appendf(b, "CSeq: %d REGISTER\r\n", cseq)
	b = fmt.Appendf(b, "Contact: <sip:%s@%s;transport=ws>;+sip.ice;reg-id=1;+sip.instance=\"<urn:uuid:%s>\";expires=600\r\n",
		f.user, f.host, f.instance)
	b = append(b, "Expires: 600\r\n"...)
	b = append(b, "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY,SUBSCRIBE\r\n"...)
	b = append(b, "Supported: path,gruu,outbound\r\n"...)
	b = append(b, "User-Agent: JsSIP 3.10.1 (edgebench)\r\n"...)
	b = append(b, "Content-Length: 0\r\n\r\n"...)
	return b
}

// isOKFor tells whether msg is a 200 response to the flow's registration.
func (f *flowIdentity) isOKFor(msg []byte) bool {
	return bytes.HasPrefix(msg, []byte("SIP/2.0 200 ")) && bytes.Contains(msg, []byte(f.callID))
}

// Compact header forms (RFC 3261 §7.3.3) mapped to the full names the responder copies.
var compactHeaders = map[string]string{
	"v": "Via", "f": "From", "t": "To", "i": "Call-ID", "m": "Contact",
}

var copiedHeaders = map[string]bool{"Via": true, "From": true, "To": true, "Call-ID": true, "CSeq": true, "Contact": true}

// okResponse builds the 200 OK a registrar would send for a request: Via, From, To (with a tag),
// Call-ID and CSeq copied, the Contact echoed for REGISTER. ok is false for responses and for
// what is not a SIP request.
func okResponse(req []byte, now time.Time) (resp []byte, ok bool) {
	line, rest, found := bytes.Cut(req, []byte("\r\n"))
	if !found || bytes.HasPrefix(line, []byte("SIP/")) || !bytes.HasSuffix(line, []byte(" SIP/2.0")) {
		return nil, false
	}
	isRegister := bytes.HasPrefix(line, []byte("REGISTER "))
	resp = make([]byte, 0, len(req)+160)
	resp = append(resp, "SIP/2.0 200 OK\r\n"...)
	var hasTo, hasCallID, hasCSeq bool
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		if len(line) == 0 {
			break // end of headers
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		n := string(bytes.TrimSpace(name))
		if full, ok := compactHeaders[n]; ok {
			n = full
		}
		if !copiedHeaders[n] || (n == "Contact" && !isRegister) {
			continue
		}
		value = bytes.TrimSpace(value)
		resp = append(resp, n...)
		resp = append(resp, ": "...)
		resp = append(resp, value...)
		switch n {
		case "To":
			hasTo = true
			if !bytes.Contains(value, []byte(";tag=")) {
				resp = append(resp, ";tag=bench-registrar"...)
			}
		case "Call-ID":
			hasCallID = true
		case "CSeq":
			hasCSeq = true
		}
		resp = append(resp, "\r\n"...)
	}
	if !hasTo || !hasCallID || !hasCSeq {
		return nil, false
	}
	if isRegister {
		resp = append(resp, "Path: <sip:edge@bench.sipws.test;lr;ob>\r\n"...)
	}
	resp = append(resp, "Supported: path, outbound, gruu\r\n"...)
	resp = append(resp, "Server: edgebench-responder\r\n"...)
	resp = now.UTC().AppendFormat(append(resp, "Date: "...), "Mon, 02 Jan 2006 15:04:05 GMT")
	resp = append(resp, "\r\nContent-Length: 0\r\n\r\n"...)
	return resp, true
}
