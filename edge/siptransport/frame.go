package siptransport

import (
	"bytes"
	"fmt"
	"io"
)

// Stream framing (RFC 3261 §18.3, RFC 5626 §4.4.1).
//
// A stream carries SIP messages back to back. A message ends after the empty
// line that closes its header section plus Content-Length body bytes;
// Content-Length is mandatory on streams. CR and LF bytes between messages
// are skipped (RFC 3261 §7.5), except that a "\r\n\r\n" at a message
// boundary is an RFC 5626 keep-alive ping that must be answered with "\r\n".

type frameKind uint8

const (
	frameMore      frameKind = iota // no complete frame buffered; read more
	frameMessage                    // one complete SIP message
	frameKeepAlive                  // "\r\n\r\n" ping: answer "\r\n"
)

var pingBytes = []byte("\r\n\r\n")

const (
	minReadSize    = 4 << 10  // smallest read into the buffer
	shrinkAboveCap = 32 << 10 // an empty buffer this large is released
)

// splitter accumulates a byte stream and cuts it into frames. It is not safe
// for concurrent use. Work is linear in the stream length: the header scan
// resumes where it stopped and never rescans bytes.
type splitter struct {
	max int    // largest message accepted, in bytes
	buf []byte // buffered bytes; the unconsumed ones are buf[r:]
	r   int

	scan  int // bytes of buf[r:] already searched for the end of the headers
	total int // length of the message at buf[r:] once its headers are parsed; 0 = unknown

	consumed int64 // bytes of the stream consumed so far (messages, pings, skipped CR/LF)
}

func newSplitter(max int) *splitter { return &splitter{max: max} }

// buffered reports the number of unconsumed bytes.
func (s *splitter) buffered() int { return len(s.buf) - s.r }

// compact moves the unconsumed bytes to the front of the buffer, or releases
// a large buffer that is empty.
func (s *splitter) compact() {
	if s.r == 0 {
		return
	}
	n := copy(s.buf, s.buf[s.r:])
	s.buf = s.buf[:n]
	s.r = 0
	if n == 0 && cap(s.buf) > shrinkAboveCap {
		s.buf = nil
	}
}

// reserve makes room for at least one read and returns the slice to read
// into. It never lets the buffer hold more than max+1 unconsumed bytes, so a
// message over the limit is always detected without buffering further.
func (s *splitter) reserve() []byte {
	s.compact()
	want := s.max + 1 - len(s.buf)
	if want < 1 {
		want = 1 // next() reports the overflow before this matters
	}
	if free := cap(s.buf) - len(s.buf); free < min(want, minReadSize) {
		grow := max(min(want, minReadSize), min(want, cap(s.buf))) // at most doubling
		nb := make([]byte, len(s.buf), len(s.buf)+grow)
		copy(nb, s.buf)
		s.buf = nb
	}
	end := min(cap(s.buf), len(s.buf)+want)
	return s.buf[len(s.buf):end]
}

// readFrom performs one Read from r into the buffer.
func (s *splitter) readFrom(r io.Reader) (int, error) {
	p := s.reserve()
	n, err := r.Read(p)
	s.buf = s.buf[:len(s.buf)+n]
	return n, err
}

// feed appends p to the buffer (used by tests, the fuzzer and benchmarks).
func (s *splitter) feed(p []byte) {
	s.compact()
	s.buf = append(s.buf, p...)
}

// next returns the next frame. For frameMessage, msg is a view into the
// buffer that is valid until the next call to any method. A non-nil error
// means the stream is unusable and must be closed.
func (s *splitter) next() (kind frameKind, msg []byte, err error) {
	for s.total == 0 && s.scan == 0 {
		b := s.buf[s.r:]
		if len(b) == 0 {
			return frameMore, nil, nil
		}
		if b[0] != '\r' && b[0] != '\n' {
			break // the start of a message
		}
		if bytes.HasPrefix(b, pingBytes) {
			s.advance(len(pingBytes))
			return frameKeepAlive, nil, nil
		}
		if len(b) < len(pingBytes) && bytes.HasPrefix(pingBytes, b) {
			return frameMore, nil, nil // may become a ping
		}
		s.advance(1) // stray CR/LF between messages
	}

	b := s.buf[s.r:]
	if s.total == 0 {
		end, ok := s.findHeaderEnd(b)
		if !ok {
			if len(b) > s.max {
				return frameMore, nil, fmt.Errorf("%w: no end of headers within %d bytes", ErrMessageTooLarge, s.max)
			}
			return frameMore, nil, nil
		}
		if end > s.max {
			return frameMore, nil, fmt.Errorf("%w: header section of %d bytes exceeds %d", ErrMessageTooLarge, end, s.max)
		}
		cl, err := parseHead(b[:end], s.max)
		if err != nil {
			return frameMore, nil, err
		}
		if end+cl > s.max {
			return frameMore, nil, fmt.Errorf("%w: message of %d bytes exceeds %d", ErrMessageTooLarge, end+cl, s.max)
		}
		s.total = end + cl
	}
	if len(b) < s.total {
		return frameMore, nil, nil
	}
	msg = b[:s.total:s.total]
	s.advance(s.total)
	return frameMessage, msg, nil
}

