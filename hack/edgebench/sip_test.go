package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestRegisterAndOK(t *testing.T) {
	id := newFlowIdentity()
	req := id.register(7)
	if n := len(req); n < 550 || n > 650 {
		t.Errorf("REGISTER is %d bytes, want about 600:\n%s", n, req)
	}
	resp, ok := okResponse(req, time.Unix(0, 0))
	if !ok {
		t.Fatalf("no response to\n%s", req)
	}
	if n := len(resp); n < 400 || n > 650 {
		t.Errorf("200 OK is %d bytes, want 400-600:\n%s", n, resp)
	}
	if !id.isOKFor(resp) {
		t.Errorf("response not recognised as the flow's 200:\n%s", resp)
	}
	for _, want := range []string{"CSeq: 7 REGISTER\r\n", ";tag=bench-registrar\r\n", "Contact: <sip:" + id.user, "Content-Length: 0\r\n\r\n"} {
		if !bytes.Contains(resp, []byte(want)) {
			t.Errorf("response lacks %q:\n%s", want, resp)
		}
	}
}

func TestOKResponseIgnores(t *testing.T) {
	for _, msg := range []string{
		"SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\nTo: <sip:a@b>\r\n\r\n",
		"\r\n\r\n",
		"garbage",
		"MESSAGE sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n", // no Call-ID, CSeq
	} {
		if _, ok := okResponse([]byte(msg), time.Now()); ok {
			t.Errorf("answered %q", msg)
		}
	}
	compact := "MESSAGE sip:a@b SIP/2.0\r\nv: SIP/2.0/WSS x.invalid;branch=z9hG4bK1\r\nt: <sip:a@b>\r\nf: <sip:c@b>;tag=1\r\ni: abc\r\nCSeq: 2 MESSAGE\r\nm: <sip:c@x.invalid>\r\n\r\n"
	resp, ok := okResponse([]byte(compact), time.Now())
	if !ok || !strings.Contains(string(resp), "Call-ID: abc\r\n") || strings.Contains(string(resp), "Contact") {
		t.Errorf("compact MESSAGE answered wrongly (%v):\n%s", ok, resp)
	}
}
