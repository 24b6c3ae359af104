// Package sipmsg parses and edits SIP messages (RFC 3261) for a proxy.
//
// It is byte-preserving: a header the proxy does not touch is re-emitted exactly as it
// arrived, folding and odd spacing included, so a valid RFC 4475 torture message is
// relayed intact and a later hop sees what the client sent. Only edited or added header
// lines are serialised anew. Values are exposed trimmed and unfolded; structured values
// (Via, URIs, name-addr) are parsed on demand by ParseVia, ParseURI and ParseNameAddr.
//
// Parse copies the header section into one string and keeps a sub-slice of the input as
// Body, so a parsed Msg costs three allocations and the input must not be modified while
// the Msg is in use. Nothing here panics on any input; malformed input yields an error
// wrapping one of the Err* sentinels.
package sipmsg

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors; every error returned by this package wraps one of them.
var (
	ErrEmpty         = errors.New("sipmsg: empty message")
	ErrStartLine     = errors.New("sipmsg: malformed start line")
	ErrVersion       = errors.New("sipmsg: unsupported SIP version") // also wraps ErrStartLine: answer 505
	ErrHeader        = errors.New("sipmsg: malformed header")
	ErrContentLength = errors.New("sipmsg: bad Content-Length")
	ErrMissing       = errors.New("sipmsg: missing header")
	ErrVia           = errors.New("sipmsg: malformed Via")
	ErrURI           = errors.New("sipmsg: malformed URI")
	ErrNameAddr      = errors.New("sipmsg: malformed name-addr")
)

// Msg is a parsed SIP request or response.
type Msg struct {
	Request    bool
	Method     string // requests
	RequestURI string // requests, as written
	StatusCode int    // responses
	Reason     string // responses
	Headers    []Header
	Body       []byte

	start string    // start line as parsed, incl. its line end; reused while unchanged
	orig  startLine // start-line fields as parsed, to detect edits
	eoh   string    // the empty line closing the header section as parsed ("\r\n" or "\n")
}

type startLine struct {
	request     bool
	method, uri string
	code        int
	reason      string
}

// Header is one header line (with its continuation lines) of a message.
type Header struct {
	Name  string // as written ("v", "Via", "VIA")
	Value string // trimmed, folding unfolded to single spaces

	// raw is the original line(s) incl. the line end; it is emitted instead of Name and
	// Value as long as those are unchanged (so direct edits of Value are safe). A string
	// rather than []byte: it is a slice of the message's one header string, so it never
	// aliases the caller's buffer.
	raw string
	val string // Value as parsed
}

// rawOK reports whether the header is still as parsed, so that raw can be emitted.
func (h *Header) rawOK() bool {
	n := len(h.Name)
	// Name is a token and raw starts with the name as written followed by a colon or
	// white space, so a prefix match that ends there is an exact match.
	return h.raw != "" && h.Value == h.val && n > 0 && n < len(h.raw) &&
		h.raw[:n] == h.Name && !isToken(h.raw[n])
}

// Parse parses one complete SIP message. Leading CRLFs are skipped (RFC 3261 §7.5). Lines
// may end in CRLF or bare LF; a CR anywhere else in the start line or headers is refused.
// With a Content-Length the body must be exactly that long (RFC 7118 §5.1: one message
// per WebSocket message); without one the body is the rest of b. The returned Msg keeps
// a sub-slice of b as Body.
func Parse(b []byte) (*Msg, error) {
	m := new(Msg)
	if err := ParseInto(m, b); err != nil {
		return nil, err
	}
	return m, nil
}

