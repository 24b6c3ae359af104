package siptransport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// sipMsg builds a request with a correct Content-Length and the given body.
func sipMsg(callID, body string) []byte {
	return fmt.Appendf(nil, "OPTIONS sip:upstream.test SIP/2.0\r\n"+
		"Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-%s\r\n"+
		"From: <sip:router@sipws.test>;tag=1\r\n"+
		"To: <sip:upstream.test>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 OPTIONS\r\n"+
		"Max-Forwards: 70\r\n"+
		"Content-Length: %d\r\n\r\n%s", callID, callID, len(body), body)
}

// sipMsgSize builds a request of exactly n bytes (n must fit the headers).
func sipMsgSize(callID string, n int) []byte {
	head := len(sipMsg(callID, ""))
	body := n - head
	for len(sipMsg(callID, strings.Repeat("x", body))) > n {
		body--
	}
	m := sipMsg(callID, strings.Repeat("x", body))
	for len(m) < n { // the digits of Content-Length may have shrunk
		body++
		m = sipMsg(callID, strings.Repeat("x", body))
	}
	return m
}

type frameResult struct {
	kind frameKind
	msg  string
}

// splitAll feeds in to a splitter in chunks of size chunk (0 = all at once)
// through readFrom and collects every frame until the input is exhausted or
// an error occurs.
func splitAll(in []byte, max, chunk int) (frames []frameResult, rest int, err error) {
	s := newSplitter(max)
	r := &chunkReader{data: in, chunk: chunk}
	for {
		for {
			kind, msg, ferr := s.next()
			if ferr != nil {
				return frames, s.buffered(), ferr
			}
			if kind == frameMore {
				break
			}
			frames = append(frames, frameResult{kind, string(msg)})
		}
		if _, rerr := s.readFrom(r); rerr == io.EOF {
			// one last pass over what the final read may have left
			for {
				kind, msg, ferr := s.next()
				if ferr != nil {
					return frames, s.buffered(), ferr
				}
				if kind == frameMore {
					return frames, s.buffered(), nil
				}
				frames = append(frames, frameResult{kind, string(msg)})
			}
		}
	}
}

// chunkReader returns data at most chunk bytes per Read (0: unlimited).
type chunkReader struct {
	data  []byte
	chunk int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if r.chunk > 0 && n > r.chunk {
		n = r.chunk
	}
	n = copy(p, r.data[:min(n, len(r.data))])
	r.data = r.data[n:]
	return n, nil
}

