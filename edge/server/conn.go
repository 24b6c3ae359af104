package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/sip"
	"github.com/sipws/sipws/edge/tlsrec"
	"github.com/sipws/sipws/edge/ws"
)

// Close states of a conn.
const (
	stateOpen     int32 = iota
	stateCloseReq       // a close was requested; the reader sends the close frame
	stateClosing        // close frame sent; waiting for the client's close or EOF
	stateForce          // closing took too long or the socket broke; the reader ends it
	stateClosed         // socket closed and unregistered
)

// closeTimeout is how long a closing flow waits for the client's close frame.
const closeTimeout = 2 * time.Second

var (
	errConnClosed = errors.New("flow closed")
	errQueueFull  = errors.New("send queue full")
)

// conn is one upgraded WebSocket connection (a flow). An idle conn holds no goroutine and no
// buffer: read scratch space belongs to the worker reading it, partial input is kept only while
// a frame or record is incomplete, and the send queue exists only while the socket is full.
//
// Two I/O modes: fd >= 0 is a socket in the poller, read by workers (WS and TLS 1.3 WSS with a
// detached record layer); stream != nil is a crypto/tls connection (TLS 1.2 clients) served by
// a goroutine, the compatibility path.
type conn struct {
	srv *Server
	ln  *listener

	fd     int
	tls    *tlsrec.State // detached TLS 1.3 record layer; nil for WS
	stream net.Conn      // TLS 1.2 fallback
	wake   chan struct{} // stream mode: wakes the writer goroutine

	token  string
	remote string
	origin string
	addr   netip.Addr

	sched    atomic.Int32 // 0 idle, 1 queued or running, 2 running and more work arrived
	hup      atomic.Bool  // the poller saw a hang-up or error: read to the EOF
	state    atomic.Int32
	lastRead atomic.Int64 // unix nanoseconds of the last frame received
	lastPing atomic.Int64
	closedAt atomic.Int64 // when the close frame was sent

	// Write side, guarded by wmu: frames are built, encrypted (sequence numbers!) and written
	// in one critical section so records leave in order.
	wmu    sync.Mutex
	wq     []byte
	closed bool
	// finishAfterFlush: the client closed while frames were queued; the flow ends when the
	// queue is out.
	finishAfterFlush bool
	closeCode        uint16
	closeReason      string

	// Read side, owned by the one worker (or goroutine) reading the conn.
	pendingRaw   []byte  // partial TLS record
	pendingPlain []byte  // partial WebSocket frame
	frag         []byte  // fragmented message being reassembled
	rateAt       int64   // unix nanoseconds the request bucket was last filled; 0: full
	rateTokens   float32 // request token bucket (limits messagesPerSecond, messageBurst)
	limitedRun   uint32  // requests refused in a row by the message rate limit
	fragOp       byte
	invalidRun   uint8
}

// scratch is per-worker read space, reused across conns.
type scratch struct {
	raw   []byte
	plain []byte
	in    []byte
}

func newScratch() *scratch {
	return &scratch{raw: make([]byte, 64<<10), plain: make([]byte, 0, 64<<10), in: make([]byte, 0, 32<<10)}
}

// requestClose asks the reader to close the flow with code and reason. The first request wins.
func (c *conn) requestClose(code uint16, reason string) {
	c.wmu.Lock()
	if c.closeCode == 0 {
		c.closeCode, c.closeReason = code, reason
	}
	c.wmu.Unlock()
	c.state.CompareAndSwap(stateOpen, stateCloseReq)
	c.kick()
}

// force ends the flow without waiting any longer for the client.
func (c *conn) force() {
	for {
		st := c.state.Load()
		if st >= stateForce || c.state.CompareAndSwap(st, stateForce) {
			break
		}
	}
	c.kick()
}

// kick makes the reader look at the conn: a worker for poller conns, a read deadline for
// stream conns.
func (c *conn) kick() {
	if c.stream != nil {
		_ = c.stream.SetReadDeadline(time.Now())
		return
	}
	c.srv.schedule(c)
}

// serviceTurn runs in a worker: it carries out close requests and reads until the socket would
// block. It returns false when the conn was closed for good.
func (c *conn) serviceTurn(w *scratch) bool {
	if !c.checkClose() {
		return false
	}
	for range 32 {
		n, err := unix.Read(c.fd, w.raw)
		if n > 0 {
			if !c.feed(w, w.raw[:n]) && (!c.checkClose() || c.state.Load() == stateClosed) {
				return false
			}
			// A short read drained the socket: bytes arriving later raise a new edge, so the
			// read that would only say EAGAIN is skipped (one syscall per message less). Not
			// after a hang-up, which is reported once: then read on to the EOF.
			if n < len(w.raw) && !c.hup.Load() && c.state.Load() == stateOpen {
				return c.checkClose()
			}
			// Closing: keep reading, the client's close frame may already be here.
			continue
		}
		switch {
		case err == unix.EAGAIN:
			return c.checkClose()
		case err == unix.EINTR:
			continue
		case err == nil: // EOF
			c.finish(ws.CloseNoStatus, "peer", "eof")
			return false
		default:
			c.finish(ws.CloseNoStatus, "peer", "read error: "+err.Error())
			return false
		}
	}
	// More to read: let other conns have the worker first.
	c.srv.requeue(c)
	return true
}

