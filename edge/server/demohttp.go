package server

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/sipws/sipws/edge/demo"
)

// maxPlainRequest bounds the request head read while looking for a plain GET.
const maxPlainRequest = 8 << 10

// serveDemo looks at the request head on a listener with the demo page on: a GET that is not
// a WebSocket upgrade is answered here (the page, or 404) and the connection closed. For an
// upgrade it returns a reader that replays the bytes it looked at, for the upgrader.
func serveDemo(rw io.ReadWriter) (next io.ReadWriter, served bool) {
	br := bufio.NewReaderSize(rw, maxPlainRequest)
	var head []byte
	for {
		b, _ := br.Peek(br.Buffered())
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			head = b[:i]
			break
		}
		if len(b) >= maxPlainRequest {
			break // let the upgrader refuse it
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return rw, true // closed or timed out before a whole request: nothing to serve
		}
	}
	replay := struct {
		io.Reader
		io.Writer
	}{br, rw}
	if head == nil {
		return replay, false
	}
	line, hdrs, _ := strings.Cut(string(head), "\r\n")
	method, rest, _ := strings.Cut(line, " ")
	target, _, _ := strings.Cut(rest, " ")
	for _, h := range strings.Split(hdrs, "\r\n") {
		name, value, _ := strings.Cut(h, ":")
		if strings.EqualFold(strings.TrimSpace(name), "Upgrade") && strings.EqualFold(strings.TrimSpace(value), "websocket") {
			return replay, false
		}
	}
	path, _, _ := strings.Cut(target, "?")
	status, ctype, body := http.StatusNotFound, "text/plain; charset=utf-8", []byte("not found: the demo page is at /demo\n")
	if b, ct, ok := demo.File(path); ok {
		status, ctype, body = http.StatusOK, ct, b
	} else if path == "/" {
		status, body = http.StatusFound, []byte("the demo page is at /demo/\n")
	}
	if method != http.MethodGet && method != http.MethodHead {
		status, ctype, body = http.StatusMethodNotAllowed, "text/plain; charset=utf-8", []byte("GET only\n")
	}
	var out bytes.Buffer
	out.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	if status == http.StatusFound {
		out.WriteString("Location: /demo/\r\n")
	}
	out.WriteString("Content-Type: " + ctype + "\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n")
	if method != http.MethodHead {
		out.Write(body)
	}
	_, _ = rw.Write(out.Bytes())
	return rw, true
}
