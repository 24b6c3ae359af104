package main

import (
	"bytes"
	"testing"
)

func TestRegisterAndParse(t *testing.T) {
	tpl := newRegister(7, "WS", "abc.invalid")
	msg := tpl.build(nil, 42)
	for _, want := range []string{"REGISTER sip:relay.bench.test SIP/2.0\r\n", "Via: SIP/2.0/WS abc.invalid;branch=z9hG4bK",
		"42;rport\r\n", "\r\nCSeq: 42 REGISTER\r\n", ";transport=ws>", "\r\nContent-Length: 0\r\n\r\n"} {
		if !bytes.Contains(msg, []byte(want)) {
			t.Errorf("REGISTER lacks %q:\n%s", want, msg)
		}
	}
	if other := tpl.build(nil, 43); bytes.Equal(msg[:bytes.Index(msg, []byte(";rport"))], other[:bytes.Index(other, []byte(";rport"))]) {
		t.Error("branch did not change with the CSeq")
	}
	for _, c := range []struct {
		in     string
		status int
		cseq   uint32
		ok     bool
	}{
		{"SIP/2.0 200 OK\r\nVia: x\r\nCSeq: 42 REGISTER\r\n\r\n", 200, 42, true},
		{"SIP/2.0 100 Trying\r\nCSeq:\t7 REGISTER\r\n\r\n", 100, 7, true},
		{"SIP/2.0 500 Oops\r\nCall-ID: a\r\n\r\n", 0, 0, false},
		{"REGISTER sip:x SIP/2.0\r\nCSeq: 1 REGISTER\r\n\r\n", 0, 0, false},
	} {
		status, cseq, ok := parseResponse([]byte(c.in))
		if status != c.status || cseq != c.cseq || ok != c.ok {
			t.Errorf("parseResponse(%q) = %d, %d, %v; want %d, %d, %v", c.in, status, cseq, ok, c.status, c.cseq, c.ok)
		}
	}
}