// checkClose acts on the close state; false means the conn is gone.
func (c *conn) checkClose() bool {
	switch c.state.Load() {
	case stateCloseReq:
		c.sendClose()
		return true
	case stateForce:
		c.wmu.Lock()
		code := c.closeCode
		c.wmu.Unlock()
		c.finish(code, "server", "close timeout")
		return false
	case stateClosed:
		return false
	}
	return true
}

// sendClose writes the close frame and moves to the closing state.
func (c *conn) sendClose() {
	if !c.state.CompareAndSwap(stateCloseReq, stateClosing) {
		return
	}
	c.closedAt.Store(time.Now().UnixNano())
	c.wmu.Lock()
	code, reason := c.closeCode, c.closeReason
	var frame [128]byte
	err := c.writeLocked(ws.AppendClose(frame[:0], code, reason))
	c.wmu.Unlock()
	c.srv.m.closed(code, "server")
	if err != nil {
		c.force()
	}
}

// feed handles bytes read from the socket; false when the conn must stop reading.
func (c *conn) feed(w *scratch, raw []byte) bool {
	if c.tls == nil {
		return c.feedPlain(w, raw)
	}
	in := raw
	if c.pendingRaw != nil {
		w.in = append(append(w.in[:0], c.pendingRaw...), raw...)
		in, c.pendingRaw = w.in, nil
	}
	plain, used, ev, err := c.tls.Open(w.plain[:0], in)
	w.plain = plain[:0]
	if used < len(in) {
		c.pendingRaw = append([]byte(nil), in[used:]...)
	}
	if ev.KeyUpdateRequested {
		c.wmu.Lock()
		if !c.closed {
			var rec [64]byte
			_ = c.writeLocked(c.tls.SealKeyUpdate(rec[:0]))
		}
		c.wmu.Unlock()
	}
	ok := len(plain) == 0 || c.feedPlain(w, plain)
	if err != nil || ev.CloseNotify {
		if ok {
			reason := "close_notify"
			if err != nil {
				reason = "tls: " + err.Error()
			}
			c.finish(ws.CloseNoStatus, "peer", reason)
		}
		return false
	}
	return ok
}

// feedPlain parses WebSocket frames from plaintext bytes.
func (c *conn) feedPlain(w *scratch, p []byte) bool {
	if c.pendingPlain != nil {
		buf := append(c.pendingPlain, p...)
		c.pendingPlain = nil
		p = buf
	}
	max := c.ln.limits().MaxMessageBytes
	off := 0
	for off < len(p) {
		f, n, err := ws.ParseFrame(p[off:], max)
		if err != nil {
			code := ws.CloseProtocolError
			if errors.Is(err, ws.ErrTooBig) {
				code = ws.CloseTooBig
			}
			c.fail(code, err.Error())
			return false
		}
		if n == 0 {
			break
		}
		off += n
		if !c.frame(w, f) {
			return false
		}
	}
	if off < len(p) {
		c.pendingPlain = append([]byte(nil), p[off:]...)
	}
	return true
}

// fail closes the flow after a protocol violation by the client.
func (c *conn) fail(code uint16, reason string) {
	c.requestClose(code, reason)
	c.sendClose()
}