// ParseInto is Parse into an existing Msg, reusing its Headers array: with a pooled Msg a
// parse costs one allocation (the header string) plus one per folded header.
func ParseInto(m *Msg, b []byte) error {
	hs := m.Headers[:0]
	clear(m.Headers[:cap(m.Headers)])
	*m = Msg{}

	for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	if len(b) == 0 {
		return ErrEmpty
	}

	// Pass 1 over the bytes: find the end of the header section, count lines to size
	// Headers, and refuse CRs that do not end a line (they could split a header for a
	// lenient next hop: header injection).
	pos, lines, crlf := 0, 0, 0
	for {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			if lines == 0 {
				return fmt.Errorf("%w: no line end", ErrStartLine)
			}
			return fmt.Errorf("%w: no empty line after the headers", ErrHeader)
		}
		lines++
		end := pos + i
		if i > 0 && b[end-1] == '\r' {
			crlf++
			i--
		}
		pos = end + 1
		if i == 0 {
			break
		}
	}
	if bytes.Count(b[:pos], []byte{'\r'}) != crlf {
		return fmt.Errorf("%w: CR not followed by LF", ErrHeader)
	}

	s := string(b[:pos]) // the one copy: every string in m is a slice of it
	line, next := cutLine(s, 0)
	if err := m.parseStartLine(line); err != nil {
		return err
	}
	m.start = s[:next]

	if n := lines + 2; cap(hs) < n { // lines-2 headers at most, plus room for a proxy's edits
		hs = make([]Header, 0, n)
	}
	cl := -1
	var err error
	for p := next; p < len(s); {
		line, next = cutLine(s, p)
		if line == "" {
			m.eoh = s[p:]
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return fmt.Errorf("%w: continuation line without a header", ErrHeader)
		}
		colon := strings.IndexByte(line, ':')
		if colon < 0 {
			return fmt.Errorf("%w: no colon in %q", ErrHeader, clip(line))
		}
		name := trimRight(line[:colon])
		if name == "" || !isTokenString(name) {
			return fmt.Errorf("%w: bad name %q", ErrHeader, clip(line[:colon]))
		}
		value := trim(line[colon+1:])
		// Continuation lines: LWS = [*WSP CRLF] 1*WSP (RFC 3261 §25.1).
		folded := false
		for next < len(s) && (s[next] == ' ' || s[next] == '\t') {
			folded = true
			_, next = cutLine(s, next)
		}
		raw := s[p:next]
		if folded {
			value = unfold(raw[colon+1:])
		}
		hs = append(hs, Header{Name: name, Value: value, raw: raw, val: value})
		if isContentLength(name) {
			if cl, err = contentLength(cl, value); err != nil {
				return err
			}
		}
		p = next
	}
	m.Headers = hs

	body := b[pos:]
	if cl >= 0 && cl != len(body) {
		return fmt.Errorf("%w: header says %d, body has %d bytes", ErrContentLength, cl, len(body))
	}
	if len(body) > 0 {
		m.Body = body
	}
	return nil
}

// contentLength parses one Content-Length value; repeated ones must agree.
func contentLength(prev int, v string) (int, error) {
	n, ok := atoi(v, 9)
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrContentLength, clip(v))
	}
	if prev >= 0 && prev != n {
		return 0, fmt.Errorf("%w: %d and %d", ErrContentLength, prev, n)
	}
	return n, nil
}

func (m *Msg) parseStartLine(line string) error {
	if len(line) >= 4 && strings.EqualFold(line[:4], "SIP/") {
		// Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
		ver, rest, _ := strings.Cut(line, " ")
		if err := checkVersion(ver); err != nil {
			return err
		}
		if len(rest) < 3 || (len(rest) > 3 && rest[3] != ' ') {
			return fmt.Errorf("%w: bad status code in %q", ErrStartLine, clip(line))
		}
		code, ok := atoi(rest[:3], 3)
		if !ok || code < 100 || code > 699 {
			return fmt.Errorf("%w: bad status code in %q", ErrStartLine, clip(line))
		}
		reason := ""
		if len(rest) > 3 {
			reason = rest[4:]
		}
		for i := 0; i < len(reason); i++ {
			if c := reason[i]; (c < ' ' && c != '\t') || c == 0x7f {
				return fmt.Errorf("%w: control character in reason phrase", ErrStartLine)
			}
		}
		m.StatusCode, m.Reason = code, reason
	} else {
		// Request-Line = Method SP Request-URI SP SIP-Version: single SPs, no LWS
		// (RFC 4475 lwsstart, trws and lwsruri are invalid).
		sp1 := strings.IndexByte(line, ' ')
		sp2 := strings.LastIndexByte(line, ' ')
		if sp1 <= 0 || sp2 == sp1 {
			return fmt.Errorf("%w: %q", ErrStartLine, clip(line))
		}
		method, uri := line[:sp1], line[sp1+1:sp2]
		if !isTokenString(method) {
			return fmt.Errorf("%w: bad method %q", ErrStartLine, clip(method))
		}
		if err := checkVersion(line[sp2+1:]); err != nil {
			return err
		}
		if uri == "" {
			return fmt.Errorf("%w: empty Request-URI", ErrStartLine)
		}
		for i := 0; i < len(uri); i++ {
			if c := uri[i]; c <= ' ' || c == 0x7f {
				return fmt.Errorf("%w: white space or control character in Request-URI", ErrStartLine)
			}
		}
		m.Request, m.Method, m.RequestURI = true, method, uri
	}
	m.orig = m.startLine()
	return nil
}

func (m *Msg) startLine() startLine {
	return startLine{m.Request, m.Method, m.RequestURI, m.StatusCode, m.Reason}
}

// checkVersion accepts SIP/2.0 in any case; another well-formed version is ErrVersion.
func checkVersion(v string) error {
	if strings.EqualFold(v, "SIP/2.0") {
		return nil
	}
	if len(v) > 4 && strings.EqualFold(v[:4], "SIP/") {
		major, minor, ok := strings.Cut(v[4:], ".")
		if _, ok1 := atoi(major, 9); ok && ok1 {
			if _, ok2 := atoi(minor, 9); ok2 {
				return fmt.Errorf("%w: %w: %q", ErrStartLine, ErrVersion, clip(v))
			}
		}
	}
	return fmt.Errorf("%w: bad version %q", ErrStartLine, clip(v))
}

