package sipcorpus

import "strconv"

// Register is a typical JsSIP REGISTER (Outbound, RFC 5626), about 600 bytes.
const Register = "REGISTER sip:example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK6ppk4bn2;keep\r\n" +
	"Max-Forwards: 69\r\n" +
	"Route: <sip:edge.example.com;transport=ws;lr>\r\n" +
	"To: <sip:alice@example.com>\r\n" +
	"From: \"Alice\" <sip:alice@example.com>;tag=bo4kqs3g2m\r\n" +
	"Call-ID: 5ghbuf9m2vblbgj8k7os7v\r\n" +
	"CSeq: 2 REGISTER\r\n" +
	"Contact: <sip:u7s0bd7b@df7jal23ls0d.invalid;transport=ws>;+sip.ice;reg-id=1;+sip.instance=\"<urn:uuid:0f1d4fb1-1e4c-4bd1-9f2b-3b7d6d6a1c7e>\";expires=600\r\n" +
	"Expires: 600\r\n" +
	"Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY\r\n" +
	"Supported: path,gruu,outbound\r\n" +
	"User-Agent: JsSIP 3.10.1\r\n" +
	"Content-Length: 0\r\n" +
	"\r\n"

// SDP is a WebRTC audio offer, the body of Invite.
const SDP = "v=0\r\n" +
	"o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0\r\n" +
	"a=msid-semantic: WMS 6dd4b1a0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=rtcp:9 IN IP4 0.0.0.0\r\n" +
	"a=candidate:1467250027 1 udp 2122260223 192.0.2.10 46243 typ host generation 0\r\n" +
	"a=candidate:435653019 1 tcp 1845501695 198.51.100.7 46243 typ srflx raddr 192.0.2.10 rport 46243 generation 0\r\n" +
	"a=ice-ufrag:KhLS\r\n" +
	"a=ice-pwd:8a1/LJqQMzBmYtes7fXiNl7F\r\n" +
	"a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:0\r\n" +
	"a=sendrecv\r\n" +
	"a=rtcp-mux\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"a=fmtp:111 minptime=10;useinbandfec=1\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:126 telephone-event/8000\r\n"

// Invite is a WebRTC INVITE with SDP, about 1.2 KB.
var Invite = "INVITE sip:bob@example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK9hd1e0v\r\n" +
	"Max-Forwards: 69\r\n" +
	"Route: <sip:edge.example.com;transport=ws;lr>\r\n" +
	"To: <sip:bob@example.com>\r\n" +
	"From: \"Alice\" <sip:alice@example.com>;tag=pt1d8l2rdn\r\n" +
	"Call-ID: 2ueq1ce6ln4g6nqv1fkq\r\n" +
	"CSeq: 7412 INVITE\r\n" +
	"Contact: <sip:u7s0bd7b@df7jal23ls0d.invalid;transport=ws;ob>\r\n" +
	"Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY\r\n" +
	"Supported: ice,replaces,outbound\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: " + strconv.Itoa(len(SDP)) + "\r\n" +
	"\r\n" + SDP

// IPv6Register is RFC 5118 §4.1: a REGISTER with IPv6 addresses.
const IPv6Register = "REGISTER sip:[2001:db8::10] SIP/2.0\r\n" +
	"To: sip:user@example.com\r\n" +
	"From: sip:user@example.com;tag=81x2\r\n" +
	"Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111\r\n" +
	"Call-ID: SSG9559905523997077@hlau_4100\r\n" +
	"Max-Forwards: 70\r\n" +
	"Contact: \"Caller\" <sip:caller@[2001:db8::1]>\r\n" +
	"CSeq: 98176 REGISTER\r\n" +
	"Content-Length: 0\r\n" +
	"\r\n"
