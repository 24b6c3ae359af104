// Package sip is the little SIP the WebSocket edge needs: a cheap framing check of one message
// per WebSocket message (RFC 7118 §5.1), stateless responses (RFC 3261 §8.2.6), header look-up
// and the CRLF keep-alive (RFC 5626 §4.4.1). It never parses more than framing requires, never
// allocates on the success path of Check and never panics, whatever the input.
package sip

import (
	"bytes"
	"errors"
	"fmt"
)

// Errors returned by Check (wrapped with detail; test with errors.Is).
var (
	ErrEmpty         = errors.New("sip: empty message")
	ErrStartLine     = errors.New("sip: malformed start line")
	ErrVersion       = errors.New("sip: unsupported SIP version")
	ErrStatus        = errors.New("sip: malformed status code")
	ErrHeader        = errors.New("sip: malformed header field")
	ErrNoHeaderEnd   = errors.New("sip: no blank line ending the header section")
	ErrContentLength = errors.New("sip: bad Content-Length")
)

// Message describes a SIP message that passed Check. Offsets index the checked buffer.
type Message struct {
	Request    bool
	Method     []byte // request method (sub-slice of the input), nil for responses
	StatusCode int    // response status, 0 for requests
	HeaderEnd  int    // offset of the first byte of the body (just after the blank line)
	BodyLen    int
}

// Check cheaply verifies that b is exactly one SIP message: a valid start line, header fields
// with a token name and ':', a blank line, and a body whose length matches every
// Content-Length (which may be absent on WebSocket, RFC 7118 §5.1). Lines may end in CRLF or,
// leniently, a bare LF; a bare CR is refused because peers disagree on whether it ends a line.
// The error describes the first problem found.
func Check(b []byte) (Message, error) {
	var m Message
	if len(b) == 0 {
		return m, ErrEmpty
	}
	first, next, ok := lineAt(b, 0)
	if err := startLine(b, first, &m); err != nil {
		return Message{}, err
	}
	if !ok {
		return Message{}, fmt.Errorf("%w: message ends in the start line", ErrNoHeaderEnd)
	}

	cl := -1 // agreed Content-Length so far, -1 while absent
	i := next
	for {
		line, n, ok := lineAt(b, i)
		if !ok {
			return Message{}, fmt.Errorf("%w: message ends at offset %d inside the headers", ErrNoHeaderEnd, i)
		}
		if len(line) == 0 {
			m.HeaderEnd = n
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			// Continuations are consumed with their field below, so this one has none.
			return Message{}, fmt.Errorf("%w: continuation line without a header at offset %d", ErrHeader, i)
		}
		if bytes.IndexByte(line, '\r') >= 0 {
			return Message{}, fmt.Errorf("%w: bare CR at offset %d", ErrHeader, i)
		}
		name, colon := fieldName(line)
		if colon < 0 {
			return Message{}, fmt.Errorf("%w: no token name and ':' at offset %d", ErrHeader, i)
		}
		vs, ve := i+colon+1, i+len(line)
		i = n
		for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
			cont, n, ok := lineAt(b, i)
			if !ok {
				return Message{}, fmt.Errorf("%w: message ends at offset %d inside the headers", ErrNoHeaderEnd, i)
			}
			if bytes.IndexByte(cont, '\r') >= 0 {
				return Message{}, fmt.Errorf("%w: bare CR at offset %d", ErrHeader, i)
			}
			ve, i = i+len(cont), n
		}
		if isContentLength(name) {
			v, ok := parseLength(b[vs:ve], len(b))
			if !ok {
				return Message{}, fmt.Errorf("%w: not a decimal number at offset %d", ErrContentLength, vs)
			}
			if cl >= 0 && v != cl {
				return Message{}, fmt.Errorf("%w: several Content-Length values disagree", ErrContentLength)
			}
			cl = v
		}
	}
	m.BodyLen = len(b) - m.HeaderEnd
	if cl >= 0 && cl != m.BodyLen {
		if cl > len(b) {
			return Message{}, fmt.Errorf("%w: larger than the whole message, body has %d bytes", ErrContentLength, m.BodyLen)
		}
		return Message{}, fmt.Errorf("%w: %d, but the body has %d bytes", ErrContentLength, cl, m.BodyLen)
	}
	return m, nil
}

// startLine checks a request line or status line and fills m. b is the whole message, so that
// Method can be a sub-slice of it.
func startLine(b, line []byte, m *Message) error {
	for _, c := range line {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return fmt.Errorf("%w: control character", ErrStartLine)
		}
	}
	sp := bytes.IndexByte(line, ' ')
	head := line
	if sp >= 0 {
		head = line[:sp]
	}
	// A method token never holds '/', so a first word with one is a version: a status line,
	// or another protocol (HTTP) that belongs to ErrVersion.
	if bytes.IndexByte(head, '/') >= 0 {
		if !eqFold(head, "SIP/2.0") {
			return fmt.Errorf("%w: status line", ErrVersion)
		}
		rest := line[len(head):]
		if len(rest) < 5 || rest[0] != ' ' || !isDigit(rest[1]) || !isDigit(rest[2]) || !isDigit(rest[3]) || rest[4] != ' ' {
			return fmt.Errorf("%w: want SIP/2.0 SP 3DIGIT SP reason-phrase", ErrStatus)
		}
		code := int(rest[1]-'0')*100 + int(rest[2]-'0')*10 + int(rest[3]-'0')
		if code < 100 || code > 699 {
			return fmt.Errorf("%w: %d out of 100..699", ErrStatus, code)
		}
		m.StatusCode = code
		return nil
	}
	if sp <= 0 {
		return fmt.Errorf("%w: want METHOD SP Request-URI SP SIP/2.0", ErrStartLine)
	}
	for _, c := range head {
		if !isToken[c] {
			return fmt.Errorf("%w: method is not a token", ErrStartLine)
		}
	}
	last := bytes.LastIndexByte(line, ' ')
	if last == sp {
		return fmt.Errorf("%w: missing SIP version", ErrStartLine)
	}
	if !eqFold(line[last+1:], "SIP/2.0") {
		return fmt.Errorf("%w: request line", ErrVersion)
	}
	uri := line[sp+1 : last]
	if len(uri) == 0 || bytes.IndexByte(uri, ' ') >= 0 || bytes.IndexByte(uri, '\t') >= 0 {
		return fmt.Errorf("%w: Request-URI empty or holding whitespace", ErrStartLine)
	}
	m.Request = true
	m.Method = b[:sp:sp] // capped so an append by the caller cannot overwrite the message
	return nil
}