func (c *conn) frame(w *scratch, f ws.Frame) bool {
	c.lastRead.Store(time.Now().UnixNano())
	if st := c.state.Load(); st >= stateClosing {
		// After our close frame only the client's close matters (RFC 6455 §5.5.1).
		if f.Op == ws.OpClose {
			c.finish(c.closeCodeNow(), "server", "close acknowledged")
			return false
		}
		return true
	}
	lm := c.ln.m
	switch f.Op {
	case ws.OpPing:
		lm.pingRecv.Inc()
		c.write(ws.OpPong, f.Payload)
		return true
	case ws.OpPong:
		lm.pongRecv.Inc()
		return true
	case ws.OpClose:
		code, _, err := ws.ParseClose(f.Payload)
		if err != nil {
			c.fail(ws.CloseProtocolError, err.Error())
			return false
		}
		reply := code
		if reply == ws.CloseNoStatus {
			reply = ws.CloseNormal
		}
		var frame [16]byte
		c.wmu.Lock()
		_ = c.writeLocked(ws.AppendClose(frame[:0], reply, ""))
		backlog := c.fd >= 0 && len(c.wq) > 0
		if backlog {
			// Frames are still queued ahead of our reply: finish once they are out (or
			// after closeTimeout), rather than cut a frame in half.
			c.finishAfterFlush = true
			c.closeCode = code
		}
		c.wmu.Unlock()
		if backlog {
			c.srv.m.closed(code, "peer")
			c.closedAt.Store(time.Now().UnixNano())
			c.state.Store(stateClosing)
			return false
		}
		c.finish(code, "peer", "client closed")
		return false
	case ws.OpText, ws.OpBinary:
		if c.frag != nil {
			c.fail(ws.CloseProtocolError, "new message inside a fragmented message")
			return false
		}
		if f.Fin {
			return c.message(w, f.Op, f.Payload)
		}
		c.frag, c.fragOp = append([]byte(nil), f.Payload...), f.Op
		return true
	default: // continuation
		if c.frag == nil {
			c.fail(ws.CloseProtocolError, "continuation without a message")
			return false
		}
		if len(c.frag)+len(f.Payload) > c.ln.limits().MaxMessageBytes {
			c.frag = nil
			c.fail(ws.CloseTooBig, "message too big")
			return false
		}
		c.frag = append(c.frag, f.Payload...)
		if !f.Fin {
			return true
		}
		msg, op := c.frag, c.fragOp
		c.frag = nil
		return c.message(w, op, msg)
	}
}

func (c *conn) closeCodeNow() uint16 {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.closeCode
}

// message handles one complete WebSocket message: keep-alive, SIP check, publish.
func (c *conn) message(w *scratch, op byte, msg []byte) bool {
	lm := c.ln.m
	lm.bytesIn.Add(float64(len(msg)))
	if op == ws.OpText && !utf8.Valid(msg) {
		c.fail(ws.CloseInvalidPayload, "text message is not UTF-8")
		return false
	}
	if sip.IsKeepAlive(msg) {
		lm.keepCRLF.Inc()
		c.write(ws.OpText, crlf)
		return true
	}
	if onlyCRLF(msg) {
		return true // a client's pong to CRLF pings, or stray line ends: nothing to relay
	}
	info, err := sip.Check(msg)
	if err != nil {
		if errors.Is(err, sip.ErrStartLine) || errors.Is(err, sip.ErrEmpty) || errors.Is(err, sip.ErrVersion) {
			lm.invalidStart.Inc()
		} else {
			lm.invalidOther.Inc()
		}
		c.invalidRun++
		if int(c.invalidRun) >= c.ln.limits().MaxInvalidMessages {
			c.fail(ws.ClosePolicyViolation, "not SIP: "+err.Error())
			return false
		}
		return true
	}
	c.invalidRun = 0
	if info.Request {
		lim := c.ln.limits()
		if wait, ok := c.admit(lim, c.lastRead.Load()); !ok {
			return c.rateLimited(lim, info, msg, wait)
		}
	}
	if err := c.srv.publish(c, msg); err != nil {
		c.srv.m.publishErrors.Inc()
		if info.Request && string(info.Method) != "ACK" {
			if resp, rerr := sip.Response(msg, 503, "Service Unavailable", retryAfter); rerr == nil {
				c.srv.m.unavailable.Inc()
				c.write(ws.OpText, resp)
			}
		}
		return true
	}
	lm.msgIn.Inc()
	return true
}

var crlf = []byte("\r\n")

// admit takes a token from the flow's request bucket, refilled at lim.MessagesPerSecond up to
// lim.MessageBurst since the last request; now is the arrival of the frame being handled. When
// the bucket is empty it reports how long until the next token.
func (c *conn) admit(lim *config.Limits, now int64) (wait time.Duration, ok bool) {
	rate, burst := lim.MessagesPerSecond, float64(lim.MessageBurst)
	t := burst
	if c.rateAt == 0 {
		c.rateAt = now
	} else {
		t = float64(c.rateTokens)
		if d := now - c.rateAt; d > 0 { // a reading from the past adds nothing
			t = min(t+float64(d)/float64(time.Second)*rate, burst)
			c.rateAt = now
		}
	}
	if t >= 1 {
		c.rateTokens = float32(t - 1)
		c.limitedRun = 0
		return 0, true
	}
	c.rateTokens = float32(t)
	return time.Duration(min((1-t)/rate, maxRetryAfter) * float64(time.Second)), false
}

// maxRetryAfter bounds the wait a 503 announces (seconds), whatever the configured rate.
const maxRetryAfter = 86400