// AppendTo appends the serialised message to dst: the start line (the original bytes
// while Method, RequestURI, StatusCode and Reason are unchanged), each header (its
// original bytes while untouched), exactly one Content-Length equal to len(Body) at the
// position and in the name form of the first one (or "Content-Length" at the end), the
// empty line and the body.
func (m *Msg) AppendTo(dst []byte) []byte {
	if m.start != "" && m.startLine() == m.orig {
		dst = append(dst, m.start...)
	} else if m.Request {
		dst = appendSafe(dst, m.Method)
		dst = append(dst, ' ')
		dst = appendSafe(dst, m.RequestURI)
		dst = append(dst, " SIP/2.0\r\n"...)
	} else {
		dst = append(dst, "SIP/2.0 "...)
		dst = strconv.AppendInt(dst, int64(m.StatusCode), 10)
		dst = append(dst, ' ')
		dst = appendSafe(dst, m.Reason)
		dst = append(dst, "\r\n"...)
	}
	clDone := false
	for i := range m.Headers {
		h := &m.Headers[i]
		if isContentLength(h.Name) {
			if clDone {
				continue // one Content-Length only: a duplicate is an error for the next hop
			}
			clDone = true
			if n, ok := atoi(h.Value, 9); ok && n == len(m.Body) && h.rawOK() {
				dst = append(dst, h.raw...)
				continue
			}
			dst = append(dst, h.Name...)
			dst = append(dst, ": "...)
			dst = strconv.AppendInt(dst, int64(len(m.Body)), 10)
			dst = append(dst, "\r\n"...)
			continue
		}
		if h.rawOK() {
			dst = append(dst, h.raw...)
		} else {
			dst = appendHeader(dst, h.Name, h.Value)
		}
	}
	if !clDone {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(m.Body)), 10)
		dst = append(dst, "\r\n"...)
	}
	if m.eoh != "" {
		dst = append(dst, m.eoh...)
	} else {
		dst = append(dst, "\r\n"...)
	}
	return append(dst, m.Body...)
}

// Bytes returns the serialised message in a new slice.
func (m *Msg) Bytes() []byte {
	return m.AppendTo(make([]byte, 0, m.Len()))
}

// Len bounds the serialised message's length, for sizing buffers: the parts as AppendTo
// writes them (raw lines while unchanged) plus room for a rewritten Content-Length.
func (m *Msg) Len() int {
	n := len(m.start) + len(m.Method) + len(m.RequestURI) + len(m.Reason) + 32 + len(m.Body)
	for i := range m.Headers {
		h := &m.Headers[i]
		if h.rawOK() {
			n += len(h.raw)
		} else {
			n += len(h.Name) + len(h.Value) + 4
		}
	}
	return n
}

// String returns the serialised message.
func (m *Msg) String() string { return string(m.Bytes()) }

// appendHeader writes a header line anew.
func appendHeader(dst []byte, name, value string) []byte {
	dst = appendSafe(dst, name)
	dst = append(dst, ':')
	if value != "" {
		dst = append(dst, ' ')
		dst = appendSafe(dst, value)
	}
	return append(dst, "\r\n"...)
}

// appendSafe appends v with CR and LF turned into spaces, so that nothing set by the
// caller (possibly copied from a client) can inject a line.
func appendSafe(dst []byte, v string) []byte {
	if strings.IndexByte(v, '\r') < 0 && strings.IndexByte(v, '\n') < 0 {
		return append(dst, v...)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

// cutLine returns the line starting at p without its line end, and the start of the
// next line. s must contain a LF at or after p.
func cutLine(s string, p int) (line string, next int) {
	i := strings.IndexByte(s[p:], '\n')
	if i < 0 {
		return s[p:], len(s)
	}
	next = p + i + 1
	line = s[p : p+i]
	if i > 0 && line[i-1] == '\r' {
		line = line[:i-1]
	}
	return line, next
}

// unfold joins the pieces of a folded value with single spaces: each fold
// (*WSP CRLF 1*WSP) becomes one SP and the result is trimmed.
func unfold(raw string) string {
	var pieces [8]string
	parts := pieces[:0]
	n := 0
	for raw != "" {
		i := strings.IndexByte(raw, '\n')
		var piece string
		if i < 0 {
			piece, raw = raw, ""
		} else {
			piece, raw = raw[:i], raw[i+1:]
		}
		if piece = trim(piece); piece != "" {
			parts = append(parts, piece)
			n += len(piece) + 1
		}
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	var b strings.Builder
	b.Grow(n)
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p)
	}
	return b.String()
}

// clip shortens s for error messages.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