// HeaderValue returns the trimmed value of the first header field named name or, if compact
// is not empty, compact; nil if absent. Names are case-insensitive. Only the header section is
// searched. A folded value keeps its line breaks; the result is a sub-slice of msg.
func HeaderValue(msg []byte, name, compact string) []byte {
	if name == "" && compact == "" {
		return nil
	}
	s := newFields(msg)
	for {
		n, v, ok := s.next()
		if !ok {
			return nil
		}
		if name != "" && eqFold(n, name) || compact != "" && eqFold(n, compact) {
			return v
		}
	}
}

// IsKeepAlive reports whether b is the RFC 5626 §4.4.1 CRLF keep-alive "ping", which the edge
// answers with "\r\n" and never forwards.
func IsKeepAlive(b []byte) bool { return string(b) == "\r\n\r\n" }

// fields walks the header fields of a message leniently (lines that are not fields are
// skipped), for look-ups on messages that may not have passed Check.
type fields struct {
	b   []byte
	pos int
}

func newFields(msg []byte) fields {
	_, next, _ := lineAt(msg, 0) // skip the start line
	return fields{b: msg, pos: next}
}

// next returns the next field's name and trimmed value (continuation lines included); ok is
// false at the blank line or the end of msg.
func (s *fields) next() (name, value []byte, ok bool) {
	for s.pos < len(s.b) {
		start := s.pos
		line, n, _ := lineAt(s.b, start)
		if len(line) == 0 {
			s.pos = len(s.b)
			return nil, nil, false
		}
		end := start + len(line)
		s.pos = n
		for s.pos < len(s.b) && (s.b[s.pos] == ' ' || s.b[s.pos] == '\t') {
			cont, n, _ := lineAt(s.b, s.pos)
			end, s.pos = s.pos+len(cont), n
		}
		name, colon := fieldName(line)
		if colon < 0 {
			continue
		}
		return name, trimLWS(s.b[start+colon+1 : end]), true
	}
	return nil, nil, false
}

// lineAt returns the line starting at b[i] without its LF or CRLF, the offset of the next
// line, and whether a LF ended it (false when the line runs to the end of b).
func lineAt(b []byte, i int) (line []byte, next int, ok bool) {
	if i >= len(b) {
		return nil, len(b), false
	}
	j := bytes.IndexByte(b[i:], '\n')
	if j < 0 {
		return b[i:], len(b), false
	}
	e := i + j
	if e > i && b[e-1] == '\r' {
		e--
	}
	return b[i:e], i + j + 1, true
}

// fieldName splits "name *WSP ':'" off a header line; colon is the index of ':' in line, or
// -1 when the line does not start with a token name followed by a colon.
func fieldName(line []byte) (name []byte, colon int) {
	n := 0
	for n < len(line) && isToken[line[n]] {
		n++
	}
	if n == 0 {
		return nil, -1
	}
	j := n
	for j < len(line) && (line[j] == ' ' || line[j] == '\t') {
		j++
	}
	if j == len(line) || line[j] != ':' {
		return nil, -1
	}
	return line[:n], j
}

func isContentLength[T string | []byte](name T) bool {
	return eqFold(name, "content-length") || eqFold(name, "l")
}

// parseLength parses a Content-Length value (1*DIGIT between optional LWS). Values above
// limit are clamped to limit+1: they can only be a mismatch, and clamping avoids overflow.
func parseLength(v []byte, limit int) (int, bool) {
	v = trimLWS(v)
	if len(v) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		if n <= limit {
			n = n*10 + int(c-'0')
		}
	}
	if n > limit {
		n = limit + 1
	}
	return n, true
}

// trimLWS trims spaces, tabs and line breaks (folding) from both ends.
func trimLWS(v []byte) []byte {
	i, j := 0, len(v)
	for i < j && isLWS(v[i]) {
		i++
	}
	for j > i && isLWS(v[j-1]) {
		j--
	}
	return v[i:j]
}

func isLWS(c byte) bool   { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// eqFold compares a with the ASCII string s, ignoring ASCII case.
func eqFold[T string | []byte](a T, s string) bool {
	if len(a) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c, d := a[i], s[i]
		if c == d {
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// isToken holds the RFC 3261 §25.1 token characters.
var isToken = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-.!%*_+`'~" {
		t[c] = true
	}
	return t
}()