// rateLimited answers a request over the flow's rate: 503 with Retry-After (an ACK, which has
// no response, is dropped). A flow that ignores as many refusals in a row as its burst is
// closed: a flood then costs one WebSocket read each, not a relay to the router.
func (c *conn) rateLimited(lim *config.Limits, info sip.Message, msg []byte, wait time.Duration) bool {
	lm := c.ln.m
	c.limitedRun++
	if int64(c.limitedRun) > int64(lim.MessageBurst) {
		lm.rateClosed.Inc()
		c.fail(ws.ClosePolicyViolation, "message rate exceeded")
		return false
	}
	if string(info.Method) == "ACK" {
		lm.rateDropped.Inc()
		return true
	}
	secs := max(1, int64((wait+time.Second-1)/time.Second))
	resp, err := sip.Response(msg, 503, "Service Unavailable", "Retry-After: "+strconv.FormatInt(secs, 10))
	if err != nil {
		return true
	}
	lm.rateRefused.Inc()
	c.write(ws.OpText, resp)
	return true
}

// retryAfter is sent with the edge's own 503 when NATS is unreachable: nats.go retries every
// second, so a client may try again soon.
const retryAfter = "Retry-After: 5"

func onlyCRLF(b []byte) bool {
	for _, x := range b {
		if x != '\r' && x != '\n' {
			return false
		}
	}
	return len(b) > 0
}

// write sends one message frame; a full send queue closes the flow.
func (c *conn) write(op byte, payload []byte) error {
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return errConnClosed
	}
	var stack [2048]byte
	buf := stack[:0]
	if ws.FrameSize(len(payload)) > len(stack) {
		buf = make([]byte, 0, ws.FrameSize(len(payload)))
	}
	frame := ws.AppendFrame(buf, op, payload)
	err := c.writeLocked(frame)
	c.wmu.Unlock()
	if err != nil {
		if errors.Is(err, errQueueFull) {
			c.ln.m.queueDrops.Inc()
			c.requestClose(ws.ClosePolicyViolation, "send queue full")
		} else if !errors.Is(err, errConnClosed) {
			c.force()
		}
		return err
	}
	if op == ws.OpText || op == ws.OpBinary {
		c.ln.m.msgOut.Inc()
		c.ln.m.bytesOut.Add(float64(len(payload)))
	}
	return nil
}

// writeLocked encrypts (WSS) and writes frame bytes, queueing what the socket does not take.
func (c *conn) writeLocked(frame []byte) error {
	if c.closed {
		return errConnClosed
	}
	out := frame
	if c.tls != nil {
		var stack [2048]byte
		buf := stack[:0]
		if need := len(frame) + 64 + 22*(len(frame)/16384); need > len(stack) {
			buf = make([]byte, 0, need)
		}
		out = c.tls.Seal(buf, frame)
	}
	if c.stream != nil {
		return c.enqueue(out, true)
	}
	if len(c.wq) == 0 {
		n, err := unix.Write(c.fd, out)
		if n == len(out) {
			return nil
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return fmt.Errorf("write: %w", err)
		}
		if n > 0 {
			out = out[n:]
		}
	}
	return c.enqueue(out, false)
}

func (c *conn) enqueue(b []byte, wake bool) error {
	if len(c.wq)+len(b) > c.ln.limits().SendQueueBytes {
		return errQueueFull
	}
	c.wq = append(c.wq, b...)
	if wake {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// flush writes queued bytes when the poller reports the socket writable.
func (c *conn) flush() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed || len(c.wq) == 0 {
		return
	}
	n, err := unix.Write(c.fd, c.wq)
	if n > 0 {
		if n == len(c.wq) {
			c.wq = nil // release the queue's memory once the client caught up
		} else {
			c.wq = append(c.wq[:0], c.wq[n:]...)
		}
	}
	if err != nil && err != unix.EAGAIN && err != unix.EINTR || c.wq == nil && c.finishAfterFlush {
		go c.force()
	}
}

// finish closes the socket and forgets the flow. Only the reader calls it.
func (c *conn) finish(code uint16, by, why string) {
	if c.state.Swap(stateClosed) == stateClosed {
		return
	}
	c.wmu.Lock()
	c.closed = true
	if c.stream == nil {
		c.wq = nil
		c.srv.unregisterFD(c.fd)
		unix.Close(c.fd)
	} else {
		// The writer goroutine sends what is still queued (our close reply), in order, and
		// closes the stream; the deadline bounds it when the client does not read.
		_ = c.stream.SetWriteDeadline(time.Now().Add(time.Second))
		close(c.wake)
	}
	c.wmu.Unlock()
	c.pendingRaw, c.pendingPlain, c.frag = nil, nil, nil
	if by == "peer" {
		c.srv.m.closed(code, "peer")
	}
	c.srv.forget(c, why)
}
