package sip

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

func seedMessages() []string {
	var seeds []string
	for _, tc := range checkCases {
		seeds = append(seeds, tc.msg)
	}
	for _, tc := range tortureCases {
		seeds = append(seeds, tc.msg)
	}
	for _, tc := range responseCases {
		seeds = append(seeds, tc.req)
	}
	return seeds
}

func FuzzCheck(f *testing.F) {
	for _, s := range seedMessages() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := string(b)
		m, err := Check(b)
		HeaderValue(b, "Content-Length", "l")
		HeaderValue(b, "Via", "v")
		IsKeepAlive(b)
		if string(b) != orig {
			t.Fatal("input modified")
		}
		if err != nil {
			return
		}
		if m.HeaderEnd < 0 || m.BodyLen < 0 || m.HeaderEnd+m.BodyLen != len(b) {
			t.Fatalf("HeaderEnd %d + BodyLen %d != len %d", m.HeaderEnd, m.BodyLen, len(b))
		}
		if h := b[:m.HeaderEnd]; !bytes.HasSuffix(h, []byte("\n\n")) && !bytes.HasSuffix(h, []byte("\n\r\n")) {
			t.Fatalf("header section %q does not end in a blank line", h)
		}
		if m.Request {
			if len(m.Method) == 0 || m.StatusCode != 0 || !bytes.HasPrefix(b, append(m.Method, ' ')) {
				t.Fatalf("request with Method %q, StatusCode %d", m.Method, m.StatusCode)
			}
		} else if m.Method != nil || m.StatusCode < 100 || m.StatusCode > 699 || string(b[8:11]) != strconv.Itoa(m.StatusCode) {
			t.Fatalf("response with Method %q, StatusCode %d", m.Method, m.StatusCode)
		}
		// The first Content-Length, when present, is what the body measures.
		if v := HeaderValue(b, "Content-Length", "l"); v != nil {
			if n, err := strconv.Atoi(string(v)); err != nil || n != m.BodyLen {
				t.Fatalf("Content-Length %q, body %d bytes", v, m.BodyLen)
			}
		}
	})
}

func FuzzResponse(f *testing.F) {
	for _, tc := range responseCases {
		f.Add([]byte(tc.req), tc.code, tc.reason, strings.Join(tc.extra, "\n"))
	}
	for _, s := range seedMessages() {
		f.Add([]byte(s), 400, "Bad Request", "Retry-After: 30")
	}
	f.Fuzz(func(t *testing.T, req []byte, code int, reason, extra string) {
		var extras []string
		if extra != "" {
			extras = strings.Split(extra, "\n")
		}
		orig := string(req)
		resp, err := Response(req, code, reason, extras...)
		if string(req) != orig {
			t.Fatal("input modified")
		}
		if err != nil {
			if resp != nil {
				t.Fatalf("Response() = %q with error %v", resp, err)
			}
			return
		}
		assertResponse(t, req, resp, code, extras)
	})
}
