package sip

import "strconv"

// Messages shared by the tests, fuzz seeds and benchmarks.

// register is a typical ~600-byte JsSIP REGISTER (Outbound, RFC 5626).
const register = "REGISTER sip:example.com SIP/2.0\r\n" +
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

const sdp = "v=0\r\n" +
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
	"a=rtpmap:126 telephone-event/8000\r\n" +
	"a=ssrc:3735928559 cname:r8Hq0bVx\r\n"

// invite is a WebRTC INVITE carrying SDP, with a correct Content-Length.
var invite = "INVITE sip:bob@example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK9hd1e0v\r\n" +
	"Max-Forwards: 69\r\n" +
	"To: <sip:bob@example.com>\r\n" +
	"From: \"Alice\" <sip:alice@example.com>;tag=pt1d8l2rdn\r\n" +
	"Call-ID: 2ueq1ce6ln4g6nqv1fkq\r\n" +
	"CSeq: 7412 INVITE\r\n" +
	"Contact: <sip:u7s0bd7b@df7jal23ls0d.invalid;transport=ws;ob>\r\n" +
	"Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY\r\n" +
	"Supported: ice,replaces,outbound\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: " + strconv.Itoa(len(sdp)) + "\r\n" +
	"\r\n" + sdp

// RFC 4475 torture messages, transcribed with CRLF line ends and the §2.2 <hex> escapes as
// Go escapes. Indentation of folded lines may differ from the RFC; framing is what counts here.
const (
	// §3.1.1.1: whitespace, folding and compact forms everywhere; valid.
	tortureWsinv = "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n" +
		"TO :\r\n" +
		" sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n" +
		"from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n" +
		"  ;\r\n" +
		"  tag = 98asjd8\r\n" +
		"MaX-fOrWaRdS: 0068\r\n" +
		"Call-ID: wsinv.ndaksdj@192.0.2.1\r\n" +
		"Content-Length   : 150\r\n" +
		"cseq: 0009\r\n" +
		"  INVITE\r\n" +
		"Via  : SIP  /   2.0\r\n" +
		" /UDP\r\n" +
		"    192.0.2.2;branch=390skdjuw\r\n" +
		"s :\r\n" +
		"NewFangledHeader:   newfangled value\r\n" +
		" continued newfangled value\r\n" +
		"UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Route:\r\n" +
		" <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\r\n" +
		"v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n" +
		"  branch  =   z9hG4bK9ikj8  ,\r\n" +
		" SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n" +
		" z9hG4bK30239\r\n" +
		"m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\r\n" +
		"      newvalue ;\r\n" +
		"    secondparam ; q = 0.33\r\n" +
		"\r\n" +
		"v=0\r\n" +
		"o=mhandley 29739 7272939 IN IP4 192.0.2.3\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.0.2.4\r\n" +
		"t=0 0\r\n" +
		"m=audio 49217 RTP/AVP 0 12\r\n" +
		"m=video 3227 RTP/AVP 31\r\n" +
		"a=rtpmap:31 LPC\r\n"

	// §3.1.1.2: every token character, UTF-8, and a raw NUL inside a quoted-pair; valid.
	tortureIntmeth = "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\r\n" +
		"To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\r\n" +
		"From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\xD1\x80\xD0\xB0\xD0\xB1\xD0\xBE\xD1\x82\xD0\xB0\xD1\x8E\xD1\x89\xD0\xB8\xD0\xB9\";tag=_token~1'+`*%!-.\r\n" +
		"Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\r\n" +
		"CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\r\n" +
		"Max-Forwards: 255\r\n" +
		"extensionHeader-!.%*+_`'~:\xEF\xBB\xBF\xE5\xA4\xA7\xE5\x81\x9C\xE9\x9B\xBB\r\n" +
		"Content-Length: 0\r\n" +
		"\r\n"

	// §3.1.1.3: % escapes in URIs; valid.
	tortureEsc01 = "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\r\n" +
		"To: sip:%75se%72@example.com\r\n" +
		"From: <sip:I%20have%20spaces@example.net>;tag=938\r\n" +
		"Max-Forwards: 87\r\n" +
		"i: esc01.239409asdfakjkn23onasd0-3234\r\n" +
		"CSeq: 234234 INVITE\r\n" +
		"Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\r\n" +
		"C: application/sdp\r\n" +
		"Contact:\r\n" +
		"  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\r\n" +
		"Content-Length: 150\r\n" +
		"\r\n" +
		"v=0\r\n" +
		"o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.0.2.1\r\n" +
		"t=0 0\r\n" +
		"m=audio 49217 RTP/AVP 0 12\r\n" +
		"m=video 3227 RTP/AVP 31\r\n" +
		"a=rtpmap:31 LPC\r\n"

	// §3.1.1.4: escaped NULs and an upper-case compact "L"; valid.
	tortureEscnull = "REGISTER sip:example.com SIP/2.0\r\n" +
		"To: sip:null-%00-null@example.com\r\n" +
		"From: sip:null-%00-null@example.com;tag=839923423\r\n" +
		"Max-Forwards: 70\r\n" +
		"Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\r\n" +
		"CSeq: 14398234 REGISTER\r\n" +
		"Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\r\n" +
		"Contact: <sip:%00@host5.example.com>\r\n" +
		"Contact: <sip:%00%00@host5.example.com>\r\n" +
		"L:0\r\n" +
		"\r\n"

	// §3.1.1.6: no LWS between display name and <; valid.
	tortureLwsdisp = "OPTIONS sip:user@example.com SIP/2.0\r\n" +
		"To: sip:user@example.com\r\n" +
		"From: caller<sip:caller@example.com>;tag=323\r\n" +
		"Max-Forwards: 70\r\n" +
		"Call-ID: lwsdisp.1234abcd@funky.example.com\r\n" +
		"CSeq: 60 OPTIONS\r\n" +
		"Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\r\n" +
		"l: 0\r\n" +
		"\r\n"

	// §3.1.1.8: a second request after the first. Over UDP the tail is discarded; on
	// WebSocket one message per frame is the rule (RFC 7118 §5.1), so Check refuses it.
	tortureDblreq = "REGISTER sip:example.com SIP/2.0\r\n" +
		"To: sip:j.user@example.com\r\n" +
		"From: sip:j.user@example.com;tag=43251j3j324\r\n" +
		"Max-Forwards: 8\r\n" +
		"I: dblreq.0ha0isndaksdj99sdfafnl3lk233412\r\n" +
		"Contact: sip:j.user@host.example.com\r\n" +
		"CSeq: 8 REGISTER\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\r\n" +
		"Content-Length: 0\r\n" +
		"\r\n" +
		"INVITE sip:joe@example.com SIP/2.0\r\n" +
		"t: sip:joe@example.com\r\n" +
		"From: sip:caller@example.net;tag=141334\r\n" +
		"Max-Forwards: 8\r\n" +
		"Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15\r\n" +
		"CSeq: 8 INVITE\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Content-Length: 150\r\n" +
		"\r\n" +
		"v=0\r\n" +
		"o=mhandley 29739 7272939 IN IP4 192.0.2.15\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.0.2.15\r\n" +
		"t=0 0\r\n" +
		"m=audio 49217 RTP/AVP 0 12\r\n" +
		"m =video 3227 RTP/AVP 31\r\n" +
		"a=rtpmap:31 LPC\r\n"

	// §3.1.1.12: UTF-8 and odd characters in the reason phrase; valid.
	tortureUnreason = "SIP/2.0 200 = 2**3 * 5**2 \xD0\xBD\xD0\xBE \xD1\x81\xD1\x82\xD0\xBE \xD0\xB4\xD0\xB5\xD0\xB2\xD1\x8F\xD0\xBD\xD0\xBE\xD1\x81\xD1\x82\xD0\xBE \xD0\xB4\xD0\xB5\xD0\xB2\xD1\x8F\xD1\x82\xD1\x8C - \xD0\xBF\xD1\x80\xD0\xBE\xD1\x81\xD1\x82\xD0\xBE\xD0\xB5\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\n" +
		"Call-ID: unreason.1234ksdfak3j2erwedfsASdf\r\n" +
		"CSeq: 35 INVITE\r\n" +
		"From: sip:user@example.com;tag=11141343\r\n" +
		"To: sip:user@example.edu;tag=2229\r\n" +
		"Content-Length: 154\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Contact: <sip:user@host198.example.com>\r\n" +
		"\r\n" +
		"v=0\r\n" +
		"o=mhandley 29739 7272939 IN IP4 192.0.2.198\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.0.2.198\r\n" +
		"t=0 0\r\n" +
		"m=audio 49217 RTP/AVP 0 12\r\n" +
		"m=video 3227 RTP/AVP 31\r\n" +
		"a=rtpmap:31 LPC\r\n"

	// §3.1.1.13: empty reason phrase; valid.
	tortureNoreason = "SIP/2.0 100 \r\n" +
		"Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r\n" +
		"Call-ID: noreason.asndj203insdf99223ndf\r\n" +
		"CSeq: 35 INVITE\r\n" +
		"From: <sip:user@example.com>;tag=39ansfi3\r\n" +
		"To: <sip:user@example.edu>;tag=902jndnke3\r\n" +
		"Content-Length: 0\r\n" +
		"Contact: <sip:user@host105.example.com>\r\n" +
		"\r\n"

	// §3.1.2.1: extraneous separators in Via and Contact; invalid, but framing is fine.
	tortureBadinv01 = "INVITE sip:user@example.com SIP/2.0\r\n" +
		"To: sip:j.user@example.com\r\n" +
		"From: sip:caller@example.net;tag=134161461246\r\n" +
		"Max-Forwards: 7\r\n" +
		"Call-ID: badinv01.0ha0isndaksdjasdf3234nas\r\n" +
		"CSeq: 8 INVITE\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n" +
		"Contact: \"Joe\" <sip:joe@example.org>;;;;\r\n" +
		"Content-Length: 152\r\n" +
		"Content-Type: application/sdp\r\n" +
		"\r\n" +
		"v=0\r\n" +
		"o=mhandley 29739 7272939 IN IP4 192.0.2.15\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.0.2.15\r\n" +
		"t=0 0\r\n" +
		"m=audio 49217 RTP/AVP 0 12\r\n" +
		"m=video 3227 RTP/AVP 31\r\n" +
		"a=rtpmap:31 LPC\r\n"

	// §3.1.2.2: Content-Length larger than the body.
	tortureClerr = "INVITE sip:user@example.com SIP/2.0\r\n" +
		"Max-Forwards: 80\r\n" +
		"To: sip:j.user@example.com\r\n" +
		"From: sip:caller@example.net;tag=93942939o2\r\n" +
		"Contact: <sip:caller@hungry.example.net>\r\n" +
		"Call-ID: clerr.0ha0isndaksdjweiafasdk3\r\n" +
		"CSeq: 8 INVITE\r\n" +
		"Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Content-Length: 9999\r\n" +
		"\r\n" +
		"v=0\r\n" +
		"o=mhandley 29739 7272939 IN IP4 192.0.2.155\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.0.2.155\r\n" +
		"t=0 0\r\n" +
		"m=audio 49217 RTP/AVP 0 12\r\n" +
		"m=video 3227 RTP/AVP 31\r\n" +
		"a=rtpmap:31 LPC\r\n"

	// §3.1.2.3: negative Content-Length.
	tortureNcl = "INVITE sip:user@example.com SIP/2.0\r\n" +
		"Max-Forwards: 254\r\n" +
		"To: sip:j.user@example.com\r\n" +
		"From: sip:caller@example.net;tag=32394234\r\n" +
		"Call-ID: ncl.0ha0isndaksdj2193423r542w35\r\n" +
		"CSeq: 0 INVITE\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw\r\n" +
		"Contact: <sip:caller@example53.example.net>\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Content-Length: -999\r\n" +
		"\r\n" +
		"v=0\r\n" +
		"o=mhandley 29739 7272939 IN IP4 192.0.2.53\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.0.2.53\r\n" +
		"t=0 0\r\n" +
		"m=audio 49217 RTP/AVP 0 12\r\n" +
		"m=video 3227 RTP/AVP 31\r\n" +
		"a=rtpmap:31 LPC\r\n"

	// §3.1.2.8: LWS inside the Request-URI.
	tortureLwsruri = "INVITE sip:user@example.com; lr SIP/2.0\r\n" +
		"To: sip:user@example.com;tag=3xfe-9921883-z9f\r\n" +
		"From: sip:caller@example.net;tag=231413434\r\n" +
		"Max-Forwards: 5\r\n" +
		"Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423\r\n" +
		"CSeq: 2130706432 INVITE\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395\r\n" +
		"Contact: <sip:caller@host1.example.net>\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Content-Length: 159\r\n" +
		"\r\n" +
		"v=0\r\n" +
		"o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.0.2.1\r\n" +
		"t=3149328700 0\r\n" +
		"m=audio 49217 RTP/AVP 0 12\r\n" +
		"m=video 3227 RTP/AVP 31\r\n" +
		"a=rtpmap:31 LPC\r\n"

	// §3.1.2.9: several SP between the request-line elements.
	tortureLwsstart = "INVITE  sip:user@example.com  SIP/2.0\r\n" +
		"Max-Forwards: 8\r\n" +
		"To: sip:user@example.com\r\n" +
		"From: sip:caller@example.net;tag=8814\r\n" +
		"Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com\r\n" +
		"CSeq: 1893884 INVITE\r\n" +
		"Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923\r\n" +
		"Contact: <sip:caller@host1.example.net>\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Content-Length: 150\r\n" +
		"\r\n" +
		"v=0\r\n" +
		"o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.0.2.1\r\n" +
		"t=0 0\r\n" +
		"m=audio 49217 RTP/AVP 0 12\r\n" +
		"m=video 3227 RTP/AVP 31\r\n" +
		"a=rtpmap:31 LPC\r\n"

	// §3.1.2.10: SP after the SIP version.
	tortureTrws = "OPTIONS sip:remote-target@example.com SIP/2.0  \r\n" +
		"Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK299342093\r\n" +
		"To: <sip:remote-target@example.com>\r\n" +
		"From: <sip:local-resource@example.com>;tag=329429089\r\n" +
		"Call-ID: trws.oicu34958239neffasdhr2345r\r\n" +
		"Accept: application/sdp\r\n" +
		"CSeq: 238923 OPTIONS\r\n" +
		"Max-Forwards: 70\r\n" +
		"Content-Length: 0\r\n" +
		"\r\n"

	// §3.1.2.14: spaces inside an addr-spec; invalid, but framing is fine.
	tortureBadaspec = "OPTIONS sip:user@example.org SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423\r\n" +
		"To: \"Watson, Thomas\" < sip:t.watson@example.org >\r\n" +
		"Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3\r\n" +
		"Accept: application/sdp\r\n" +
		"CSeq: 3923239 OPTIONS\r\n" +
		"l: 0\r\n" +
		"\r\n"

	// §3.1.2.16: unknown protocol version.
	tortureBadvers = "OPTIONS sip:t.watson@example.org SIP/7.0\r\n" +
		"Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\r\n" +
		"Max-Forwards:     70\r\n" +
		"From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\r\n" +
		"To:      T. Watson <sip:t.watson@example.org>\r\n" +
		"Call-ID: badvers.31417@c.example.com\r\n" +
		"CSeq:    1 OPTIONS\r\n" +
		"l: 0\r\n" +
		"\r\n"

	// §3.1.2.19: overlarge response code.
	tortureBigcode = "SIP/2.0 4294967301 better not break the receiver\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r\n" +
		"Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\r\n" +
		"CSeq: 353494 INVITE\r\n" +
		"From: <sip:user@example.com>;tag=39ansfi3\r\n" +
		"To: <sip:user@example.edu>;tag=902jndnke3\r\n" +
		"Content-Length: 0\r\n" +
		"Contact: <sip:user@host105.example.com>\r\n" +
		"\r\n"

	// §3.3.1 (insuf): required header fields missing; invalid, but framing is fine.
	tortureInsuf = "INVITE sip:user@example.com SIP/2.0\r\n" +
		"CSeq: 193942 INVITE\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\r\n" +
		"Content-Type: application/sdp\r\n" +
		"l: 152\r\n" +
		"\r\n" +
		"v=0\r\n" +
		"o=mhandley 29739 7272939 IN IP4 192.0.2.95\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.0.2.95\r\n" +
		"t=0 0\r\n" +
		"m=audio 49217 RTP/AVP 0 12\r\n" +
		"m=video 3227 RTP/AVP 31\r\n" +
		"a=rtpmap:31 LPC\r\n"
)