func TestSplitter(t *testing.T) {
	m1 := string(sipMsg("a", ""))
	m2 := string(sipMsg("b", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"))
	resp := "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP x;branch=z9hG4bK1\r\nl: 3\r\n\r\nabc"
	msg := func(s string) frameResult { return frameResult{frameMessage, s} }
	ka := frameResult{kind: frameKeepAlive}

	tests := []struct {
		name   string
		in     string
		max    int
		want   []frameResult
		rest   int
		errIs  error
		chunks []int // chunk sizes to try besides all-at-once
	}{
		{name: "one message", in: m1, want: []frameResult{msg(m1)}},
		{name: "two messages in one write", in: m1 + m2, want: []frameResult{msg(m1), msg(m2)}},
		{name: "leading CRLFs skipped", in: "\r\n" + m1 + "\r\n" + m2, want: []frameResult{msg(m1), msg(m2)}},
		{name: "bare LF skipped", in: "\n" + m1, want: []frameResult{msg(m1)}},
		{name: "keep-alive ping", in: "\r\n\r\n", want: []frameResult{ka}},
		{name: "two pings and a message", in: "\r\n\r\n\r\n\r\n" + m1, want: []frameResult{ka, ka, msg(m1)}},
		{name: "ping after message", in: m1 + "\r\n\r\n", want: []frameResult{msg(m1), ka}},
		{name: "lone CRLF waits (pong or half a ping)", in: "\r\n", rest: 2},
		{name: "incomplete body waits", in: m2[:len(m2)-3], rest: len(m2) - 3},
		{name: "incomplete headers wait", in: m1[:40], rest: 40},
		{name: "compact l and response", in: resp, want: []frameResult{msg(resp)}},
		{name: "lower-case header, spaces before colon", in: "SIP/2.0 100 Trying\r\ncontent-length  :  0 \r\n\r\n",
			want: []frameResult{msg("SIP/2.0 100 Trying\r\ncontent-length  :  0 \r\n\r\n")}},
		{name: "folded Content-Length", in: "SIP/2.0 100 Trying\r\nContent-Length:\r\n  2\r\n\r\nok",
			want: []frameResult{msg("SIP/2.0 100 Trying\r\nContent-Length:\r\n  2\r\n\r\nok")}},
		{name: "bare LF line ends", in: "SIP/2.0 100 Trying\nl: 0\n\n", want: []frameResult{msg("SIP/2.0 100 Trying\nl: 0\n\n")}},
		{name: "no Content-Length", in: "SIP/2.0 200 OK\r\nVia: x\r\n\r\n", errIs: ErrNoContentLength},
		{name: "no Content-Length after a good message", in: m1 + "SIP/2.0 200 OK\r\n\r\n",
			want: []frameResult{msg(m1)}, errIs: ErrNoContentLength},
		{name: "conflicting Content-Length", in: "SIP/2.0 200 OK\r\nl: 1\r\nContent-Length: 2\r\n\r\nab", errIs: ErrMalformed},
		{name: "bad Content-Length", in: "SIP/2.0 200 OK\r\nl: -1\r\n\r\n", errIs: ErrMalformed},
		{name: "not SIP", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", errIs: ErrMalformed},
		{name: "header without colon is left to the parser", in: "SIP/2.0 200 OK\r\nbogus\r\nl: 0\r\n\r\n",
			want: []frameResult{msg("SIP/2.0 200 OK\r\nbogus\r\nl: 0\r\n\r\n")}},
		{name: "body over limit", in: "SIP/2.0 200 OK\r\nl: 5000\r\n\r\n", max: 1024, errIs: ErrMessageTooLarge},
		{name: "headers over limit", in: "SIP/2.0 200 OK\r\nX: " + strings.Repeat("y", 2000), max: 1024, errIs: ErrMessageTooLarge},
		{name: "exactly the limit", in: m1, max: len(m1), want: []frameResult{msg(m1)}},
		{name: "one over the limit", in: m1, max: len(m1) - 1, errIs: ErrMessageTooLarge},
		{name: "huge Content-Length", in: "SIP/2.0 200 OK\r\nl: 99999999999999999999999\r\n\r\n", errIs: ErrMessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = DefaultMaxMessageBytes
			}
			for _, chunk := range []int{0, 1, 2, 3, 7, 64} {
				frames, rest, err := splitAll([]byte(tt.in), max, chunk)
				if tt.errIs != nil {
					if !errors.Is(err, tt.errIs) {
						t.Fatalf("chunk %d: err = %v, want %v", chunk, err, tt.errIs)
					}
				} else if err != nil {
					t.Fatalf("chunk %d: unexpected error %v", chunk, err)
				} else if rest != tt.rest {
					t.Errorf("chunk %d: %d bytes left buffered, want %d", chunk, rest, tt.rest)
				}
				if len(frames) != len(tt.want) {
					t.Fatalf("chunk %d: got %d frames %q, want %d", chunk, len(frames), frames, len(tt.want))
				}
				for i := range frames {
					if frames[i] != tt.want[i] {
						t.Errorf("chunk %d: frame %d = %+v, want %+v", chunk, i, frames[i], tt.want[i])
					}
				}
			}
		})
	}
}

// TestSplitterManyMessagesBufferReuse pushes many messages of mixed sizes
// through readFrom in odd chunk sizes (buffer growth, compaction, release).
func TestSplitterManyMessagesBufferReuse(t *testing.T) {
	var in []byte
	var want []string
	for i := range 200 {
		m := sipMsg(fmt.Sprint(i), strings.Repeat("b", (i*997)%9000))
		in = append(in, m...)
		want = append(want, string(m))
	}
	for _, chunk := range []int{0, 1000, 4093, 70000} {
		frames, rest, err := splitAll(in, DefaultMaxMessageBytes, chunk)
		if err != nil || rest != 0 || len(frames) != len(want) {
			t.Fatalf("chunk %d: %d frames, rest %d, err %v", chunk, len(frames), rest, err)
		}
		for i, f := range frames {
			if f.msg != want[i] {
				t.Fatalf("chunk %d: message %d differs", chunk, i)
			}
		}
	}
}

func FuzzFrame(f *testing.F) {
	f.Add(sipMsg("a", "body"), uint8(0))
	f.Add(append(append([]byte("\r\n\r\n\r\n"), sipMsg("a", "")...), sipMsg("b", "xy")...), uint8(3))
	f.Add([]byte("SIP/2.0 200 OK\r\nl: 3\r\n\r\nabc\r\n\r\nSIP/2.0 200 OK\r\n\r\n"), uint8(1))
	f.Add([]byte("SIP/2.0 200 OK\nContent-Length:\n 4\n\nabcd\r"), uint8(5))
	f.Add([]byte("\r\n\rX SIP/2.0\r\nl:0\r\n\r\n"), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		const max = 300
		// Reference: the whole input at once, checked against the input.
		s := newSplitter(max)
		s.feed(in)
		var whole []frameResult
		var wholeErr error
		prev := int64(0)
		for {
			kind, msg, err := s.next()
			if err != nil {
				wholeErr = err
				break
			}
			if kind == frameMore {
				break
			}
			cur := s.consumed
			if cur <= prev || cur > int64(len(in)) {
				t.Fatalf("consumed went from %d to %d (input %d)", prev, cur, len(in))
			}
			start := cur
			switch kind {
			case frameMessage:
				if len(msg) == 0 || len(msg) > max {
					t.Fatalf("message of %d bytes (limit %d)", len(msg), max)
				}
				start = cur - int64(len(msg))
				if !bytes.Equal(in[start:cur], msg) {
					t.Fatalf("message is not the input at %d:%d", start, cur)
				}
			case frameKeepAlive:
				start = cur - 4
				if string(in[start:cur]) != "\r\n\r\n" {
					t.Fatalf("keep-alive at %d is %q", start, in[start:cur])
				}
			}
			if start < prev {
				t.Fatalf("frame starts at %d before the end of the previous one (%d)", start, prev)
			}
			for _, c := range in[prev:start] {
				if c != '\r' && c != '\n' {
					t.Fatalf("skipped a non-CRLF byte %q between %d and %d", c, prev, start)
				}
			}
			whole = append(whole, frameResult{kind, string(msg)})
			prev = cur
		}
		if wholeErr == nil {
			if got := s.consumed + int64(s.buffered()); got != int64(len(in)) {
				t.Fatalf("consumed %d + buffered %d != input %d", s.consumed, s.buffered(), len(in))
			}
			if s.buffered() > max+1 {
				t.Fatalf("%d bytes buffered over the limit %d", s.buffered(), max)
			}
		}
		// The same input in chunks through readFrom gives the same frames.
		frames, _, err := splitAll(in, max, int(chunk)+1)
		if (err != nil) != (wholeErr != nil) {
			t.Fatalf("chunked err %v, whole err %v", err, wholeErr)
		}
		if len(frames) != len(whole) {
			t.Fatalf("chunked gives %d frames, whole %d", len(frames), len(whole))
		}
		for i := range frames {
			if frames[i] != whole[i] {
				t.Fatalf("frame %d differs between chunked and whole input", i)
			}
		}
	})
}

func BenchmarkSplitter(b *testing.B) {
	var stream []byte
	n := 0
	for i := 0; len(stream) < 1<<20; i++ {
		stream = append(stream, sipMsgSize(fmt.Sprint(i), 600)...)
		n++
	}
	for _, chunk := range []int{1460, 16 << 10} {
		b.Run(fmt.Sprintf("600B/read%d", chunk), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(stream)))
			for b.Loop() {
				s := newSplitter(DefaultMaxMessageBytes)
				r := &chunkReader{data: stream, chunk: chunk}
				got := 0
				for {
					if _, err := s.readFrom(r); err != nil {
						break
					}
					for {
						kind, _, err := s.next()
						if err != nil {
							b.Fatal(err)
						}
						if kind == frameMore {
							break
						}
						got++
					}
				}
				if got != n {
					b.Fatalf("got %d messages, want %d", got, n)
				}
			}
		})
	}
}