func (s *splitter) advance(n int) {
	s.r += n
	s.consumed += int64(n)
	s.scan = 0
	s.total = 0
	if s.r == len(s.buf) {
		s.buf = s.buf[:0]
		s.r = 0
		if cap(s.buf) > shrinkAboveCap {
			s.buf = nil
		}
	}
}

// findHeaderEnd returns the length of the header section of b including the
// empty line that ends it. It accepts CRLF and, leniently, bare LF line ends.
func (s *splitter) findHeaderEnd(b []byte) (int, bool) {
	i := s.scan
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			s.scan = max(len(b), 1) // keep scan != 0: we are inside a message
			return 0, false
		}
		i += j
		switch {
		case i+1 >= len(b):
			s.scan = max(i, 1)
			return 0, false
		case b[i+1] == '\n':
			return i + 2, true
		case b[i+1] == '\r':
			if i+2 >= len(b) {
				s.scan = max(i, 1)
				return 0, false
			}
			if b[i+2] == '\n' {
				return i + 3, true
			}
		}
		i++
	}
}

// parseHead checks the start line of a header section and returns its
// Content-Length. head ends with the empty line.
func parseHead(head []byte, limit int) (int, error) {
	line, rest := cutLine(head)
	if !isStartLine(line) {
		return 0, fmt.Errorf("%w: start line %.40q is not SIP/2.0", ErrMalformed, line)
	}
	cl := -1
	inCL := false // the current header (with folded continuation lines) is Content-Length
	var val []byte
	flush := func() error {
		if !inCL {
			return nil
		}
		inCL = false
		n, err := parseContentLength(val, limit)
		if err != nil {
			return err
		}
		if cl >= 0 && n != cl {
			return fmt.Errorf("%w: conflicting Content-Length values %d and %d", ErrMalformed, cl, n)
		}
		cl = n
		return nil
	}
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break // the empty line closing the headers
		}
		if line[0] == ' ' || line[0] == '\t' { // folded continuation (RFC 3261 §7.3.1)
			if inCL { // rare: copy instead of extending the view into head
				val = append(append(val[:len(val):len(val)], ' '), line...)
			}
			continue
		}
		if err := flush(); err != nil {
			return 0, err
		}
		if c := line[0] | 0x20; c != 'c' && c != 'l' {
			continue // cheap pre-check: only Content-Length / l matter here
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue // not framing-relevant; the message parser will refuse it
		}
		name := line[:colon]
		for len(name) > 0 && (name[len(name)-1] == ' ' || name[len(name)-1] == '\t') {
			name = name[:len(name)-1]
		}
		if isContentLength(name) {
			inCL = true
			val = line[colon+1:]
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	if cl < 0 {
		return 0, ErrNoContentLength
	}
	return cl, nil
}

// cutLine splits b after the first LF, dropping the line end (LF or CRLF).
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

const sipVersion = "SIP/2.0"

// isStartLine reports whether line looks like a Request-Line
// ("INVITE sip:a@b SIP/2.0") or a Status-Line ("SIP/2.0 200 OK").
func isStartLine(line []byte) bool {
	n := len(sipVersion)
	if len(line) > n && line[n] == ' ' && bytes.EqualFold(line[:n], []byte(sipVersion)) {
		return true
	}
	return len(line) > n+1 && line[len(line)-n-1] == ' ' && bytes.EqualFold(line[len(line)-n:], []byte(sipVersion))
}

func isContentLength(name []byte) bool {
	return (len(name) == 1 && (name[0] == 'l' || name[0] == 'L')) ||
		bytes.EqualFold(name, []byte("Content-Length"))
}

func parseContentLength(v []byte, limit int) (int, error) {
	v = bytes.Trim(v, " \t")
	if len(v) == 0 {
		return 0, fmt.Errorf("%w: empty Content-Length", ErrMalformed)
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: Content-Length %.20q is not a number", ErrMalformed, v)
		}
		n = n*10 + int(c-'0')
		if n > limit {
			return 0, fmt.Errorf("%w: Content-Length %.20s exceeds %d", ErrMessageTooLarge, v, limit)
		}
	}
	return n, nil
}
